//! `kill -9` of the controller in the middle of re-syncing many ExternalSecrets, three times:
//! while it is dead every Secret is the old or the new complete version, and after a restart
//! every Secret converges to the new one.
use std::time::{Duration, Instant};

use super::*;

const N: usize = 60;
const KEYS: usize = 3;
const ROUNDS: u32 = 4;

#[tokio::test]
async fn kill_9_mid_sync_leaves_every_secret_complete_and_a_restart_converges() {
    let scene = Scene::new("flt-crash").await;
    store(&scene, &remote("c", N, KEYS, 1)).await;
    let monitor = Monitor::start(&scene).await;
    let mut sesame = Replica::start(&scene.ns, &kubeconfig(), &scene_args(&scene));
    many(&scene, "c", N, KEYS, "Owner", "Retain").await;
    assert!(wait_all(&scene, "c", N, KEYS, 1, Duration::from_secs(120)).await, "first sync never completed\n{}", sesame.describe());

    let mut kills = 0;
    let mut snapshots = 0;
    for version in 2..=ROUNDS {
        store(&scene, &remote("c", N, KEYS, version)).await;
        // Kill as soon as the first Secret shows the new version: the rest are mid-flight.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut done = 0;
        while Instant::now() < deadline {
            done = count_at(&scene, "c", N, KEYS, version).await;
            if done > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(done > 0, "round {version}: no Secret ever changed\n{}", sesame.describe());
        sesame.kill9();
        kills += 1;

        // Dead controller: nothing moves, and each Secret is one complete version.
        let list = scene.secrets().list(&Default::default()).await.unwrap().items;
        let mut old = 0;
        let mut new = 0;
        for i in 0..N {
            let name = format!("c-{i}");
            let data = list.iter().find(|s| s.metadata.name.as_deref() == Some(name.as_str())).map(text_data);
            snapshots += 1;
            match data.as_ref().and_then(|d| version_of("c", i, KEYS, version, d)) {
                Some(v) if v == version => new += 1,
                Some(v) if v == version - 1 => old += 1,
                other => panic!("round {version}: Secret {name} is {other:?}: {data:?}"),
            }
        }
        println!("faults crash: round {version}: killed with {new} new and {old} old Secrets");

        sesame = Replica::start(&format!("{}-r{version}", scene.ns), &kubeconfig(), &scene_args(&scene));
        assert!(
            wait_all(&scene, "c", N, KEYS, version, Duration::from_secs(120)).await,
            "round {version}: not every Secret converged after the restart\n{}",
            sesame.describe()
        );
    }
    // A moment for stray writes of the last process to show up in the watch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    monitor.stop();
    let (checked, bad) = check_histories(&monitor, "c", N, KEYS, ROUNDS);
    println!(
        "faults crash: {kills} kill -9 injected, {} Secret versions checked ({snapshots} in snapshots), {} lost or emptied",
        checked + snapshots,
        bad.len()
    );
    assert!(bad.is_empty(), "Secrets lost, emptied or flapping:\n{}", bad.join("\n"));
    scene.delete_namespace().await;
}
