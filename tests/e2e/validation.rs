//! Bad manifests: refused by the apiserver through the CRD schema, or reported in status by the
//! controller — never a panic, never a touched Secret.
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::harness::*;

async fn refused(scene: &Scene, name: &str, spec: serde_json::Value) -> String {
    let body = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": scene.ns},
        "spec": spec,
    });
    let err = scene
        .externalsecrets()
        .patch(name, &PatchParams::apply("e2e-test"), &Patch::Apply(&body))
        .await
        .expect_err("the apiserver must refuse this manifest");
    err.to_string()
}

#[tokio::test]
async fn the_apiserver_refuses_malformed_manifests_with_a_clear_message() {
    let scene = Scene::new("val-schema").await;
    let data = json!([{"secretKey": "k", "remoteRef": {"key": "/k"}}]);
    let msg = refused(&scene, "a", json!({"refreshInterval": "every hour", "secretStoreRef": {"name": "s"}, "data": data})).await;
    assert!(msg.contains("refreshInterval"), "{msg}");
    let msg = refused(&scene, "b", json!({"secretStoreRef": {"name": "s"}, "target": {"creationPolicy": "Sometimes"}, "data": data})).await;
    assert!(msg.contains("creationPolicy"), "{msg}");
    let msg = refused(&scene, "c", json!({"secretStoreRef": {"name": "s"}, "data": [{"secretKey": "bad/key", "remoteRef": {"key": "/k"}}]})).await;
    assert!(msg.contains("secretKey"), "{msg}");
    let msg = refused(&scene, "d", json!({"secretStoreRef": {"name": "s", "kind": "Vault"}, "data": data})).await;
    assert!(msg.contains("kind"), "{msg}");
    let store = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "two", "namespace": scene.ns},
        "spec": {"provider": {"fake": {"data": []}, "vault": {"server": "http://127.0.0.1:1"}}},
    });
    let err = scene.stores().patch("two", &PatchParams::apply("e2e-test"), &Patch::Apply(&store)).await.expect_err("two providers");
    assert!(err.to_string().contains("provider"), "{err}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn specs_the_schema_cannot_judge_get_a_clear_condition_and_no_panic() {
    let scene = Scene::new("val-ctrl").await;
    scene.fake_store("store", &[("/k", "v"), ("/json", r#"{"a/b": "x"}"#)]).await;
    let sesame = scene.sesame();
    let cases = [
        ("delete-orphan", json!({"secretStoreRef": {"name": "store"}, "target": {"creationPolicy": "Orphan", "deletionPolicy": "Delete"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}), "deletionPolicy Delete requires creationPolicy Owner"),
        ("duplicate", json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}, {"secretKey": "k", "remoteRef": {"key": "/k"}}]}), "duplicate secretKey"),
        ("empty", json!({"secretStoreRef": {"name": "store"}}), "neither data nor dataFrom"),
        ("not-json", json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k", "property": "x"}}]}), "not valid JSON"),
    ];
    for (name, spec, _) in &cases {
        scene.external_secret(name, spec.clone()).await;
    }
    for (name, _, message) in &cases {
        let es = scene.wait_ready(&sesame, name, "False", "SecretSyncedError").await;
        let (_, _, got) = ready_condition(&es).unwrap();
        assert!(got.contains(message), "{name}: {got}");
        assert!(scene.secret(name).await.is_none());
    }
    assert!(!sesame.logs().contains("panicked"), "sesame panicked:\n{}", tail(&sesame.logs()));
    scene.delete_namespace().await;
}
