//! creationPolicy and deletionPolicy, as ESO documents them.
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde_json::json;

use crate::harness::*;

fn spec(creation: &str, deletion: &str, keys: &[&str]) -> serde_json::Value {
    let data: Vec<_> = keys.iter().map(|k| json!({"secretKey": k, "remoteRef": {"key": format!("/{k}")}})).collect();
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "store"},
        "target": {"name": "target", "creationPolicy": creation, "deletionPolicy": deletion},
        "data": data,
    })
}

async fn existing_secret(scene: &Scene, data: &[(&str, &str)]) {
    let secret = Secret {
        metadata: ObjectMeta { name: Some("target".into()), ..Default::default() },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
        ..Default::default()
    };
    scene.secrets().create(&PostParams::default(), &secret).await.unwrap();
}

async fn gone(scene: &Scene, name: &str) -> bool {
    eventually(Duration::from_secs(30), || async { scene.secret(name).await.is_none() }).await
}

#[tokio::test]
async fn owner_secrets_are_garbage_collected_with_their_externalsecret_and_orphans_stay() {
    let scene = Scene::new("pol-gc").await;
    scene.fake_store("store", &[("/a", "1")]).await;
    let sesame = scene.sesame();
    let mut orphan = spec("Orphan", "Retain", &["a"]);
    orphan["target"]["name"] = "orphan-target".into();
    scene.external_secret("owned", spec("Owner", "Retain", &["a"])).await;
    scene.external_secret("orphan", orphan).await;
    wait_secret_data(&scene, &sesame, "target", &map(&[("a", "1")])).await;
    let kept = wait_secret_data(&scene, &sesame, "orphan-target", &map(&[("a", "1")])).await;
    assert!(kept.owner_references().is_empty(), "Orphan targets have no owner");

    scene.externalsecrets().delete("owned", &DeleteParams::default()).await.unwrap();
    scene.externalsecrets().delete("orphan", &DeleteParams::default()).await.unwrap();
    assert!(gone(&scene, "target").await, "the Owner target was not garbage-collected");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(scene.secret_data("orphan-target").await, Some(map(&[("a", "1")])), "the Orphan target must stay");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn merge_writes_into_an_existing_secret_and_keeps_foreign_keys() {
    let scene = Scene::new("pol-merge").await;
    scene.fake_store("store", &[("/a", "1")]).await;
    let sesame = scene.sesame();
    let mut merge = spec("Merge", "Retain", &["a"]);
    // A missing Merge target is noticed on the next refresh, not by a watch (as ESO).
    merge["refreshInterval"] = "2s".into();
    scene.external_secret("es", merge).await;
    scene.wait_ready(&sesame, "es", "True", "SecretMissing").await;
    assert!(scene.secret("target").await.is_none(), "Merge never creates the Secret");

    existing_secret(&scene, &[("theirs", "x")]).await;
    let merged = wait_secret_data(&scene, &sesame, "target", &map(&[("a", "1"), ("theirs", "x")])).await;
    assert!(merged.owner_references().is_empty());
    scene.delete_namespace().await;
}

#[tokio::test]
async fn creation_policy_none_writes_nothing() {
    let scene = Scene::new("pol-none").await;
    scene.fake_store("store", &[("/a", "1")]).await;
    let sesame = scene.sesame();
    scene.external_secret("es", spec("None", "Retain", &["a"])).await;
    scene.wait_ready(&sesame, "es", "True", "SecretSynced").await;
    assert!(scene.secret("target").await.is_none());
    scene.delete_namespace().await;
}

#[tokio::test]
async fn an_existing_unmanaged_secret_is_not_taken_over() {
    let scene = Scene::new("pol-takeover").await;
    scene.fake_store("store", &[("/a", "1")]).await;
    existing_secret(&scene, &[("mine", "precious")]).await;
    let sesame = scene.sesame();
    scene.external_secret("es", spec("Owner", "Retain", &["a"])).await;
    scene.wait_ready(&sesame, "es", "False", "SecretSyncedError").await;
    // The first failure may be the store's validation still pending; the refusal follows.
    let refused = eventually(Duration::from_secs(30), || async {
        ready_condition(&scene.es("es").await).is_some_and(|(_, _, message)| message.contains("not managed"))
    })
    .await;
    assert!(refused, "{:?}", ready_condition(&scene.es("es").await));
    assert_eq!(scene.secret_data("target").await, Some(map(&[("mine", "precious")])));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn deletion_policy_retain_keeps_the_secret_and_reports_the_missing_key() {
    let scene = Scene::new("pol-retain").await;
    scene.fake_store("store", &[("/a", "1")]).await;
    let sesame = scene.sesame();
    scene.external_secret("es", spec("Owner", "Retain", &["a"])).await;
    wait_secret_data(&scene, &sesame, "target", &map(&[("a", "1")])).await;
    scene.fake_store("store", &[]).await;
    let es = scene.wait_ready(&sesame, "es", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("not found"));
    assert_eq!(scene.secret_data("target").await, Some(map(&[("a", "1")])), "an error never empties a Secret");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn deletion_policy_delete_removes_the_secret_when_the_provider_has_nothing_left() {
    let scene = Scene::new("pol-delete").await;
    scene.fake_store("store", &[("/a", "1"), ("/b", "2")]).await;
    let sesame = scene.sesame();
    scene.external_secret("es", spec("Owner", "Delete", &["a", "b"])).await;
    wait_secret_data(&scene, &sesame, "target", &map(&[("a", "1"), ("b", "2")])).await;
    // One key gone: the other stays.
    scene.fake_store("store", &[("/b", "2")]).await;
    wait_secret_data(&scene, &sesame, "target", &map(&[("b", "2")])).await;
    // Nothing left: the Secret is deleted.
    scene.fake_store("store", &[]).await;
    scene.wait_ready(&sesame, "es", "True", "SecretDeleted").await;
    assert!(gone(&scene, "target").await);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn deletion_policy_merge_drops_only_the_missing_keys() {
    let scene = Scene::new("pol-dmerge").await;
    scene.fake_store("store", &[("/a", "1"), ("/b", "2")]).await;
    let sesame = scene.sesame();
    scene.external_secret("es", spec("Owner", "Merge", &["a", "b"])).await;
    wait_secret_data(&scene, &sesame, "target", &map(&[("a", "1"), ("b", "2")])).await;
    scene.fake_store("store", &[("/a", "1")]).await;
    wait_secret_data(&scene, &sesame, "target", &map(&[("a", "1")])).await;
    scene.fake_store("store", &[]).await;
    wait_secret_data(&scene, &sesame, "target", &map(&[])).await;
    scene.wait_ready(&sesame, "es", "True", "SecretSynced").await;
    scene.delete_namespace().await;
}
