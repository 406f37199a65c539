//! Generic targets (`spec.target.manifest`, ESO's "generic targets") with the controller's
//! `--unsafe-allow-generic-targets`, under the chart's `genericTargets` RBAC (identity.rs): a
//! ConfigMap and a custom resource are created, follow their source, and are repaired after
//! drift; kinds that would escalate are refused even when RBAC allows them. Without the flag a
//! manifest target is Ready=False (es_fields.rs).
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::harness::*;

const FLAG: &str = "--unsafe-allow-generic-targets";

async fn config_map_data(scene: &Scene, name: &str) -> Option<BTreeMap<String, String>> {
    let cm = Api::<ConfigMap>::namespaced(scene.client.clone(), &scene.ns).get_opt(name).await.unwrap()?;
    Some(cm.data.unwrap_or_default())
}

async fn wait_config_map(scene: &Scene, sesame: &Sesame, name: &str, want: &BTreeMap<String, String>) {
    let ok = eventually(Duration::from_secs(30), || async { config_map_data(scene, name).await.as_ref() == Some(want) }).await;
    assert!(ok, "ConfigMap {name} never held {want:?}; it has {:?}\n{}", config_map_data(scene, name).await, tail(&sesame.logs()));
}

#[tokio::test]
async fn a_config_map_target_is_created_follows_its_source_and_is_repaired_after_drift() {
    let scene = Scene::new("gen-cm").await;
    scene.fake_store("store", &[("/k", "v1")]).await;
    let sesame = scene.sesame_with(&[FLAG], &[]);
    let spec = json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
                      "target": {"name": "settings", "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}});
    scene.external_secret("cfg", spec).await;
    wait_config_map(&scene, &sesame, "settings", &map(&[("k", "v1")])).await;
    let es = scene.wait_ready(&sesame, "cfg", "True", "ResourceSynced").await;
    let configmaps: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.ns);
    let cm = configmaps.get("settings").await.unwrap();
    assert_eq!(cm.metadata.labels.as_ref().unwrap()["reconcile.external-secrets.io/managed"], "true");
    assert!(cm.metadata.annotations.as_ref().unwrap().contains_key("reconcile.external-secrets.io/data-hash"));
    let owner = &cm.metadata.owner_references.as_ref().expect("Owner: an ownerReference")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("ExternalSecret", es.metadata.uid.as_deref().unwrap(), Some(true))
    );
    assert!(scene.secret("settings").await.is_none(), "no Secret is written beside it");
    assert!(es.status.as_ref().unwrap().binding.is_none(), "ESO binds only target Secrets");

    // A change at the provider (the store's data is its source).
    scene.fake_store("store", &[("/k", "v2")]).await;
    wait_config_map(&scene, &sesame, "settings", &map(&[("k", "v2")])).await;
    let updated = eventually(Duration::from_secs(30), || async {
        events_for(&scene.client, &scene.ns, "cfg")
            .await
            .iter()
            .any(|(_, reason, note)| reason == "Updated" && note == "Updated ConfigMap settings")
    })
    .await;
    assert!(updated, "an Updated Event names the ConfigMap");

    // Drift: a value changed and a key added by someone else are both undone.
    let tamper = json!({"data": {"k": "tampered", "extra": "x"}});
    configmaps.patch("settings", &PatchParams::default(), &Patch::Merge(&tamper)).await.unwrap();
    wait_config_map(&scene, &sesame, "settings", &map(&[("k", "v2")])).await;
    // Deleted: written again.
    configmaps.delete("settings", &DeleteParams::default()).await.unwrap();
    wait_config_map(&scene, &sesame, "settings", &map(&[("k", "v2")])).await;
    scene.delete_namespace().await;
}

/// The test CRD: a namespaced `Database` whose spec and data take anything.
async fn install_database_crd(client: &kube::Client) -> ApiResource {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "databases.sesame-e2e.example.io"},
        "spec": {"group": "sesame-e2e.example.io", "scope": "Namespaced",
                 "names": {"plural": "databases", "singular": "database", "kind": "Database", "listKind": "DatabaseList"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                     "data": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]},
    }))
    .unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch("databases.sesame-e2e.example.io", &PatchParams::apply("sesame-e2e").force(), &Patch::Apply(&crd)).await.unwrap();
    let established = eventually(Duration::from_secs(30), || async {
        let c = api.get("databases.sesame-e2e.example.io").await.unwrap();
        c.status.and_then(|s| s.conditions).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
    })
    .await;
    assert!(established, "the test CRD never became Established");
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("sesame-e2e.example.io", "v1", "Database"), "databases")
}

#[tokio::test]
async fn a_custom_resource_target_is_templated_into_its_spec_and_repaired_after_drift() {
    let scene = Scene::new("gen-cr").await;
    let ar = install_database_crd(&scene.client).await;
    scene.fake_store("store", &[("/user", "admin"), ("/port", "5432")]).await;
    let sesame = scene.sesame_with(&[FLAG], &[]);
    let template = json!({
        "metadata": {"labels": {"team": "a"}},
        "data": {"dsn": "{{ .user }}@db:{{ .port }}"},
        "templateFrom": [
            {"literal": "engine: postgres", "target": "spec"},
            {"literal": "host: db\nport: {{ .port }}\nuser: {{ .user }}", "target": "spec.connection"},
        ],
    });
    let spec = json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"},
                      "data": [{"secretKey": "user", "remoteRef": {"key": "/user"}}, {"secretKey": "port", "remoteRef": {"key": "/port"}}],
                      "target": {"name": "db", "template": template, "manifest": {"apiVersion": "sesame-e2e.example.io/v1", "kind": "Database"}}});
    scene.external_secret("db", spec).await;
    let databases: Api<DynamicObject> = Api::namespaced_with(scene.client.clone(), &scene.ns, &ar);
    let want_spec = json!({"engine": "postgres", "connection": {"host": "db", "port": 5432, "user": "admin"}});
    let spec_of = || async { databases.get_opt("db").await.unwrap().map(|o| o.data["spec"].clone()) };
    let ok = eventually(Duration::from_secs(30), || async { spec_of().await.as_ref() == Some(&want_spec) }).await;
    assert!(ok, "the Database never held {want_spec}; it has {:?}\n{}", spec_of().await, tail(&sesame.logs()));
    scene.wait_ready(&sesame, "db", "True", "ResourceSynced").await;
    let db = databases.get("db").await.unwrap();
    assert_eq!(db.data["data"], json!({"dsn": "admin@db:5432"}), "template.data goes to data, as ESO");
    assert_eq!(db.metadata.labels.as_ref().unwrap()["team"], "a");

    // Drift inside the spec is repaired (the data-hash covers the spec).
    let tamper = json!({"spec": {"connection": {"host": "evil"}}});
    databases.patch("db", &PatchParams::default(), &Patch::Merge(&tamper)).await.unwrap();
    let ok = eventually(Duration::from_secs(30), || async { spec_of().await.as_ref() == Some(&want_spec) }).await;
    assert!(ok, "drift was not repaired: {:?}\n{}", spec_of().await, tail(&sesame.logs()));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn kinds_that_would_escalate_and_template_paths_into_metadata_are_refused() {
    let scene = Scene::new("gen-deny").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame_with(&[FLAG], &[]);
    let target = |api_version: &str, kind: &str| -> Value {
        json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
               "target": {"manifest": {"apiVersion": api_version, "kind": kind}}})
    };
    let cases = [
        ("as-secret", target("v1", "Secret"), "the only core kind a generic target may be is ConfigMap"),
        ("as-pod", target("v1", "Pod"), "the only core kind"),
        ("as-deployment", target("apps/v1", "Deployment"), "the API group apps is never written"),
        ("as-role", target("rbac.authorization.k8s.io/v1", "Role"), "rbac.authorization.k8s.io is never written"),
        ("as-es", target("external-secrets.io/v1", "ExternalSecret"), "external-secrets.io is never written"),
        ("as-namespace", target("v1", "Namespace"), "must be a namespaced kind"),
    ];
    for (name, spec, _) in &cases {
        scene.external_secret(name, spec.clone()).await;
    }
    let mut owner_path = target("v1", "ConfigMap");
    owner_path["target"]["template"] = json!({"templateFrom": [{"literal": "- kind: x", "target": "metadata.ownerReferences"}]});
    scene.external_secret("as-owner", owner_path).await;
    for (name, _, why) in cases.iter().map(|(n, s, w)| (*n, s, *w)).chain([("as-owner", &Value::Null, "a template may not write metadata")])
    {
        let es = scene.wait_ready(&sesame, name, "False", "SecretSyncedError").await;
        let message = ready_condition(&es).unwrap().2;
        assert!(message.contains(why), "{name}: {message}");
    }
    assert!(config_map_data(&scene, "as-owner").await.is_none(), "nothing is written");
    scene.delete_namespace().await;
}
