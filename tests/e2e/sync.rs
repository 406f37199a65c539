//! The core sync loop: create, follow changes, refresh policies, force-sync, drift repair.
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn an_externalsecret_becomes_a_secret_with_exact_data_labels_annotation_and_owner() {
    let scene = Scene::new("sync-create").await;
    scene.fake_store("store", &[("/db", r#"{"user":"app","pass":"p@ss"}"#), ("/token", "t0k")]).await;
    let sesame = scene.sesame();
    scene
        .external_secret(
            "app",
            json!({
                "secretStoreRef": {"name": "store", "kind": "SecretStore"},
                "target": {"name": "app-secret"},
                "data": [
                    {"secretKey": "password", "remoteRef": {"key": "/db", "property": "pass"}},
                    {"secretKey": "token", "remoteRef": {"key": "/token"}},
                ],
            }),
        )
        .await;
    let es = scene.wait_ready(&sesame, "app", "True", "SecretSynced").await;
    let secret = wait_secret_data(&scene, &sesame, "app-secret", &map(&[("password", "p@ss"), ("token", "t0k")])).await;

    assert_eq!(secret.labels().get("reconcile.external-secrets.io/managed").map(String::as_str), Some("true"));
    assert!(secret.annotations().contains_key("reconcile.external-secrets.io/data-hash"));
    let owner = &secret.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("ExternalSecret", "app", Some(true)));
    assert_eq!(Some(&owner.uid), es.uid().as_ref());
    let status = es.status.unwrap();
    assert!(status.refresh_time.is_some());
    assert_eq!(status.binding.unwrap().name, "app-secret");
    assert!(status.synced_resource_version.unwrap().starts_with("1-"));
    let created = |(t, r, _): &(String, String, String)| t == "Normal" && r == "Created";
    let events = events_with(&scene.client, &scene.ns, "app", created).await;
    assert!(events.iter().any(created), "{events:?}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_value_changed_in_the_store_reaches_the_secret() {
    let scene = Scene::new("sync-change").await;
    scene.fake_store("store", &[("/k", "v1")]).await;
    let sesame = scene.sesame();
    scene
        .external_secret(
            "app",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "store"},
                "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
            }),
        )
        .await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v1")])).await;
    // A store change re-queues the ExternalSecrets that use it: no wait for the 1h interval.
    scene.fake_store("store", &[("/k", "v2")]).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v2")])).await;
    scene.delete_namespace().await;
}

fn store_calls(metrics: &str) -> f64 {
    sample(metrics, "sesame_store_provider_calls_total{", &[])
}

#[tokio::test]
async fn refresh_interval_zero_syncs_once_and_force_sync_fetches_again() {
    let scene = Scene::new("sync-once").await;
    scene.fake_store("store", &[("/k", "v1")]).await;
    let sesame = scene.sesame();
    let spec = json!({
        "refreshInterval": "0",
        "secretStoreRef": {"name": "store"},
        "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
    });
    scene.external_secret("app", spec.clone()).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v1")])).await;
    // The status is written after the Secret.
    let first = scene.wait_ready(&sesame, "app", "True", "SecretSynced").await.status.unwrap().refresh_time;
    let calls = store_calls(&sesame.get("/metrics").await.unwrap().1);
    assert_eq!(calls, 1.0, "one provider call for the first sync");

    // Something unrelated wakes the object up (a label on its Secret): no provider call.
    let patch = json!({"metadata": {"labels": {"touched": "yes"}}});
    scene.secrets().patch("app", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(store_calls(&sesame.get("/metrics").await.unwrap().1), 1.0, "interval 0 must not refetch");
    assert_eq!(scene.es("app").await.status.unwrap().refresh_time, first);

    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("app", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let refetched = eventually(Duration::from_secs(20), || async { store_calls(&sesame.get("/metrics").await.unwrap().1) == 2.0 }).await;
    assert!(refetched, "force-sync must fetch again\n{}", tail(&sesame.logs()));
    // A changed store is a change too: its new value arrives without waiting for an interval.
    scene.fake_store("store", &[("/k", "v2")]).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v2")])).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn an_edited_or_deleted_secret_is_restored_within_seconds() {
    let scene = Scene::new("sync-drift").await;
    scene.fake_store("store", &[("/k", "good")]).await;
    let sesame = scene.sesame();
    scene
        .external_secret(
            "app",
            json!({
                "refreshInterval": "24h",
                "secretStoreRef": {"name": "store"},
                "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
            }),
        )
        .await;
    let want = map(&[("k", "good")]);
    wait_secret_data(&scene, &sesame, "app", &want).await;

    // Someone edits the value by hand.
    let patch = json!({"data": {"k": "dGFtcGVyZWQ="}});
    scene.secrets().patch("app", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_secret_data(&scene, &sesame, "app", &want).await;

    // Someone adds a key of their own to an Owner target: it is removed.
    let patch = json!({"data": {"extra": "eA=="}});
    scene.secrets().patch("app", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_secret_data(&scene, &sesame, "app", &want).await;

    // Someone deletes the Secret.
    scene.secrets().delete("app", &DeleteParams::default()).await.unwrap();
    let restored: Secret = wait_secret_data(&scene, &sesame, "app", &want).await;
    assert_eq!(restored.labels().get("reconcile.external-secrets.io/managed").map(String::as_str), Some("true"));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn keys_the_externalsecret_stops_producing_disappear() {
    let scene = Scene::new("sync-keys").await;
    scene.fake_store("store", &[("/a", "1"), ("/b", "2")]).await;
    let sesame = scene.sesame();
    let entry = |k: &str| json!({"secretKey": k, "remoteRef": {"key": format!("/{k}")}});
    scene.external_secret("app", json!({"secretStoreRef": {"name": "store"}, "data": [entry("a"), entry("b")]})).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("a", "1"), ("b", "2")])).await;
    scene.external_secret("app", json!({"secretStoreRef": {"name": "store"}, "data": [entry("a")]})).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("a", "1")])).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn status_is_not_rewritten_when_nothing_changed() {
    let scene = Scene::new("sync-quiet").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    scene
        .external_secret(
            "app",
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}),
        )
        .await;
    scene.wait_ready(&sesame, "app", "True", "SecretSynced").await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v")])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let es_rv = scene.es("app").await.resource_version();
    let secret_rv = scene.secret("app").await.unwrap().resource_version();
    // Touch something sesame watches but that needs no sync: a store status re-validation and
    // an unrelated label on the Secret do not make it write again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(scene.es("app").await.resource_version(), es_rv, "ExternalSecret status was rewritten");
    assert_eq!(scene.secret("app").await.unwrap().resource_version(), secret_rv, "Secret was rewritten");
    scene.delete_namespace().await;
}
