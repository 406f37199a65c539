//! The controller's connection to the kube-apiserver goes through the fault proxy (TCP level,
//! TLS passes through untouched): watches are reset, new connections dropped, black-holed and
//! delayed while the store changes. Sesame must recover, converge, and not storm the provider.
use std::net::SocketAddr;
use std::time::Duration;

use super::proxy::{Mode, Proxy};
use super::*;

const N: usize = 40;
const KEYS: usize = 2;

/// A copy of the admin kubeconfig whose server is the proxy.
fn kubeconfig_via(proxy: &Proxy, name: &str) -> PathBuf {
    let env = sesame_testsupport::env();
    let text = std::fs::read_to_string(&env.kubeconfig).expect("read the kubeconfig");
    assert!(text.contains(&env.kube_server), "kubeconfig does not name {}", env.kube_server);
    let text = text.replace(&env.kube_server, &format!("https://{}", proxy.addr));
    let dir = std::env::temp_dir().join("sesame-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-kubeconfig-{}", proxy.addr.port()));
    std::fs::write(&path, text).unwrap();
    path
}

fn apiserver_addr() -> SocketAddr {
    let server = &sesame_testsupport::env().kube_server;
    let hostport = server.strip_prefix("https://").unwrap_or(server).trim_end_matches('/');
    hostport.parse().unwrap_or_else(|e| panic!("kube_server {server} is not https://IP:PORT: {e}"))
}

#[tokio::test]
async fn watch_resets_and_dropped_connections_recover_without_a_provider_storm() {
    let scene = Scene::new("flt-apisrv").await;
    let proxy = Proxy::start(apiserver_addr()).await;
    store(&scene, &remote("w", N, KEYS, 1)).await;
    let monitor = Monitor::start(&scene).await;
    let sesame = Replica::start(&scene.ns, &kubeconfig_via(&proxy, &scene.ns), &scene_args(&scene));
    many(&scene, "w", N, KEYS, "Owner", "Retain").await;
    assert!(wait_all(&scene, "w", N, KEYS, 1, Duration::from_secs(120)).await, "first sync never completed\n{}", sesame.describe());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = sesame.provider_calls().await;
    assert!(baseline > 0.0, "no provider calls counted: is /metrics up?\n{}", sesame.describe());

    // Faults with no change to sync: nothing needs a provider call.
    for _ in 0..3 {
        proxy.reset_all();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    proxy.set(Mode::Drop);
    proxy.reset_all();
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set(Mode::Pass);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after_idle_faults = sesame.provider_calls().await;

    // The store changes while connections are cut, black-holed and slowed.
    proxy.set(Mode::Blackhole);
    proxy.reset_all();
    store(&scene, &remote("w", N, KEYS, 2)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set(Mode::Delay(Duration::from_millis(300)));
    proxy.reset_all();
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set(Mode::Pass);
    proxy.reset_all();
    assert!(
        wait_all(&scene, "w", N, KEYS, 2, Duration::from_secs(180)).await,
        "Secrets did not converge after the apiserver faults ({} of {N} at v2)\n{}",
        count_at(&scene, "w", N, KEYS, 2).await,
        sesame.describe()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let converged = sesame.provider_calls().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle = sesame.provider_calls().await;
    monitor.stop();

    let (checked, bad) = check_histories(&monitor, "w", N, KEYS, 2);
    let one_sync = (N * KEYS) as f64;
    println!(
        "faults apiserver: {} faults injected over {} connections; provider calls: {baseline} to sync, +{} during idle faults, \
         +{} for the store change (one full sync is {one_sync}), +{} idle after; {checked} Secret versions checked, {} lost or emptied",
        proxy.faults(),
        proxy.connections(),
        after_idle_faults - baseline,
        converged - after_idle_faults,
        idle - converged,
        bad.len()
    );
    assert!(bad.is_empty(), "Secrets lost, emptied or flapping:\n{}", bad.join("\n"));
    assert_eq!(after_idle_faults, baseline, "watch reconnects alone caused provider calls (a resync storm)");
    assert!(
        converged - after_idle_faults <= 2.0 * one_sync,
        "the store change cost {} provider calls; one full sync is {one_sync}",
        converged - after_idle_faults
    );
    assert_eq!(idle, converged, "provider calls go on after convergence (a busy loop)");
    assert!(!sesame.logs().contains("panicked"), "sesame panicked\n{}", sesame.describe());
    scene.delete_namespace().await;
}
