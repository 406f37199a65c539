//! The Kubernetes provider on the real apiserver: a second namespace plays the remote one, and a
//! ServiceAccount of the store's namespace (its token minted by Sesame with the TokenRequest API)
//! has a Role there and nowhere else. Reads, extract, find by name and by labels, metadata, and a
//! push work inside that grant; a store pointed at a namespace outside it is refused with a clear
//! condition, decided by the apiserver's own self-subject reviews.
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

use crate::harness::*;

/// A ServiceAccount `reader` in the scene's namespace that may use `verbs` on Secrets of `remote`.
async fn grant(scene: &Scene, remote: &str, verbs: &[&str]) {
    let sa = ServiceAccount { metadata: ObjectMeta { name: Some("reader".into()), ..Default::default() }, ..Default::default() };
    let _ = Api::<ServiceAccount>::namespaced(scene.client.clone(), &scene.ns).create(&PostParams::default(), &sa).await;
    let role = Role {
        metadata: ObjectMeta { name: Some("remote-secrets".into()), ..Default::default() },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }]),
    };
    Api::<Role>::namespaced(scene.client.clone(), remote).create(&PostParams::default(), &role).await.expect("create role");
    let binding = RoleBinding {
        metadata: ObjectMeta { name: Some("remote-secrets".into()), ..Default::default() },
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: "remote-secrets".into() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "reader".into(),
            namespace: Some(scene.ns.clone()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(scene.client.clone(), remote).create(&PostParams::default(), &binding).await.expect("create binding");
}

async fn remote_secret(scene: &Scene, ns: &str, name: &str, data: &[(&str, &str)], labels: &[(&str, &str)]) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            annotations: Some(BTreeMap::from([("team".to_string(), "payments".to_string())])),
            ..Default::default()
        },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.as_bytes().to_vec()))).collect()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(scene.client.clone(), ns).create(&PostParams::default(), &secret).await.expect("create remote secret");
}

fn provider(remote: &str) -> Value {
    let env = sesame_testsupport::env();
    let ca = std::fs::read(&env.kube_ca).expect("read the apiserver CA");
    json!({"kubernetes": {
        "server": {"url": env.kube_server, "caBundle": base64::engine::general_purpose::STANDARD.encode(ca)},
        "remoteNamespace": remote,
        "auth": {"serviceAccount": {"name": "reader"}},
    }})
}

/// Wait for the store's Ready condition to have `status`; returns (reason, message, capabilities).
async fn store_ready(scene: &Scene, sesame: &Sesame, name: &str, status: &str) -> (String, String, Option<String>) {
    let read = || async {
        let store = scene.stores().get(name).await.unwrap();
        let status_block = store.status.clone().unwrap_or_default();
        let cond = status_block.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        (cond, status_block.capabilities)
    };
    let ok = eventually(Duration::from_secs(30), || async { read().await.0.is_some_and(|c| c.status == status) }).await;
    let (cond, caps) = read().await;
    assert!(ok, "store {name} never Ready={status}: {cond:?}\n{}", tail(&sesame.logs()));
    let cond = cond.unwrap();
    (cond.reason.unwrap_or_default(), cond.message.unwrap_or_default(), caps)
}

#[tokio::test]
async fn a_kubernetes_store_reads_the_remote_namespace_its_service_account_may_read_and_nothing_else() {
    let scene = Scene::new("e2e-k8s").await;
    let remote = format!("{}-remote", scene.ns);
    create_namespace(&scene.client, &remote, BTreeMap::new()).await;
    grant(&scene, &remote, &["get", "list"]).await;
    remote_secret(&scene, &remote, "db", &[("user", "app"), ("password", "s3cr3t")], &[("app", "web")]).await;
    remote_secret(&scene, &remote, "db-replica", &[("host", "replica")], &[("app", "web")]).await;
    remote_secret(&scene, &remote, "cache", &[("url", "redis://x")], &[("app", "cache")]).await;
    scene.store("remote", provider(&remote)).await;
    // The store's own namespace: the ServiceAccount has no rights there.
    scene.store("outside", provider(&scene.ns)).await;
    let sesame = scene.sesame();

    let (reason, _, caps) = store_ready(&scene, &sesame, "remote", "True").await;
    assert_eq!((reason.as_str(), caps.as_deref()), ("Valid", Some("ReadOnly")), "get/list only: the reviews say ReadOnly");
    let (_, message, _) = store_ready(&scene, &sesame, "outside", "False").await;
    assert!(message.contains("not allowed to get secrets") && message.contains(&scene.ns), "{message}");

    let store = json!({"name": "remote"});
    scene
        .external_secret(
            "props",
            json!({"secretStoreRef": store, "data": [
                {"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}},
                {"secretKey": "app", "remoteRef": {"key": "db", "property": "labels.app", "metadataPolicy": "Fetch"}},
            ]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "props", &map(&[("password", "s3cr3t"), ("app", "web")])).await;

    scene.external_secret("whole", json!({"secretStoreRef": store, "dataFrom": [{"extract": {"key": "db"}}]})).await;
    wait_secret_data(&scene, &sesame, "whole", &map(&[("user", "app"), ("password", "s3cr3t")])).await;

    let by_name = json!({"secretStoreRef": store, "dataFrom": [{"find": {"name": {"regexp": "^db"}}}]});
    scene.external_secret("by-name", by_name).await;
    let by_tags = json!({"secretStoreRef": store, "dataFrom": [{"find": {"tags": {"app": "web"}}}]});
    scene.external_secret("by-tags", by_tags).await;
    let both = map(&[("db", r#"{"password":"s3cr3t","user":"app"}"#), ("db-replica", r#"{"host":"replica"}"#)]);
    wait_secret_data(&scene, &sesame, "by-name", &both).await;
    wait_secret_data(&scene, &sesame, "by-tags", &both).await;

    // A binary value crosses unchanged, by property and by extract: it never goes through JSON.
    let binary = vec![0x00, 0xff, 0xfe, 0x80, b'k'];
    let blob = Secret {
        metadata: ObjectMeta { name: Some("blob".into()), ..Default::default() },
        data: Some(BTreeMap::from([("bin".to_string(), k8s_openapi::ByteString(binary.clone()))])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(scene.client.clone(), &remote).create(&PostParams::default(), &blob).await.expect("create blob");
    let bytes = json!({"secretStoreRef": store,
        "data": [{"secretKey": "by-property", "remoteRef": {"key": "blob", "property": "bin"}}],
        "dataFrom": [{"extract": {"key": "blob"}}]});
    scene.external_secret("binary", bytes).await;
    let synced = eventually(Duration::from_secs(30), || async {
        let data = scene.secret("binary").await.and_then(|s| s.data).unwrap_or_default();
        data.get("by-property").map(|b| &b.0) == Some(&binary) && data.get("bin").map(|b| &b.0) == Some(&binary)
    })
    .await;
    assert!(synced, "binary bytes survive: {:?}\n{}", scene.secret("binary").await.and_then(|s| s.data), tail(&sesame.logs()));

    // Not found keeps nothing it should not: Ready=False, no Secret invented.
    scene.external_secret("missing", json!({"secretStoreRef": store, "data": [{"secretKey": "x", "remoteRef": {"key": "nope"}}]})).await;
    let es = scene.wait_ready(&sesame, "missing", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("nope"), "{message}");
    assert!(!sesame.logs().contains("s3cr3t"), "no remote value in the logs");
    scene.delete_namespace().await;
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(scene.client.clone()).delete(&remote, &Default::default()).await;
}

#[tokio::test]
async fn a_kubernetes_store_that_may_write_pushes_a_key_into_a_remote_secret() {
    let scene = Scene::new("e2e-k8s-push").await;
    let remote = format!("{}-remote", scene.ns);
    create_namespace(&scene.client, &remote, BTreeMap::new()).await;
    grant(&scene, &remote, &["get", "list", "create", "update", "delete"]).await;
    remote_secret(&scene, &remote, "shared", &[("theirs", "kept")], &[]).await;
    scene.store("remote", provider(&remote)).await;
    scene.plain_secret("source", &[("password", "pushed-1")]).await;
    let sesame = scene.sesame();
    let (_, _, caps) = store_ready(&scene, &sesame, "remote", "True").await;
    assert_eq!(caps.as_deref(), Some("ReadWrite"));

    let body = json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": "push", "namespace": scene.ns},
        "spec": {"refreshInterval": "1h", "deletionPolicy": "Delete", "secretStoreRefs": [{"name": "remote", "kind": "SecretStore"}],
                 "selector": {"secret": {"name": "source"}},
                 "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "shared", "property": "password"}}}]},
    });
    let gvk = kube::api::GroupVersionKind::gvk("external-secrets.io", "v1alpha1", "PushSecret");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "pushsecrets");
    let pushes = Api::<kube::api::DynamicObject>::namespaced_with(scene.client.clone(), &scene.ns, &ar);
    pushes.patch("push", &kube::api::PatchParams::apply("e2e-test").force(), &kube::api::Patch::Apply(&body)).await.unwrap();
    let remote_api = Api::<Secret>::namespaced(scene.client.clone(), &remote);
    let pushed = eventually(Duration::from_secs(30), || async {
        remote_api.get("shared").await.ok().map(|s| text_data(&s)) == Some(map(&[("theirs", "kept"), ("password", "pushed-1")]))
    })
    .await;
    assert!(
        pushed,
        "the key was never pushed beside the remote Secret's own: {:?}\n{}",
        remote_api.get("shared").await.ok().map(|s| text_data(&s)),
        tail(&sesame.logs())
    );

    // Deleting the PushSecret removes exactly the pushed key; the remote Secret's own key stays.
    pushes.delete("push", &Default::default()).await.unwrap();
    let cleaned = eventually(Duration::from_secs(30), || async {
        remote_api.get("shared").await.ok().map(|s| text_data(&s)) == Some(map(&[("theirs", "kept")]))
    })
    .await;
    assert!(
        cleaned,
        "the pushed key was not removed: {:?}\n{}",
        remote_api.get("shared").await.ok().map(|s| text_data(&s)),
        tail(&sesame.logs())
    );
    scene.delete_namespace().await;
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(scene.client.clone()).delete(&remote, &Default::default()).await;
}
