//! First syncs at default flags (issue #20): many more never-synced objects than reconcile
//! workers, all created before the controller starts, cost one read per distinct remote key —
//! planned as one wave and read ahead in full batches — and nothing for a namespace the store
//! refuses. Objects edited while the controller was down re-sync sharing the reads made after it
//! started, not one read each.
use std::collections::BTreeMap;

use serde_json::json;

use crate::harness::*;
use crate::providers::{aws_sesame, aws_store, secrets_manager};
use crate::tenancy::bao_must;

/// Three times the default concurrency of 16.
const OBJECTS: usize = 48;
const KEYS: usize = 4;

fn store_calls(metrics: &str, store: &str) -> f64 {
    sample(metrics, "sesame_store_provider_calls_total{", &[&format!("store=\"{store}\"")])
}

/// `secret/<ns>/k<i>` on OpenBao, each `{"v": "v<i>"}`.
async fn bao_keys(namespace: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..KEYS {
        let key = format!("{namespace}/k{i}");
        bao_must("POST", &format!("secret/data/{key}"), Some(json!({"data": {"v": format!("v{i}")}}))).await;
        keys.push(key);
    }
    keys
}

fn reading(store: serde_json::Value, key: &str) -> serde_json::Value {
    json!({"refreshInterval": "1h", "secretStoreRef": store, "data": [{"secretKey": "v", "remoteRef": {"key": key, "property": "v"}}]})
}

async fn every_object_synced(scene: &Scene, sesame: &Sesame) {
    for i in 0..OBJECTS {
        wait_secret_data(scene, sesame, &format!("es-{i}"), &map(&[("v", &format!("v{}", i % KEYS))])).await;
    }
}

/// The OpenBao paths of `bao_keys`, a SecretStore `bao` over them (token auth, default flags) and
/// `OBJECTS` ExternalSecrets, object `i` reading path `i mod KEYS`. Returns the paths.
async fn bao_population(scene: &Scene) -> Vec<String> {
    let env = sesame_testsupport::env();
    let keys = bao_keys(&scene.ns).await;
    scene.plain_secret("bao-token", &[("token", &env.vault_token)]).await;
    let auth = json!({"tokenSecretRef": {"name": "bao-token", "key": "token"}});
    scene.store("bao", json!({"vault": {"server": env.vault_addr, "path": "secret", "version": "v2", "auth": auth}})).await;
    for i in 0..OBJECTS {
        scene.external_secret(&format!("es-{i}"), reading(json!({"name": "bao"}), &keys[i % KEYS])).await;
    }
    keys
}

#[tokio::test]
async fn an_openbao_first_sync_reads_each_distinct_path_once_at_default_flags() {
    let scene = Scene::new("e2e-wave-bao").await;
    bao_population(&scene).await;
    let sesame = scene.sesame();
    every_object_synced(&scene, &sesame).await;
    let (_, metrics) = sesame.get("/metrics").await.expect("/metrics");
    assert_eq!(store_calls(&metrics, "bao"), KEYS as f64, "{OBJECTS} first syncs over {KEYS} paths: one read per path\n{metrics}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn objects_edited_while_the_controller_was_down_share_reads_made_after_it_started() {
    let scene = Scene::new("e2e-wave-edit").await;
    let keys = bao_population(&scene).await;
    let mut first = scene.sesame();
    every_object_synced(&scene, &first).await;
    first.terminate();

    // While it is down: new remote values, and every object edited (an overlay synced by Argo CD).
    for (i, key) in keys.iter().enumerate() {
        bao_must("POST", &format!("secret/data/{key}"), Some(json!({"data": {"v": format!("w{i}")}}))).await;
    }
    let patch = json!({"spec": {"refreshInterval": "2h"}});
    for i in 0..OBJECTS {
        let name = format!("es-{i}");
        scene.externalsecrets().patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    }
    let second = scene.sesame();
    for i in 0..OBJECTS {
        wait_secret_data(&scene, &second, &format!("es-{i}"), &map(&[("v", &format!("w{}", i % KEYS))])).await;
    }
    // Each edit asked for values read after it: a read made after the restart serves every object
    // over that path that syncs within the next 2 s (one read per path on a quiet machine; a busy
    // one may take 2 s per 16 syncs and read again). One read per object without the sharing.
    let (_, metrics) = second.get("/metrics").await.expect("/metrics");
    let reads = store_calls(&metrics, "bao");
    assert!(reads <= (2 * KEYS) as f64, "{OBJECTS} edited objects over {KEYS} paths read {reads} times\n{metrics}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn an_aws_first_sync_costs_one_batch_per_twenty_keys_and_no_single_read_at_default_flags() {
    let scene = Scene::new("e2e-wave-aws").await;
    let sm = secrets_manager().await;
    let mut keys = Vec::new();
    for i in 0..KEYS {
        let key = format!("{}/k{i}", scene.ns);
        sm.create_secret().name(&key).secret_string(json!({"v": format!("v{i}")}).to_string()).send().await.unwrap();
        keys.push(key);
    }
    aws_store(&scene).await;
    for i in 0..OBJECTS {
        scene.external_secret(&format!("es-{i}"), reading(json!({"name": "aws"}), &keys[i % KEYS])).await;
    }
    let sesame = aws_sesame(&scene, &[]);
    every_object_synced(&scene, &sesame).await;
    let (_, metrics) = sesame.get("/metrics").await.expect("/metrics");
    let calls = |call: &str| sample(&metrics, "externalsecret_provider_api_calls_count{", &[&format!("call=\"{call}\"")]);
    assert_eq!(calls("BatchGetSecretValue"), 1.0, "{KEYS} keys in one batch\n{metrics}");
    assert_eq!(calls("GetSecretValue"), 0.0, "no single read\n{metrics}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_cluster_store_plans_no_read_for_a_namespace_its_conditions_refuse() {
    let admitted = Scene::new("e2e-wave-css").await;
    let refused = Scene { client: admitted.client.clone(), ns: format!("{}-b", admitted.ns), class: admitted.class.clone() };
    create_namespace(&admitted.client, &refused.ns, BTreeMap::new()).await;
    let env = sesame_testsupport::env();
    let (admitted_keys, refused_keys) = (bao_keys(&admitted.ns).await, bao_keys(&refused.ns).await);
    admitted.plain_secret("bao-token", &[("token", &env.vault_token)]).await;
    let store = format!("wave-{}", admitted.ns);
    let auth = json!({"tokenSecretRef": {"name": "bao-token", "key": "token", "namespace": admitted.ns}});
    let spec = json!({"controller": admitted.class, "conditions": [{"namespaces": [admitted.ns]}],
        "provider": {"vault": {"server": env.vault_addr, "path": "secret", "version": "v2", "auth": auth}}});
    let body = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": store}, "spec": spec});
    apply(&admitted.client, "", "clustersecretstores", &store, body).await;
    let reference = json!({"name": store, "kind": "ClusterSecretStore"});
    for i in 0..OBJECTS {
        admitted.external_secret(&format!("es-{i}"), reading(reference.clone(), &admitted_keys[i % KEYS])).await;
        refused.external_secret(&format!("es-{i}"), reading(reference.clone(), &refused_keys[i % KEYS])).await;
    }
    let sesame = Sesame::start(&admitted.ns, &["--controller-class", &admitted.class]);
    every_object_synced(&admitted, &sesame).await;
    for i in 0..OBJECTS {
        refused.wait_ready(&sesame, &format!("es-{i}"), "False", "SecretSyncedError").await;
    }
    let (_, metrics) = sesame.get("/metrics").await.expect("/metrics");
    assert_eq!(store_calls(&metrics, &store), KEYS as f64, "only the admitted namespace's {KEYS} paths were read\n{metrics}");
    let _ = kube::Api::<sesame::api::ClusterSecretStore>::all(admitted.client.clone()).delete(&store, &Default::default()).await;
    admitted.delete_namespace().await;
    refused.delete_namespace().await;
}
