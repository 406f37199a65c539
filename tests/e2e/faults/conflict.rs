//! Another writer keeps editing Secrets Sesame manages: an Owner target (its values overwritten,
//! a key added) is restored to exactly the ExternalSecret's data; a Merge target keeps the other
//! writer's own key with its latest value (no lost update). Once the rival stops, nothing flaps.
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};

use super::*;

fn es(target: &str, creation: &str) -> serde_json::Value {
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "store"},
        "target": {"name": target, "creationPolicy": creation},
        "data": [{"secretKey": "a", "remoteRef": {"key": "/a"}}, {"secretKey": "b", "remoteRef": {"key": "/b"}}],
    })
}

#[tokio::test]
async fn a_rival_writer_neither_wins_an_owned_secret_nor_loses_its_own_merged_key() {
    let scene = Scene::new("flt-rival").await;
    scene.fake_store("store", &[("/a", "1"), ("/b", "2")]).await;
    let shared = Secret {
        metadata: ObjectMeta { name: Some("shared".into()), ..Default::default() },
        data: Some([("theirs".to_string(), ByteString(b"x0".to_vec()))].into()),
        ..Default::default()
    };
    scene.secrets().create(&PostParams::default(), &shared).await.unwrap();
    let sesame = scene.sesame();
    scene.external_secret("owned", es("owned", "Owner")).await;
    scene.external_secret("merged", es("shared", "Merge")).await;
    wait_secret_data(&scene, &sesame, "owned", &map(&[("a", "1"), ("b", "2")])).await;
    wait_secret_data(&scene, &sesame, "shared", &map(&[("a", "1"), ("b", "2"), ("theirs", "x0")])).await;
    let monitor = Monitor::start(&scene).await;

    // The rival: a plain merge-patch client, as `kubectl edit` or another controller would be.
    let started = Instant::now();
    let mut writes = 0;
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(8) {
        writes += 1;
        last = format!("x{writes}");
        let owned = json!({"stringData": {"a": format!("rival-{writes}"), "extra": "rival"}});
        scene.secrets().patch("owned", &PatchParams::default(), &Patch::Merge(&owned)).await.unwrap();
        let theirs = json!({"stringData": {"theirs": last}});
        scene.secrets().patch("shared", &PatchParams::default(), &Patch::Merge(&theirs)).await.unwrap();
        writes += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let want_owned = map(&[("a", "1"), ("b", "2")]);
    let want_shared = map(&[("a", "1"), ("b", "2"), ("theirs", &last)]);
    wait_secret_data(&scene, &sesame, "owned", &want_owned).await;
    wait_secret_data(&scene, &sesame, "shared", &want_shared).await;
    // Settled: the next 5 s bring no write at all.
    let settled = (monitor.history("owned").len(), monitor.history("shared").len());
    tokio::time::sleep(Duration::from_secs(5)).await;
    monitor.stop();
    let after = (monitor.history("owned").len(), monitor.history("shared").len());
    let checked = monitor.observed();
    // Every version of the Merge target keeps the rival's key (its own value or a newer one).
    let lost: Vec<String> = monitor.violations("shared", |d| d.as_ref().is_some_and(|d| d.contains_key("theirs") && d.get("a").is_some()));
    println!(
        "faults conflict: {writes} rival writes, {checked} Secret versions checked, {} lost updates, settled: {}",
        lost.len(),
        settled == after
    );
    assert!(lost.is_empty(), "the rival's key or ours went missing:\n{}", lost.join("\n"));
    assert_eq!(settled, after, "Secrets kept changing after the rival stopped (flapping)");
    assert_eq!(scene.secret_data("owned").await, Some(want_owned));
    assert_eq!(scene.secret_data("shared").await, Some(want_shared));
    scene.delete_namespace().await;
}
