//! A provider that answers NotFound for everything (the store emptied) and an empty `find`:
//! Retain keeps every Secret intact, Delete deletes them, Merge empties them, as ESO documents;
//! when the data comes back every Secret is complete again.
use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

const N: usize = 8;
const KEYS: usize = 2;

/// `dataFrom.find` of everything under `/f{i}/`, Retain: an empty result keeps the Secret.
async fn finders(scene: &Scene) {
    for i in 0..N {
        let spec = json!({
            "refreshInterval": "2s",
            "secretStoreRef": {"name": "store"},
            "target": {"name": format!("f-{i}"), "creationPolicy": "Owner", "deletionPolicy": "Retain"},
            "dataFrom": [{"find": {"path": format!("/f{i}/")}}],
        });
        scene.external_secret(&format!("f-{i}"), spec).await;
    }
}

fn found(i: usize, version: u32) -> BTreeMap<String, String> {
    (0..KEYS).map(|j| (format!("_f{i}_k{j}"), format!("v{version}-f{i}-k{j}"))).collect()
}

fn all_remote(version: u32) -> Vec<(String, String)> {
    ["r", "d", "m", "f"].iter().flat_map(|p| remote(p, N, KEYS, version)).collect()
}

async fn data_of(scene: &Scene) -> BTreeMap<String, BTreeMap<String, String>> {
    let list = scene.secrets().list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
    list.iter().map(|s| (s.metadata.name.clone().unwrap_or_default(), text_data(s))).collect()
}

#[tokio::test]
async fn a_provider_with_nothing_left_keeps_retained_secrets_and_applies_delete_and_merge() {
    let scene = Scene::new("flt-notfound").await;
    store(&scene, &all_remote(1)).await;
    let monitor = Monitor::start(&scene).await;
    let sesame = Replica::start(&scene.ns, &kubeconfig(), &scene_args(&scene));
    for (prefix, deletion) in [("r", "Retain"), ("d", "Delete"), ("m", "Merge")] {
        many(&scene, prefix, N, KEYS, "Owner", deletion).await;
    }
    finders(&scene).await;
    let synced = |version: u32| {
        let scene = &scene;
        async move {
            let have = data_of(scene).await;
            (0..N).all(|i| {
                ["r", "d", "m"].iter().all(|p| have.get(&format!("{p}-{i}")) == Some(&expected(p, i, KEYS, version)))
                    && have.get(&format!("f-{i}")) == Some(&found(i, version))
            })
        }
    };
    assert!(eventually(Duration::from_secs(120), || synced(1)).await, "first sync never completed\n{}", sesame.describe());

    // The provider has nothing: every read is NotFound, every find is empty.
    store(&scene, &[]).await;
    let settled = eventually(Duration::from_secs(90), || async {
        let have = data_of(&scene).await;
        (0..N).all(|i| !have.contains_key(&format!("d-{i}")) && have.get(&format!("m-{i}")).is_some_and(BTreeMap::is_empty))
    })
    .await;
    assert!(settled, "Delete/Merge never applied: {:?}\n{}", data_of(&scene).await.keys(), sesame.describe());
    // A sync writes its Secret before its status, and the Retain objects need not come first:
    // wait for the conditions rather than read them once.
    let conditions = || async {
        let mut seen = Vec::new();
        for name in (0..N).flat_map(|i| [format!("r-{i}"), format!("d-{i}")]) {
            seen.push((ready_condition(&scene.es(&name).await).map(|c| (c.0, c.1)), name));
        }
        seen
    };
    let as_policy_says = |(condition, name): &(Option<(String, String)>, String)| match name.starts_with('r') {
        true => condition.as_ref().is_some_and(|c| (c.0.as_str(), c.1.as_str()) == ("False", "SecretSyncedError")),
        false => condition.as_ref().is_some_and(|c| c.1 == "SecretDeleted"),
    };
    let reported = eventually(Duration::from_secs(60), || async { conditions().await.iter().all(as_policy_says) }).await;
    assert!(reported, "Retain must report SecretSyncedError, Delete SecretDeleted: {:?}", conditions().await);
    // Two refresh intervals of the finders pass with an empty result.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let have = data_of(&scene).await;
    for i in 0..N {
        assert_eq!(have.get(&format!("r-{i}")), Some(&expected("r", i, KEYS, 1)), "Retain must keep r-{i}");
        assert_eq!(have.get(&format!("f-{i}")), Some(&found(i, 1)), "an empty find must keep f-{i}");
    }

    // The data comes back: everything is complete again (Delete targets are created anew).
    // A store change re-queues its ExternalSecrets at once: nothing is nudged by hand.
    store(&scene, &all_remote(2)).await;
    assert!(eventually(Duration::from_secs(120), || synced(2)).await, "not restored: {:?}\n{}", data_of(&scene).await, sesame.describe());
    tokio::time::sleep(Duration::from_secs(2)).await;
    monitor.stop();

    let mut checked = 0;
    let mut bad = Vec::new();
    for i in 0..N {
        for (name, allowed) in [
            (format!("r-{i}"), vec![Some(expected("r", i, KEYS, 1)), Some(expected("r", i, KEYS, 2))]),
            (format!("f-{i}"), vec![Some(found(i, 1)), Some(found(i, 2))]),
            (format!("d-{i}"), vec![Some(expected("d", i, KEYS, 1)), None, Some(expected("d", i, KEYS, 2))]),
            (format!("m-{i}"), vec![Some(expected("m", i, KEYS, 1)), Some(BTreeMap::new()), Some(expected("m", i, KEYS, 2))]),
        ] {
            let history = monitor.history(&name);
            checked += history.len();
            // Each Secret goes through its allowed versions in order, skipping none it must show.
            let positions: Vec<Option<usize>> = history.iter().map(|v| allowed.iter().position(|a| a == v)).collect();
            let in_order = positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] <= w[1]);
            if !in_order || history.last() != allowed.last() {
                bad.push(format!("{name}: {history:?}"));
            }
        }
    }
    println!(
        "faults notfound: 1 provider emptied ({} reads NotFound/empty), {checked} Secret versions checked, {} unexpected",
        4 * N,
        bad.len()
    );
    assert!(bad.is_empty(), "Secrets that did not follow their deletionPolicy:\n{}", bad.join("\n"));
    scene.delete_namespace().await;
}
