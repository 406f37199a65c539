//! Two replicas: exactly one leads and writes; when it dies the other takes over.
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

use crate::harness::*;

fn spec(key: &str) -> serde_json::Value {
    json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": key}}]})
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_fail_over_within_the_lease() {
    let scene = Scene::new("leader").await;
    scene.fake_store("store", &[("/a", "1"), ("/b", "2")]).await;
    let args = |_: u8| {
        vec![
            "--namespace".to_string(),
            scene.ns.clone(),
            "--controller-class".to_string(),
            scene.class.clone(),
            "--enable-leader-election".to_string(),
            "--leader-election-namespace".to_string(),
            scene.ns.clone(),
            "--leader-election-lease-duration".to_string(),
            "6s".to_string(),
        ]
    };
    let start = |i: u8| {
        let a = args(i);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        Sesame::start(&format!("{}-{i}", scene.ns), &refs)
    };
    let mut replicas = [start(1), start(2)];
    for r in &replicas {
        r.wait_ready().await;
    }
    scene.external_secret("first", spec("/a")).await;
    wait_secret_data(&scene, &replicas[0], "first", &map(&[("k", "1")])).await;

    let leases: Api<Lease> = Api::namespaced(scene.client.clone(), &scene.ns);
    let holder = leases.get("sesame-leader").await.unwrap().spec.unwrap().holder_identity.unwrap();
    let leaders: Vec<usize> = (0..2).filter(|&i| replicas[i].logs().contains("acquired leadership")).collect();
    assert_eq!(leaders.len(), 1, "exactly one replica leads");
    let leader = leaders[0];
    assert!(holder.ends_with(&format!("-{}", replicas[leader].pid())), "lease holder {holder}");
    let standby = 1 - leader;
    assert!(!replicas[standby].logs().contains("caches synced"), "the standby must not run controllers");

    replicas[leader].kill9();
    let killed_at = Instant::now();
    scene.external_secret("second", spec("/b")).await;
    wait_secret_data(&scene, &replicas[standby], "second", &map(&[("k", "2")])).await;
    let gap = killed_at.elapsed();
    assert!(gap < Duration::from_secs(6 + 8), "takeover took {gap:?}");
    assert!(replicas[standby].logs().contains("acquired leadership"));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_hands_the_lease_over_at_once() {
    let scene = Scene::new("sigterm").await;
    let mut first = Sesame::start(
        &scene.ns,
        &[
            "--namespace",
            &scene.ns,
            "--controller-class",
            &scene.class,
            "--enable-leader-election",
            "--leader-election-namespace",
            &scene.ns,
            "--leader-election-lease-duration",
            "60s",
        ],
    );
    first.wait_ready().await;
    assert!(eventually(Duration::from_secs(20), || async { first.logs().contains("caches synced") }).await);
    assert_eq!(first.terminate(), Some(0), "exit status after SIGTERM\n{}", tail(&first.logs()));
    assert!(first.exited());
    let leases: Api<Lease> = Api::namespaced(scene.client.clone(), &scene.ns);
    let holder = leases.get("sesame-leader").await.unwrap().spec.unwrap().holder_identity;
    assert!(holder.is_none(), "the lease was not released: {holder:?}");
    // A new replica leads at once instead of waiting out the 60 s lease.
    let second = Sesame::start(
        &format!("{}-2", scene.ns),
        &[
            "--namespace",
            &scene.ns,
            "--controller-class",
            &scene.class,
            "--enable-leader-election",
            "--leader-election-namespace",
            &scene.ns,
            "--leader-election-lease-duration",
            "60s",
        ],
    );
    assert!(eventually(Duration::from_secs(15), || async { second.logs().contains("acquired leadership") }).await);
    scene.delete_namespace().await;
}
