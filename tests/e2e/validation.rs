//! Bad manifests: refused by the apiserver through the CRD schema, or reported in status by the
//! controller — never a panic, never a touched Secret.
use std::time::Duration;

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
    let msg =
        refused(&scene, "c", json!({"secretStoreRef": {"name": "s"}, "data": [{"secretKey": "bad/key", "remoteRef": {"key": "/k"}}]}))
            .await;
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
        (
            "delete-orphan",
            json!({"secretStoreRef": {"name": "store"}, "target": {"creationPolicy": "Orphan", "deletionPolicy": "Delete"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}),
            "deletionPolicy Delete requires creationPolicy Owner",
        ),
        (
            "duplicate",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}, {"secretKey": "k", "remoteRef": {"key": "/k"}}]}),
            "duplicate secretKey",
        ),
        ("empty", json!({"secretStoreRef": {"name": "store"}}), "neither data nor dataFrom"),
        (
            "not-json",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k", "property": "x"}}]}),
            "not valid JSON",
        ),
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

/// One failing ExternalSecret per class of bad object, next to a healthy one: each gets
/// Ready=False with a reason that names the cause and a Warning Event, its Secret keeps its last
/// good data (or is never created), and the healthy one keeps syncing.
#[tokio::test]
async fn every_invalid_object_class_gets_a_reason_and_an_event_and_spares_the_others() {
    let scene = Scene::new("val-classes").await;
    // Distinctive values, so a leak into a condition or Event would be found.
    let big = "BIG-7c1e9-".repeat(110_000); // 1.1 MB, over the 1 MiB Secret limit
    let store = |k: &str, frozen: &str, large: &str| {
        vec![
            ("/k".to_string(), k.to_string()),
            ("/frozen".into(), frozen.into()),
            ("/big".into(), large.into()),
            ("/json".into(), r#"{"a/b": "J-4b2f"}"#.into()),
        ]
    };
    let set = |data: Vec<(String, String)>| {
        let scene = &scene;
        async move { scene.fake_store("store", &data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()).await }
    };
    set(store("K1-9d0a", "F1-3e8c", "B1-5a7d")).await;
    let sesame = scene.sesame();
    let one = |key: &str| json!([{"secretKey": "k", "remoteRef": {"key": key}}]);
    scene.external_secret("good", json!({"secretStoreRef": {"name": "store"}, "data": one("/k")})).await;
    scene.external_secret("owner", json!({"secretStoreRef": {"name": "store"}, "target": {"name": "shared"}, "data": one("/k")})).await;
    scene
        .external_secret("frozen", json!({"secretStoreRef": {"name": "store"}, "target": {"immutable": true}, "data": one("/frozen")}))
        .await;
    scene.external_secret("large", json!({"secretStoreRef": {"name": "store"}, "data": one("/big")})).await;
    wait_secret_data(&scene, &sesame, "shared", &map(&[("k", "K1-9d0a")])).await;
    wait_secret_data(&scene, &sesame, "frozen", &map(&[("k", "F1-3e8c")])).await;
    wait_secret_data(&scene, &sesame, "large", &map(&[("k", "B1-5a7d")])).await;

    // (name, spec or None for a remote change, what the condition must say, the Secret it must keep)
    type Case<'a> = (&'a str, Option<serde_json::Value>, &'a str, Option<(&'a str, &'a str)>);
    let store_ref = json!({"name": "store"});
    let cases: Vec<Case> = vec![
        ("unknown-store", Some(json!({"secretStoreRef": {"name": "nope"}, "data": one("/k")})), "SecretStore nope not found", None),
        (
            "wrong-kind",
            Some(json!({"secretStoreRef": {"name": "store", "kind": "ClusterSecretStore"}, "data": one("/k")})),
            "ClusterSecretStore store not found",
            None,
        ),
        ("bad-regexp", Some(json!({"secretStoreRef": store_ref, "dataFrom": [{"find": {"name": {"regexp": "(["}}}]})), "regexp", None),
        (
            "bad-template",
            Some(json!({"secretStoreRef": store_ref, "data": one("/k"), "target": {"template": {"data": {"out": "{{ .k "}}}})),
            "template",
            None,
        ),
        // A rewrite skips key conversion, so "a/b" stays invalid.
        (
            "bad-key",
            Some(
                json!({"secretStoreRef": store_ref, "dataFrom": [{"extract": {"key": "/json"}, "rewrite": [{"regexp": {"source": "^a", "target": "x"}}]}]}),
            ),
            "invalid secret key \"x/b\"",
            None,
        ),
        // The owner keeps writing its own newer value to the shared Secret.
        (
            "intruder",
            Some(json!({"secretStoreRef": store_ref, "target": {"name": "shared"}, "data": one("/k")})),
            "owned by another ExternalSecret",
            Some(("shared", "K2-61f0")),
        ),
        ("frozen", None, "target is immutable", Some(("frozen", "F1-3e8c"))),
        ("large", None, "over the 1048576", Some(("large", "B1-5a7d"))),
    ];
    for (name, spec, _, _) in &cases {
        if let Some(spec) = spec {
            scene.external_secret(name, spec.clone()).await;
        }
    }
    // The healthy object's value changes together with the two that now become invalid.
    set(store("K2-61f0", "F2-0b9e", &big)).await;
    wait_secret_data(&scene, &sesame, "good", &map(&[("k", "K2-61f0")])).await;

    let mut texts = Vec::new();
    for (name, _, needle, kept) in &cases {
        let es = scene.wait_ready(&sesame, name, "False", "SecretSyncedError").await;
        let message = ready_condition(&es).unwrap().2;
        assert!(message.contains(needle), "{name}: the condition says {message:?}, want {needle:?}");
        let warned = eventually(Duration::from_secs(15), || async {
            events_for(&scene.client, &scene.ns, name).await.iter().any(|(t, r, _)| t == "Warning" && r == "UpdateFailed")
        });
        assert!(warned.await, "{name}: no Warning UpdateFailed Event");
        texts.push(message);
        texts.extend(events_for(&scene.client, &scene.ns, name).await.into_iter().map(|e| e.2));
        match kept {
            Some((secret, value)) => {
                assert_eq!(scene.secret_data(secret).await, Some(map(&[("k", value)])), "{name}: Secret {secret} lost its data")
            }
            None => assert!(scene.secret(name).await.is_none(), "{name}: a Secret was written"),
        }
    }
    // Data errors wait for the next refresh (1h here), not a tight retry loop.
    let errors = || async {
        let metrics = sesame.get("/metrics").await.map(|m| m.1).unwrap_or_default();
        sample(&metrics, "externalsecret_sync_calls_error{", &["name=\"large\""])
    };
    let before = errors().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let retries = errors().await - before;
    assert!(retries <= 1.0, "the too-large object was retried {retries} times in 8 s");
    assert_eq!(ready_condition(&scene.es("good").await).map(|c| c.0).as_deref(), Some("True"), "the healthy object was affected");

    // A fix at the provider is picked up, and the big value never reached a text.
    set(store("K2-61f0", "F2-0b9e", "B3-2c44")).await;
    wait_secret_data(&scene, &sesame, "large", &map(&[("k", "B3-2c44")])).await;
    let leaks = texts.iter().filter(|t| t.contains("BIG-7c1e9") || t.contains("J-4b2f") || t.contains("F2-0b9e")).count();
    let log_leak = sesame.logs().contains("BIG-7c1e9") || sesame.logs().contains("F2-0b9e");
    println!(
        "invalid: {} bad objects, {} condition/Event texts checked, {leaks} leaks, log leak: {log_leak}, {retries} retries of a too-large value in 8 s",
        cases.len(),
        texts.len()
    );
    assert!(leaks == 0 && !log_leak, "a value leaked into a condition, Event or log");
    assert!(!sesame.logs().contains("panicked"), "sesame panicked:\n{}", tail(&sesame.logs()));
    scene.delete_namespace().await;
}
