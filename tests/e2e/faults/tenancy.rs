//! An attacker's ExternalSecrets in another namespace: they cannot read the victim's namespaced
//! SecretStore, cannot use a ClusterSecretStore whose conditions exclude them, and cannot take
//! over a Secret they do not manage (unmanaged, or owned by another ExternalSecret). Nothing of
//! the victim's shows up in the attacker's namespace, statuses, Events or controller log.
use std::time::Duration;

use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ObjectMeta, PostParams};

use super::*;
use crate::harness::apply;

const VALUE: &str = "VICTIM-PASSWORD-7f3a9c";

fn es(store: &str, kind: &str, key: &str, target: &str) -> serde_json::Value {
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": store, "kind": kind},
        "target": {"name": target, "creationPolicy": "Owner"},
        "data": [{"secretKey": "loot", "remoteRef": {"key": key}}],
    })
}

async fn failed_with(scene: &Scene, sesame: &Replica, name: &str, needle: &str) -> String {
    let ok = eventually(Duration::from_secs(30), || async {
        ready_condition(&scene.es(name).await).is_some_and(|(s, _, m)| s == "False" && m.contains(needle))
    })
    .await;
    let condition = ready_condition(&scene.es(name).await);
    assert!(ok, "{name}: want Ready=False mentioning {needle:?}, got {condition:?}\n{}", sesame.describe());
    condition.unwrap().2
}

#[tokio::test]
async fn an_attacker_in_another_namespace_gets_nothing_and_takes_over_nothing() {
    let victim = Scene::new("flt-victim").await;
    let attacker = Scene::new("flt-attacker").await;
    victim.fake_store("store", &[("/db", VALUE)]).await;
    let victim_sesame = Replica::start(&victim.ns, &kubeconfig(), &scene_args(&victim));
    victim.external_secret("legit", es("store", "SecretStore", "/db", "creds")).await;
    let have = eventually(Duration::from_secs(60), || async { victim.secret_data("creds").await == Some(map(&[("loot", VALUE)])) });
    assert!(have.await, "the victim's own sync failed\n{}", victim_sesame.describe());

    // The attacker's own store, and a ClusterSecretStore (of the attacker's controller) that only
    // the victim's namespace may use.
    attacker.fake_store("own", &[("/x", "attacker-value")]).await;
    let css = format!("css-{}", attacker.class);
    let mut body = fake_store_json(&css, None, &attacker.class, &[("/db", VALUE)], "ClusterSecretStore");
    body["spec"]["conditions"] = json!([{"namespaces": [victim.ns]}]);
    apply(&attacker.client, "", "clustersecretstores", &css, body).await;
    let secret = |name: &str, data: &[(&str, &str)]| Secret {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
        ..Default::default()
    };
    attacker.secrets().create(&PostParams::default(), &secret("unmanaged", &[("mine", "precious")])).await.unwrap();
    let monitor = Monitor::start(&attacker).await;
    let sesame = Replica::start(&attacker.ns, &kubeconfig(), &scene_args(&attacker));
    attacker.external_secret("owner-es", es("own", "SecretStore", "/x", "shared")).await;
    let owned =
        eventually(Duration::from_secs(60), || async { attacker.secret_data("shared").await == Some(map(&[("loot", "attacker-value")])) });
    assert!(owned.await, "owner-es never synced\n{}", sesame.describe());

    attacker.external_secret("steal-store", es("store", "SecretStore", "/db", "loot-1")).await;
    attacker.external_secret("steal-css", es(&css, "ClusterSecretStore", "/db", "loot-2")).await;
    attacker.external_secret("take-unmanaged", es("own", "SecretStore", "/x", "unmanaged")).await;
    attacker.external_secret("hijack", es("own", "SecretStore", "/x", "shared")).await;
    let mut messages = vec![
        failed_with(&attacker, &sesame, "steal-store", "not found").await,
        failed_with(&attacker, &sesame, "steal-css", "not allowed").await,
        failed_with(&attacker, &sesame, "take-unmanaged", "not managed").await,
        failed_with(&attacker, &sesame, "hijack", "owned by another ExternalSecret").await,
    ];
    tokio::time::sleep(Duration::from_secs(3)).await;
    monitor.stop();

    assert!(attacker.secret("loot-1").await.is_none(), "the victim's SecretStore was read from another namespace");
    assert!(attacker.secret("loot-2").await.is_none(), "a ClusterSecretStore ignored its conditions");
    assert_eq!(attacker.secret_data("unmanaged").await, Some(map(&[("mine", "precious")])), "unmanaged Secret taken over");
    let mut bad = Vec::new();
    bad.extend(monitor.violations("unmanaged", |d| d.as_ref() == Some(&map(&[("mine", "precious")]))));
    bad.extend(monitor.violations("shared", |d| d.as_ref() == Some(&map(&[("loot", "attacker-value")]))));
    let checked = monitor.observed();
    for name in ["steal-store", "steal-css", "take-unmanaged", "hijack"] {
        messages.extend(events_for(&attacker.client, &attacker.ns, name).await.into_iter().map(|e| e.2));
    }
    let leaks: Vec<&String> = messages.iter().filter(|m| m.contains(VALUE)).collect();
    let log_leak = sesame.logs().contains(VALUE) || victim_sesame.logs().contains(VALUE);
    println!(
        "faults tenancy: 4 attacks, {checked} Secret versions checked, {} taken over, {} leaks in {} status/Event texts, log leak: {log_leak}",
        bad.len(),
        leaks.len(),
        messages.len()
    );
    assert!(bad.is_empty(), "Secrets changed by the attacker:\n{}", bad.join("\n"));
    assert!(leaks.is_empty() && !log_leak, "the victim's value leaked: {leaks:?}");
    let _ = Api::<sesame::api::ClusterSecretStore>::all(attacker.client.clone()).delete(&css, &DeleteParams::default()).await;
    attacker.delete_namespace().await;
    victim.delete_namespace().await;
}
