//! Refresh cycles at default flags: objects that read the same remote keys refresh together and
//! share their provider calls (issue #20), where per-object slots cost one call per object; on a
//! store that reads many keys per call, groups of key sets refresh together and share a batch.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;
use crate::providers::{aws_sesame, aws_store, secrets_manager};

const KEYS: usize = 3;
const PER_KEY: usize = 8;

fn provider_calls(metrics: &str) -> f64 {
    sample(metrics, "externalsecret_provider_api_calls_count{", &["BatchGetSecretValue"])
        + sample(metrics, "externalsecret_provider_api_calls_count{", &["call=\"GetSecretValue\""])
}

async fn refresh_times(scene: &Scene) -> BTreeMap<String, String> {
    let list = scene.externalsecrets().list(&Default::default()).await.expect("list ExternalSecrets");
    list.items
        .into_iter()
        .map(|es| (es.metadata.name.clone().unwrap_or_default(), es.status.and_then(|s| s.refresh_time).unwrap_or_default()))
        .collect()
}

/// Waits until every object's `status.refreshTime` moved past what `before` recorded.
async fn every_object_refreshed_since(scene: &Scene, sesame: &Sesame, before: &BTreeMap<String, String>) {
    let ok = eventually(Duration::from_secs(120), || async {
        let now = refresh_times(scene).await;
        now.len() == before.len() && now.iter().all(|(name, t)| before.get(name).is_some_and(|b| t > b))
    })
    .await;
    assert!(ok, "not every ExternalSecret refreshed within 2 minutes\n{}", tail(&sesame.logs()));
}

/// `sets` AWS keys named `{name}{i}` with value `v{i}`, and `sets × per_set` objects reading them
/// every 15 s, created before sesame starts; returns sesame once every Secret holds its value.
async fn synced_population(scene: &Scene, name: &str, sets: usize, per_set: usize) -> (Sesame, Vec<String>) {
    let sm = secrets_manager().await;
    let keys: Vec<String> = (0..sets).map(|i| format!("{}/{name}{i}", scene.ns)).collect();
    for (i, k) in keys.iter().enumerate() {
        sm.create_secret().name(k).secret_string(format!("v{i}")).send().await.unwrap();
    }
    aws_store(scene).await;
    for i in 0..sets * per_set {
        let spec = json!({
            "refreshInterval": "15s",
            "secretStoreRef": {"name": "aws"},
            "data": [{"secretKey": "v", "remoteRef": {"key": keys[i % sets]}}],
        });
        scene.external_secret(&format!("es-{i}"), spec).await;
    }
    let sesame = aws_sesame(scene, &[]);
    for i in 0..sets * per_set {
        wait_secret_data(scene, &sesame, &format!("es-{i}"), &map(&[("v", &format!("v{}", i % sets))])).await;
    }
    (sesame, keys)
}

/// The provider calls of one steady refresh cycle, and the metrics after it. The first refresh
/// after the first sync gathers each object onto its shared slot; the cycle after it is measured.
async fn calls_over_one_steady_cycle(scene: &Scene, sesame: &Sesame) -> (f64, String) {
    let synced = refresh_times(scene).await;
    every_object_refreshed_since(scene, sesame, &synced).await;
    let gathered = refresh_times(scene).await;
    let (_, before) = sesame.get("/metrics").await.expect("/metrics");
    every_object_refreshed_since(scene, sesame, &gathered).await;
    let (_, after) = sesame.get("/metrics").await.expect("/metrics");
    (provider_calls(&after) - provider_calls(&before), after)
}

#[tokio::test]
async fn objects_over_the_same_keys_refresh_together_and_share_their_provider_calls() {
    let scene = Scene::new("e2e-cycle").await;
    let (sesame, _) = synced_population(&scene, "shared", KEYS, PER_KEY).await;
    let (calls, after) = calls_over_one_steady_cycle(&scene, &sesame).await;
    println!("one refresh cycle of {} objects over {KEYS} keys: {calls} provider calls", KEYS * PER_KEY);
    // One call per key set per cycle; a slow machine may split a set's reads over two windows,
    // and the measured span may catch one set twice. One slot per object would cost ~24.
    assert!(calls <= (2 * KEYS + 1) as f64, "{calls} provider calls for one cycle of {KEYS} shared keys\n{after}");
    scene.delete_namespace().await;
}

const SETS: usize = 40;
const PER_SET: usize = 2;

#[tokio::test]
async fn key_sets_of_a_batching_store_refresh_in_groups_that_share_one_batch() {
    let scene = Scene::new("e2e-groups").await;
    let (sesame, keys) = synced_population(&scene, "set", SETS, PER_SET).await;
    let (calls, after) = calls_over_one_steady_cycle(&scene, &sesame).await;
    println!("one refresh cycle of {} objects over {SETS} key sets: {calls} provider calls", SETS * PER_SET);
    // 40 keys read 20 per call: 2 groups of about 20 keys, each read ahead by its first refresh
    // in one batch (two when the hash gave it more than 20), and the measured span may catch a
    // group twice. A slot per key set costs about one call per set (~40).
    assert!(calls <= 8.0, "{calls} provider calls for one cycle of {SETS} key sets read 20 per call\n{after}");

    // Grouped refreshes still read afresh: a changed value reaches its objects within a cycle.
    let sm = secrets_manager().await;
    sm.put_secret_value().secret_id(&keys[7]).secret_string("changed").send().await.unwrap();
    for i in [7, 7 + SETS] {
        wait_secret_data(&scene, &sesame, &format!("es-{i}"), &map(&[("v", "changed")])).await;
    }
    scene.delete_namespace().await;
}
