//! The cloud and HTTP generators through the real binary: a Webhook generator's JSON answer
//! becomes the ExternalSecret's data (rewritten and templated like any dataFrom entry), with its
//! credential read from the generator's namespace and kept out of logs and status.
use std::sync::Arc;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::harness::*;
use crate::webhook_provider::{Seen, serve};

pub(crate) async fn apply_generator(client: &kube::Client, ns: &str, kind: &str, plural: &str, name: &str, spec: Value) {
    let gvk = GroupVersionKind::gvk("generators.external-secrets.io", "v1alpha1", kind);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, plural));
    let body = json!({"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec});
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
}

pub(crate) fn from_generator(kind: &str, name: &str) -> Value {
    json!({"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "name": name}}})
}

#[tokio::test]
async fn a_webhook_generator_answer_becomes_the_secret_data() {
    let scene = Scene::new("e2e-genhook").await;
    let seen: Seen = Arc::default();
    let base = format!("http://{}", serve(seen.clone(), None).await);
    scene.plain_secret("hook-creds", &[("token", "hook-token")]).await;
    // As ESO: a Webhook generator reads only Secrets labelled for it.
    let labelled = json!({"metadata": {"labels": {"external-secrets.io/type": "webhook"}}});
    scene.secrets().patch("hook-creds", &PatchParams::default(), &Patch::Merge(&labelled)).await.unwrap();
    scene.plain_secret("raw-creds", &[("token", "raw-token")]).await;
    let hook = |path: &str, secret: &str| {
        json!({
            "url": format!("{base}/secrets/{path}"),
            "headers": {"Authorization": "Bearer {{ .creds.token }}"},
            "result": {"jsonPath": "$.data"},
            "timeout": "10s",
            "secrets": [{"name": "creds", "secretRef": {"name": secret, "key": "token"}}],
        })
    };
    apply_generator(&scene.client, &scene.ns, "Webhook", "webhooks", "hook", hook("minted", "hook-creds")).await;
    apply_generator(&scene.client, &scene.ns, "Webhook", "webhooks", "gone", hook("missing", "hook-creds")).await;
    apply_generator(&scene.client, &scene.ns, "Webhook", "webhooks", "unlabelled", hook("unlabelled", "raw-creds")).await;
    // One entry from the scene's store ties the objects to this test's controller class: a
    // generator-only ExternalSecret is every class's, and another test runs a cluster-wide sesame.
    scene.fake_store("store", &[("/marker", "m")]).await;
    let sesame = scene.sesame();
    let marked = |data_from: Value| {
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"},
            "data": [{"secretKey": "marker", "remoteRef": {"key": "/marker"}}], "dataFrom": data_from})
    };

    let mut entry = from_generator("Webhook", "hook");
    entry["rewrite"] = json!([{"regexp": {"source": "^value$", "target": "token"}}]);
    let mut es = marked(json!([entry]));
    es["target"] = json!({"template": {"mergePolicy": "Merge", "data": {"line": "Bearer {{ .token }}"}}});
    scene.external_secret("app", es).await;
    let want = map(&[("marker", "m"), ("token", "value-of-minted"), ("line", "Bearer value-of-minted")]);
    wait_secret_data(&scene, &sesame, "app", &want).await;
    assert!(seen.lock().unwrap().iter().any(|p| p == "/secrets/minted"), "{:?}", seen.lock().unwrap());

    // A generator whose endpoint answers 404 fails its user, which writes nothing.
    scene.external_secret("broken", marked(json!([from_generator("Webhook", "gone")]))).await;
    let es = scene.wait_ready(&sesame, "broken", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(message.contains("404"), "{message}");
    assert!(scene.secret("broken").await.is_none());

    // A Secret without the label: refused by name, before its value is read or any request sent.
    scene.external_secret("unlabelled", marked(json!([from_generator("Webhook", "unlabelled")]))).await;
    let es = scene.wait_ready(&sesame, "unlabelled", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(message.contains("Secret raw-creds lacks the label external-secrets.io/type: webhook"), "{message}");
    assert!(!message.contains("raw-token"), "{message}");
    assert!(scene.secret("unlabelled").await.is_none());
    assert!(!seen.lock().unwrap().iter().any(|p| p == "/secrets/unlabelled"), "{:?}", seen.lock().unwrap());

    let logs = sesame.logs();
    assert!(
        !logs.contains("hook-token") && !logs.contains("raw-token") && !logs.contains("value-of-minted"),
        "a credential or a generated value is in the log"
    );
    let status = serde_json::to_string(&scene.es("app").await.status).unwrap();
    assert!(!status.contains("value-of-minted"), "a generated value is in the status");
    scene.delete_namespace().await;
}
