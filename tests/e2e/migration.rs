//! Taking over from ESO: objects exactly as ESO 2.9 leaves them (managed label, ESO's data-hash
//! and created-by label, controller ownerReference, Ready/SecretSynced status with ESO's
//! syncedResourceVersion) cost Sesame no provider call and no write until each is due, and what
//! Sesame writes reads as valid to ESO's rules. ESO's formats are those of `sesame::pipeline`'s
//! hash functions, which their unit tests pin to Go's output.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use sesame::api::{CREATED_BY_LABEL, DATA_HASH_ANNOTATION, MANAGED_LABEL};
use sesame::pipeline::{created_by, data_hash, synced_resource_version};

use crate::harness::*;
use crate::providers::{aws_sesame, aws_store, secrets_manager};

const OBJECTS: usize = 30;
const KEYS: usize = 10;

fn minutes_ago(m: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn bytes(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
}

/// An ExternalSecret, its target Secret and its status as ESO 2.9 writes them.
async fn as_eso_left_it(scene: &Scene, name: &str, key: &str, value: &str, kubectl_applied: bool) {
    let mut annotations = json!({"team.example/owner": "payments"});
    if kubectl_applied {
        // Argo CD and `kubectl apply` keep a copy of the whole object; ESO hashes it too.
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = json!(format!(
            "{{\"apiVersion\":\"external-secrets.io/v1\",\"kind\":\"ExternalSecret\",\"metadata\":{{\"name\":\"{name}\"}}}}"
        ));
    }
    let es = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": scene.ns, "labels": {"app": "payments"}, "annotations": annotations},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "aws"}, "target": {"name": name, "creationPolicy": "Owner"},
                 "data": [{"secretKey": "v", "remoteRef": {"key": key}}]},
    });
    apply(&scene.client, &scene.ns, "externalsecrets", name, es).await;
    let es = scene.es(name).await;
    let data = bytes(&[("v", value)]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([(MANAGED_LABEL.to_string(), "true".to_string()), (CREATED_BY_LABEL.into(), created_by(&scene.ns, name))].into()),
            annotations: Some([(DATA_HASH_ANNOTATION.to_string(), data_hash(&data))].into()),
            owner_references: Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "external-secrets.io/v1".into(),
                kind: "ExternalSecret".into(),
                name: name.into(),
                uid: es.uid().unwrap(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    scene.secrets().create(&PostParams { field_manager: Some("external-secrets".into()), ..Default::default() }, &secret).await.unwrap();
    let version = synced_resource_version(es.metadata.generation, es.labels(), &es.annotations());
    let status = json!({"status": {
        "refreshTime": minutes_ago(5),
        "syncedResourceVersion": version,
        "binding": {"name": name},
        "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced",
                        "lastTransitionTime": minutes_ago(90)}],
    }});
    scene.externalsecrets().patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

/// Every sample of a metric family on a live /metrics (fails when it cannot be read).
async fn metric_sum(sesame: &Sesame, family: &str, must_contain: &[&str]) -> f64 {
    let (code, metrics) = sesame.get("/metrics").await.expect("/metrics is reachable");
    assert_eq!(code, 200, "/metrics answered {code}");
    sample(&metrics, &format!("{family}{{"), must_contain)
}

#[tokio::test]
async fn an_estate_eso_left_behind_costs_no_provider_call_and_no_write_until_due() {
    let scene = Scene::new("mig-eso").await;
    let sm = secrets_manager().await;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("{}/k{i}", scene.ns)).collect();
    for (i, k) in keys.iter().enumerate() {
        sm.create_secret().name(k).secret_string(format!("v{i}")).send().await.unwrap();
    }
    aws_store(&scene).await;
    // The store as ESO left it: validated, Ready.
    let store_status = json!({"status": {"capabilities": "ReadOnly", "conditions": [
        {"type": "Ready", "status": "True", "reason": "Valid", "message": "store validated", "lastTransitionTime": minutes_ago(90)}]}});
    scene.stores().patch_status("aws", &PatchParams::default(), &Patch::Merge(&store_status)).await.unwrap();
    let names: Vec<String> = (0..OBJECTS).map(|i| format!("es-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        as_eso_left_it(&scene, name, &keys[i % KEYS], &format!("v{}", i % KEYS), i % 3 == 0).await;
    }
    let mut before = BTreeMap::new();
    for name in &names {
        let secret_rv = scene.secret(name).await.unwrap().resource_version();
        let status = scene.es(name).await.status.unwrap();
        before.insert(name.clone(), (secret_rv, status.refresh_time, status.synced_resource_version));
    }

    let sesame = aws_sesame(&scene, &[]);
    sesame.wait_ready().await;
    // Every object has been looked at once this process started (the gauge is set by a
    // reconcile, whether it synced or found nothing to do).
    let all_seen = eventually(Duration::from_secs(60), || async {
        metric_sum(&sesame, "externalsecret_status_condition", &[&scene.ns, "status=\"True\""]).await == OBJECTS as f64
    })
    .await;
    assert!(all_seen, "not every ExternalSecret was reconciled\n{}", tail(&sesame.logs()));
    let reads = metric_sum(&sesame, "externalsecret_provider_api_calls_count", &["GetSecretValue"]).await;
    assert_eq!(reads, 0.0, "secret reads (GetSecretValue, BatchGetSecretValue) after taking over a synced estate");
    for name in &names {
        let (secret_rv, refresh_time, version) = &before[name];
        assert_eq!(&scene.secret(name).await.unwrap().resource_version(), secret_rv, "Secret {name} was written");
        let es = scene.es(name).await;
        let status = es.status.clone().unwrap();
        assert_eq!((&status.refresh_time, &status.synced_resource_version), (refresh_time, version), "status of {name} was rewritten");
        assert_eq!(ready_condition(&es).map(|c| (c.0, c.1)), Some(("True".into(), "SecretSynced".into())), "{name}");
        let warnings: Vec<_> = events_for(&scene.client, &scene.ns, name).await.into_iter().filter(|e| e.0 == "Warning").collect();
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
    }

    // A force-sync still fetches, and what Sesame writes is valid by ESO's rules.
    sm.put_secret_value().secret_id(&keys[0]).secret_string("v0-rotated").send().await.unwrap();
    let force = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("es-0", &PatchParams::default(), &Patch::Merge(&force)).await.unwrap();
    let secret = wait_secret_data(&scene, &sesame, "es-0", &map(&[("v", "v0-rotated")])).await;
    assert_eq!(secret.labels().get(MANAGED_LABEL).map(String::as_str), Some("true"));
    assert_eq!(secret.labels().get(CREATED_BY_LABEL), Some(&created_by(&scene.ns, "es-0")));
    assert_eq!(secret.annotations().get(DATA_HASH_ANNOTATION), Some(&data_hash(&bytes(&[("v", "v0-rotated")]))), "ESO's data hash");
    let rewritten = eventually(Duration::from_secs(30), || async {
        let es = scene.es("es-0").await;
        let eso = synced_resource_version(es.metadata.generation, es.labels(), &es.annotations());
        es.status.and_then(|s| s.synced_resource_version) == Some(eso)
    })
    .await;
    assert!(rewritten, "syncedResourceVersion after the force-sync is not ESO's: {:?}", scene.es("es-0").await.status);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn renaming_an_owner_target_deletes_the_old_secret_as_eso_does() {
    let scene = Scene::new("mig-rename").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    let spec = |target: &str| {
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "target": {"name": target},
               "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]})
    };
    scene.external_secret("app", spec("first")).await;
    let first = wait_secret_data(&scene, &sesame, "first", &map(&[("k", "v")])).await;
    assert_eq!(first.labels().get(CREATED_BY_LABEL), Some(&created_by(&scene.ns, "app")));
    scene.external_secret("app", spec("second")).await;
    wait_secret_data(&scene, &sesame, "second", &map(&[("k", "v")])).await;
    let gone = eventually(Duration::from_secs(30), || async { scene.secret("first").await.is_none() }).await;
    assert!(gone, "the Secret under the old target name was kept\n{}", tail(&sesame.logs()));
    let orphan_deleted = |e: &(String, String, String)| e.1 == "Deleted" && e.2.contains("orphaned");
    let events = events_with(&scene.client, &scene.ns, "app", orphan_deleted).await;
    assert!(events.iter().any(orphan_deleted), "{events:?}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn an_external_secret_applied_with_its_new_store_waits_quietly_for_the_first_verdict() {
    let scene = Scene::new("mig-verdict").await;
    let sesame = scene.sesame();
    sesame.wait_ready().await;
    // GitOps applies both at once: the ExternalSecret is reconciled before the store's first
    // validation has landed.
    scene.fake_store("store", &[("/k", "v")]).await;
    scene
        .external_secret(
            "app",
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v")])).await;
    scene.wait_ready(&sesame, "app", "True", "SecretSynced").await;
    // Events are posted in the order they happen: once the sync's Created is there, so is any flash before it.
    let created = |e: &(String, String, String)| e.1 == "Created";
    let events = events_with(&scene.client, &scene.ns, "app", created).await;
    assert!(events.iter().any(created), "{events:?}");
    let warnings: Vec<_> = events.into_iter().filter(|e| e.0 == "Warning").collect();
    assert!(warnings.is_empty(), "a Degraded flash before the store's first verdict: {warnings:?}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn templates_that_would_mint_tokens_are_refused_as_eso_refuses_them() {
    let scene = Scene::new("mig-priv").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    let es = |template: serde_json::Value| {
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "target": {"template": template},
               "data": [{"secretKey": "token", "remoteRef": {"key": "/k"}}]})
    };
    scene.external_secret("bootstrap", es(json!({"type": "bootstrap.kubernetes.io/token"}))).await;
    let sa_token = json!({"type": "kubernetes.io/service-account-token",
                          "metadata": {"annotations": {"kubernetes.io/service-account.name": "default"}}});
    scene.external_secret("sa-token", es(sa_token)).await;
    scene.external_secret("opaque", es(json!({"type": "Opaque"}))).await;
    for name in ["bootstrap", "sa-token"] {
        let refused = scene.wait_ready(&sesame, name, "False", "SecretSyncedError").await;
        let (_, _, message) = ready_condition(&refused).unwrap();
        assert!(message.contains("is not allowed"), "{name}: {message}");
        assert!(scene.secret(name).await.is_none(), "{name}: a Secret was written");
    }
    scene.wait_ready(&sesame, "opaque", "True", "SecretSynced").await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn only_a_created_or_updated_secret_is_bound_in_status() {
    let scene = Scene::new("mig-bind").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    let es = |policy: &str| {
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "target": {"creationPolicy": policy},
               "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]})
    };
    scene.external_secret("none", es("None")).await;
    scene.external_secret("merge-missing", es("Merge")).await;
    scene.external_secret("owner", es("Owner")).await;
    for (name, reason) in [("none", "SecretSynced"), ("merge-missing", "SecretMissing"), ("owner", "SecretSynced")] {
        let es = scene.wait_ready(&sesame, name, "True", reason).await;
        let binding = es.status.unwrap().binding.map(|b| b.name);
        let want = (name == "owner").then(|| name.to_string());
        assert_eq!(binding, want, "status.binding of {name}");
    }
    scene.delete_namespace().await;
}
