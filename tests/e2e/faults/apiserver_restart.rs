//! The kube-apiserver itself goes away: a private apiserver (own etcd, see `private_apiserver`)
//! is stopped with SIGTERM right after a store change, while Sesame is writing, and started
//! again; then etcd is compacted while it is down, so every watch that resumes gets 410 Gone.
//! Secrets stay intact, Sesame relists and converges, and neither event costs a provider call
//! beyond the syncs the store changes need.
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};

use super::private_apiserver::PrivateCluster;
use super::*;

const N: usize = 40;
const KEYS: usize = 2;
/// How long a stopping apiserver may drain its watches before it is killed.
const GRACE: Duration = Duration::from_secs(15);

/// Watch errors with 410 Gone that kube-runtime logged (at debug) in sesame's log so far.
fn gone_seen(sesame: &Replica) -> usize {
    sesame.logs().lines().filter(|l| l.contains("code: 410")).count()
}

/// Sync attempts that failed so far (sesame logs each at warn, naming no value).
fn failed_attempts(sesame: &Replica) -> usize {
    sesame.logs().lines().filter(|l| l.contains("sync failed")).count()
}

/// The provider-call count once it has not moved for longer than the longest retry backoff
/// (`--max-backoff 8s`): retries of attempts the outage broke are all in it.
async fn settled_calls(sesame: &Replica) -> f64 {
    let (quiet, deadline) = (Duration::from_secs(10), std::time::Instant::now() + Duration::from_secs(120));
    let (mut last, mut since) = (sesame.provider_calls().await, std::time::Instant::now());
    while since.elapsed() < quiet {
        assert!(std::time::Instant::now() < deadline, "provider calls never settled (last {last})\n{}", sesame.describe());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = sesame.provider_calls().await;
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        }
    }
    last
}

/// Wait until every Secret holds `version`, or fail naming the `phase`.
async fn converge(scene: &Scene, sesame: &Replica, version: u32, phase: &str) {
    let done = wait_all(scene, "r", N, KEYS, version, Duration::from_secs(180)).await;
    let have = count_at(scene, "r", N, KEYS, version).await;
    assert!(done, "Secrets did not converge {phase} ({have} of {N} at v{version})\n{}", sesame.describe());
}

#[tokio::test]
async fn apiserver_restart_and_410_gone_lose_nothing_and_cause_no_provider_storm() {
    let t0 = std::time::Instant::now();
    let mut cluster = PrivateCluster::start("flt-restart").await;
    let mut phases = vec![("cluster up", t0.elapsed())];
    let mark = |phases: &mut Vec<(&'static str, Duration)>, name| phases.push((name, t0.elapsed()));
    let scene = Scene { client: cluster.client().await, ns: "flt-restart".into(), class: format!("class-{}", std::process::id()) };
    create_namespace(&scene.client, &scene.ns, Default::default()).await;
    store(&scene, &remote("r", N, KEYS, 1)).await;
    let monitor = Monitor::start(&scene).await;
    let mut args = scene_args(&scene);
    args.extend(["--max-backoff".into(), "8s".into()]);
    // kube-runtime's watcher logs each 410 at debug: count them.
    args.push("--log-level=info,sesame=debug,kube_runtime::watcher=debug".into());
    let sesame = Replica::start(&scene.ns, &cluster.kubeconfig, &args);
    many(&scene, "r", N, KEYS, "Owner", "Retain").await;
    assert!(wait_all(&scene, "r", N, KEYS, 1, Duration::from_secs(120)).await, "first sync never completed\n{}", sesame.describe());
    mark(&mut phases, "first sync");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = sesame.provider_calls().await;
    assert!(baseline > 0.0, "no provider calls counted: is /metrics up?\n{}", sesame.describe());
    let one_sync = (N * KEYS) as f64;

    // 1. Stopped mid-sync: the store changes and the apiserver gets SIGTERM while Sesame writes.
    store(&scene, &remote("r", N, KEYS, 2)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut graceful = cluster.stop_apiserver(GRACE).await as u32;
    // While the apiserver is gone every retry fails on its read of the target, before the
    // provider: the outage itself costs no provider call, however many retries it sees (counted
    // once a read sent just before the exit has had time to return).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (calls_down, failed_down) = (sesame.provider_calls().await, failed_attempts(&sesame));
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (calls_up, failed_up) = (sesame.provider_calls().await, failed_attempts(&sesame));
    cluster.start_apiserver().await;
    converge(&scene, &sesame, 2, "after the restart").await;
    mark(&mut phases, "converged after the restart");
    let after_restart = settled_calls(&sesame).await;
    // An attempt that read the provider and then met an apiserver still starting (or stopping)
    // is tried again, and that try reads again: each failure may cost one more read of its keys.
    let failed_after_restart = failed_attempts(&sesame) - failed_up;
    let gone_after_restart = gone_seen(&sesame);

    // 2. Watch expiry: writes Sesame does not watch (another namespace) move etcd past every
    // resourceVersion its watches hold; etcd is compacted there while the apiserver is down, so
    // each resuming watch is answered 410 Gone and must relist.
    let bystander: Api<ConfigMap> = Api::namespaced(scene.client.clone(), "default");
    for i in 0..3 {
        let cm = ConfigMap { metadata: ObjectMeta { name: Some(format!("bystander-{i}")), ..Default::default() }, ..Default::default() };
        bystander.create(&PostParams::default(), &cm).await.expect("write a bystander ConfigMap");
    }
    graceful += cluster.stop_apiserver(GRACE).await as u32;
    let compacted = cluster.compact().await;
    let down = std::time::Instant::now();
    cluster.start_apiserver().await;
    let startup = down.elapsed();
    // Watchers come back on their own backoff (up to ~30 s after an outage).
    let relisted = eventually(Duration::from_secs(60), || async { gone_seen(&sesame) > gone_after_restart }).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_gone = sesame.provider_calls().await;
    let gone_after_compaction = gone_seen(&sesame) - gone_after_restart;

    // 3. Sesame keeps working after the relist: another store change converges.
    store(&scene, &remote("r", N, KEYS, 3)).await;
    converge(&scene, &sesame, 3, "after the 410").await;
    mark(&mut phases, "converged after the 410");
    let converged = settled_calls(&sesame).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let idle = sesame.provider_calls().await;
    monitor.stop();

    let (checked, bad) = check_histories(&monitor, "r", N, KEYS, 3);
    println!("faults apiserver_restart: phases {phases:?}");
    println!(
        "faults apiserver_restart: {} apiserver starts (2 SIGTERM stops, {graceful} exited within {GRACE:?}), apiserver start {startup:?}, etcd compacted at revision {compacted}; \
         410 Gone met by sesame's watchers: {gone_after_restart} after the restart, {gone_after_compaction} after the compaction; \
         failed sync attempts: {} while the apiserver was down (+{} provider calls), {failed_after_restart} after it started; provider calls: {baseline} to sync, +{} for the store change across the restart, \
         +{} after the 410, +{} for the next change (one full sync is {one_sync}), +{} idle; {checked} Secret versions checked, {} lost or emptied",
        cluster.starts,
        failed_up - failed_down,
        calls_up - calls_down,
        after_restart - baseline,
        after_gone - after_restart,
        converged - after_gone,
        idle - converged,
        bad.len()
    );
    assert!(bad.is_empty(), "Secrets lost, emptied or flapping:\n{}", bad.join("\n"));
    assert_eq!(
        calls_up,
        calls_down,
        "retries while the apiserver was down called the provider ({} failed attempts)",
        failed_up - failed_down
    );
    // The change itself, one read after the restart for each object whose write the outage broke,
    // and one more for each attempt that failed after the restart.
    let restart_bound = 2.0 * one_sync + (KEYS * failed_after_restart) as f64;
    assert!(
        after_restart - baseline <= restart_bound,
        "the restart cost {} provider calls; one full sync is {one_sync}, {failed_after_restart} attempts failed after the restart",
        after_restart - baseline
    );
    assert!(relisted && gone_after_compaction > 0, "sesame's watchers never met a 410 Gone after the compaction\n{}", sesame.describe());
    assert_eq!(after_gone, after_restart, "the relist after 410 Gone caused provider calls (a resync storm)");
    assert!(converged - after_gone <= 2.0 * one_sync, "the store change cost {} provider calls", converged - after_gone);
    assert_eq!(idle, converged, "provider calls go on after convergence (a busy loop)");
    assert!(!sesame.logs().contains("panicked"), "sesame panicked\n{}", sesame.describe());
}
