//! Two replicas with leader election under load: the leader is killed in the middle of a store
//! change; the standby takes over within the lease, finishes the job, and no Secret flaps (a
//! flap is what two writers with different views would produce).
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;

use super::*;

const N: usize = 60;
const KEYS: usize = 2;
const LEASE: Duration = Duration::from_secs(6);

fn args(scene: &Scene) -> Vec<String> {
    let mut a = scene_args(scene);
    a.extend([
        "--enable-leader-election".into(),
        "--leader-election-namespace".into(),
        scene.ns.clone(),
        "--leader-election-lease-duration".into(),
        "6s".into(),
    ]);
    a
}

async fn ready(r: &Replica) -> bool {
    eventually(Duration::from_secs(30), || async { matches!(http_get(&format!("{}/readyz", r.metrics_url)).await, Some((200, _))) }).await
}

fn leading(r: &Replica) -> bool {
    r.logs().contains("acquired leadership")
}

#[tokio::test]
async fn leader_killed_mid_store_change_hands_over_within_the_lease_without_flapping() {
    let scene = Scene::new("flt-leader").await;
    store(&scene, &remote("l", N, KEYS, 1)).await;
    let monitor = Monitor::start(&scene).await;
    let mut replicas = vec![
        Replica::start(&format!("{}-a", scene.ns), &kubeconfig(), &args(&scene)),
        Replica::start(&format!("{}-b", scene.ns), &kubeconfig(), &args(&scene)),
    ];
    for r in &replicas {
        assert!(ready(r).await, "replica never ready\n{}", r.describe());
    }
    many(&scene, "l", N, KEYS, "Owner", "Retain").await;
    assert!(wait_all(&scene, "l", N, KEYS, 1, Duration::from_secs(120)).await, "first sync never completed");
    let leaders: Vec<usize> = (0..2).filter(|&i| leading(&replicas[i])).collect();
    assert_eq!(leaders.len(), 1, "exactly one leader, got {leaders:?}");
    let (leader, standby) = (leaders[0], 1 - leaders[0]);

    // Store change; kill the leader as soon as it has written some of it.
    store(&scene, &remote("l", N, KEYS, 2)).await;
    assert!(
        eventually(Duration::from_secs(60), || async { count_at(&scene, "l", N, KEYS, 2).await > 0 }).await,
        "the leader never started on the store change\n{}",
        replicas[leader].describe()
    );
    replicas[leader].kill9();
    let killed = Instant::now();
    let partial = count_at(&scene, "l", N, KEYS, 2).await;
    assert!(
        eventually(LEASE + Duration::from_secs(10), || async { leading(&replicas[standby]) }).await,
        "the standby never took over\n{}",
        replicas[standby].describe()
    );
    let takeover = killed.elapsed();
    assert!(wait_all(&scene, "l", N, KEYS, 2, Duration::from_secs(120)).await, "not converged\n{}", replicas[standby].describe());
    let converged = killed.elapsed();
    let holder = Api::<Lease>::namespaced(scene.client.clone(), &scene.ns).get("sesame-leader").await.unwrap();
    let holder = holder.spec.and_then(|s| s.holder_identity).unwrap_or_default();
    assert!(holder.ends_with(&format!("-{}", replicas[standby].pid())), "lease holder {holder}");

    // A replacement standby joins; another store change with both alive: still one writer.
    replicas.push(Replica::start(&format!("{}-c", scene.ns), &kubeconfig(), &args(&scene)));
    assert!(ready(&replicas[2]).await, "replacement never ready\n{}", replicas[2].describe());
    store(&scene, &remote("l", N, KEYS, 3)).await;
    assert!(wait_all(&scene, "l", N, KEYS, 3, Duration::from_secs(120)).await, "v3 not converged\n{}", replicas[standby].describe());
    assert!(!leading(&replicas[2]), "the replacement must stay standby while the leader lives");
    tokio::time::sleep(Duration::from_secs(3)).await;
    monitor.stop();

    let (checked, bad) = check_histories(&monitor, "l", N, KEYS, 3);
    println!(
        "faults failover: 1 leader kill -9 ({partial}/{N} Secrets at v2 when killed), takeover after {takeover:?} \
         (lease {LEASE:?}), converged after {converged:?}, {checked} Secret versions checked, {} lost, emptied or flapping",
        bad.len()
    );
    assert!(takeover < LEASE + Duration::from_secs(8), "takeover took {takeover:?}, lease is {LEASE:?}");
    assert!(bad.is_empty(), "Secrets lost, emptied or flapping:\n{}", bad.join("\n"));
    scene.delete_namespace().await;
}
