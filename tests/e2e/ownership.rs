//! Who may write a Secret: `CreateOrMerge` (ESO 2.9) creates or merges and keeps the Secret, and
//! a Secret another ExternalSecret writes without an ownerReference (Orphan, Merge,
//! CreateOrMerge) cannot be taken over by a second one in the same namespace.
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::*;

const OWNER: &str = "sesame.external-secrets.io/owner";

fn spec(target: &str, creation: &str, key: &str, remote: &str) -> serde_json::Value {
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "store"},
        "target": {"name": target, "creationPolicy": creation},
        "data": [{"secretKey": key, "remoteRef": {"key": remote}}],
    })
}

async fn unmanaged_secret(scene: &Scene, name: &str, data: &[(&str, &str)]) {
    let secret = Secret {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
        ..Default::default()
    };
    scene.secrets().create(&PostParams::default(), &secret).await.unwrap();
}

/// `<name>/<uid>` of an ExternalSecret, as the owner annotation holds it.
async fn owner_value(scene: &Scene, es: &str) -> String {
    format!("{es}/{}", scene.es(es).await.uid().unwrap())
}

async fn refused(scene: &Scene, sesame: &Sesame, name: &str, needle: &str) {
    let ok = eventually(Duration::from_secs(30), || async {
        ready_condition(&scene.es(name).await).is_some_and(|(s, _, m)| s == "False" && m.contains(needle))
    })
    .await;
    assert!(
        ok,
        "{name}: want Ready=False mentioning {needle:?}, got {:?}\n{}",
        ready_condition(&scene.es(name).await),
        tail(&sesame.logs())
    );
}

#[tokio::test]
async fn create_or_merge_creates_or_merges_without_an_owner_and_keeps_the_secret() {
    let scene = Scene::new("own-com").await;
    scene.fake_store("store", &[("/a", "1")]).await;
    unmanaged_secret(&scene, "existing", &[("theirs", "x")]).await;
    let sesame = scene.sesame();
    scene.external_secret("make", spec("fresh", "CreateOrMerge", "a", "/a")).await;
    scene.external_secret("merge", spec("existing", "CreateOrMerge", "a", "/a")).await;
    scene.external_secret("owned", spec("owned", "Owner", "a", "/a")).await;

    let fresh = wait_secret_data(&scene, &sesame, "fresh", &map(&[("a", "1")])).await;
    let merged = wait_secret_data(&scene, &sesame, "existing", &map(&[("a", "1"), ("theirs", "x")])).await;
    wait_secret_data(&scene, &sesame, "owned", &map(&[("a", "1")])).await;
    for (secret, es) in [(&fresh, "make"), (&merged, "merge")] {
        assert!(secret.owner_references().is_empty(), "CreateOrMerge sets no ownerReference");
        assert_eq!(secret.annotations().get(OWNER), Some(&owner_value(&scene, es).await), "the writer is recorded");
    }

    for es in ["make", "merge", "owned"] {
        scene.externalsecrets().delete(es, &DeleteParams::default()).await.unwrap();
    }
    // Garbage collection has run once the Owner target is gone; the others must still be there.
    let collected = eventually(Duration::from_secs(30), || async { scene.secret("owned").await.is_none() }).await;
    assert!(collected, "the Owner target was never garbage-collected");
    assert_eq!(scene.secret_data("fresh").await, Some(map(&[("a", "1")])), "CreateOrMerge retains the Secret it created");
    assert_eq!(scene.secret_data("existing").await, Some(map(&[("a", "1"), ("theirs", "x")])));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_second_external_secret_cannot_take_over_an_orphan_secret_while_its_owner_exists() {
    let scene = Scene::new("own-takeover").await;
    scene.fake_store("store", &[("/v", "victim-value"), ("/x", "attacker-value")]).await;
    let sesame = scene.sesame();
    scene.external_secret("victim", spec("shared", "Orphan", "k", "/v")).await;
    let before = wait_secret_data(&scene, &sesame, "shared", &map(&[("k", "victim-value")])).await;
    let victim = owner_value(&scene, "victim").await;
    assert_eq!(before.annotations().get(OWNER), Some(&victim));

    // Three attackers in the same namespace: overwrite, merge a key in, merge-or-create.
    scene.external_secret("thief", spec("shared", "Orphan", "k", "/x")).await;
    scene.external_secret("merger", spec("shared", "Merge", "extra", "/x")).await;
    scene.external_secret("creator", spec("shared", "CreateOrMerge", "k", "/x")).await;
    for attacker in ["thief", "merger", "creator"] {
        refused(&scene, &sesame, attacker, "owned by another ExternalSecret (victim)").await;
        let refusal = |(t, _, note): &(String, String, String)| t == "Warning" && note.contains("owned by another ExternalSecret");
        let events = events_with(&scene.client, &scene.ns, attacker, refusal).await;
        assert!(events.iter().any(refusal), "{events:?}");
    }
    let after = scene.secret("shared").await.unwrap();
    assert_eq!(text_data(&after), map(&[("k", "victim-value")]), "the attackers changed the victim's Secret");
    assert_eq!(after.annotations().get(OWNER), Some(&victim));

    // Once its ExternalSecret is gone, an Orphan Secret left behind is free to claim.
    for es in ["victim", "merger", "creator"] {
        scene.externalsecrets().delete(es, &DeleteParams::default()).await.unwrap();
    }
    let deleted = eventually(Duration::from_secs(30), || async {
        let names: Vec<String> =
            scene.externalsecrets().list(&Default::default()).await.unwrap().items.iter().map(|e| e.name_any()).collect();
        names == ["thief"]
    });
    assert!(deleted.await, "the ExternalSecrets were not deleted");
    let force = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("thief", &PatchParams::default(), &Patch::Merge(&force)).await.unwrap();
    let claimed = wait_secret_data(&scene, &sesame, "shared", &map(&[("k", "attacker-value")])).await;
    assert_eq!(claimed.annotations().get(OWNER), Some(&owner_value(&scene, "thief").await));
    scene.delete_namespace().await;
}

/// A target the controller does not list as managed is written by a create-only apply, without
/// reading it first. A Secret of that name that exists after all (unmanaged, or unmanaged and
/// terminating) is left exactly as it was and the takeover check decides, as before; CreateOrMerge
/// still merges into one. The created Secret's keys belong to the ExternalSecret's apply manager.
#[tokio::test]
async fn a_target_not_listed_as_managed_is_created_only_where_no_secret_of_that_name_exists() {
    let scene = Scene::new("own-create").await;
    scene.fake_store("store", &[("/a", "1"), ("/b", "2")]).await;
    unmanaged_secret(&scene, "taken", &[("mine", "precious")]).await;
    unmanaged_secret(&scene, "shared", &[("theirs", "x")]).await;
    let hold = json!({"metadata": {"finalizers": ["example.com/hold"]}});
    unmanaged_secret(&scene, "dying", &[("mine", "last")]).await;
    scene.secrets().patch("dying", &PatchParams::default(), &Patch::Merge(&hold)).await.unwrap();
    scene.secrets().delete("dying", &DeleteParams::default()).await.unwrap();
    let sesame = scene.sesame();
    scene.external_secret("owner", spec("taken", "Owner", "a", "/a")).await;
    scene.external_secret("orphan", spec("dying", "Orphan", "a", "/a")).await;
    scene.external_secret("merge", spec("shared", "CreateOrMerge", "a", "/a")).await;
    scene.external_secret("fresh", spec("fresh", "CreateOrMerge", "a", "/a")).await;

    refused(&scene, &sesame, "owner", "not managed").await;
    refused(&scene, &sesame, "orphan", "not managed").await;
    wait_secret_data(&scene, &sesame, "shared", &map(&[("a", "1"), ("theirs", "x")])).await;
    let fresh = wait_secret_data(&scene, &sesame, "fresh", &map(&[("a", "1")])).await;
    let meta = &fresh.metadata;
    assert!(meta.deletion_timestamp.is_none() && meta.deletion_grace_period_seconds.is_none(), "a live Secret: {meta:?}");
    let created = |(t, r, note): &(String, String, String)| t == "Normal" && r == "Created" && note == "secret created";
    let events = events_with(&scene.client, &scene.ns, "fresh", created).await;
    assert!(events.iter().any(created), "{events:?}");
    for (name, data) in [("taken", [("mine", "precious")]), ("dying", [("mine", "last")])] {
        let secret = scene.secret(name).await.unwrap();
        assert_eq!(text_data(&secret), map(&data), "{name} was written over");
        let managers: Vec<_> = secret.managed_fields().iter().filter_map(|m| m.manager.clone()).collect();
        assert!(managers.iter().all(|m| !m.starts_with("sesame")), "{name} has a sesame field manager: {managers:?}");
        assert!(secret.labels().is_empty() && secret.annotations().is_empty(), "{name} gained metadata: {:?}", secret.metadata);
    }
    let clear = json!({"metadata": {"finalizers": null}});
    scene.secrets().patch("dying", &PatchParams::default(), &Patch::Merge(&clear)).await.unwrap();

    // The create was an apply: a key the ExternalSecret stops writing leaves the Secret.
    scene.external_secret("fresh", spec("fresh", "CreateOrMerge", "b", "/b")).await;
    wait_secret_data(&scene, &sesame, "fresh", &map(&[("b", "2")])).await;
    scene.delete_namespace().await;
}
