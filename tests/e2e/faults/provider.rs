//! The provider goes away (AWS Secrets Manager on moto behind the fault proxy): 503s, 429s,
//! resets and dropped connections for half a minute. Secrets keep their last good data the whole
//! time, the Ready condition goes False with a reason and back to True, and retries back off
//! instead of hammering the provider.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::proxy::{Mode, Proxy};
use super::*;

const N: usize = 10;

fn moto_addr() -> SocketAddr {
    let url = &sesame_testsupport::env().aws_endpoint;
    url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/').parse().unwrap_or_else(|e| panic!("aws_endpoint {url}: {e}"))
}

fn want(scene: &Scene, i: usize, version: u32) -> BTreeMap<String, String> {
    map(&[("v", &format!("v{version}-{}-{i}", scene.ns))])
}

#[tokio::test]
async fn provider_outage_keeps_last_good_data_reports_it_and_backs_off() {
    let scene = Scene::new("flt-aws").await;
    let sm = crate::providers::secrets_manager().await;
    let proxy = Proxy::start(moto_addr()).await;
    for i in 0..N {
        let name = format!("{}/s{i}", scene.ns);
        sm.create_secret().name(&name).secret_string(want(&scene, i, 1)["v"].clone()).send().await.unwrap();
    }
    scene
        .plain_secret("aws-creds", &[("id", sesame_testsupport::AWS_ACCESS_KEY_ID), ("secret", sesame_testsupport::AWS_SECRET_ACCESS_KEY)])
        .await;
    let auth = json!({"secretRef": {
        "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
        "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"},
    }});
    let region = sesame_testsupport::env().aws_region.clone();
    scene.store("store", json!({"aws": {"service": "SecretsManager", "region": region, "auth": auth}})).await;
    let monitor = Monitor::start(&scene).await;
    let endpoint = format!("http://{}", proxy.addr);
    let sesame = scene.sesame_with(&["--max-backoff", "8s"], &[("AWS_ENDPOINT_URL", &endpoint), ("AWS_EC2_METADATA_DISABLED", "true")]);
    for i in 0..N {
        let spec = json!({
            "refreshInterval": "3s",
            "secretStoreRef": {"name": "store"},
            "target": {"name": format!("p-{i}")},
            "data": [{"secretKey": "v", "remoteRef": {"key": format!("{}/s{i}", scene.ns)}}],
        });
        scene.external_secret(&format!("p-{i}"), spec).await;
    }
    for i in 0..N {
        wait_secret_data(&scene, &sesame, &format!("p-{i}"), &want(&scene, i, 1)).await;
    }

    // 32 s of outage in four flavours; the remote values change meanwhile (behind the proxy).
    let before = proxy.connections();
    let started = Instant::now();
    // The outage starts before the values change: a refresh between the two would rightly sync v2.
    proxy.set(Mode::Status(503));
    proxy.reset_all();
    for i in 0..N {
        sm.put_secret_value().secret_id(format!("{}/s{i}", scene.ns)).secret_string(want(&scene, i, 2)["v"].clone()).send().await.unwrap();
    }
    let mut went_false = false;
    for mode in [Mode::Status(503), Mode::Status(429), Mode::Reset, Mode::Drop] {
        proxy.set(mode);
        proxy.reset_all();
        let phase = Instant::now();
        while phase.elapsed() < Duration::from_secs(8) {
            went_false |= ready_condition(&scene.es("p-0").await).is_some_and(|(s, r, _)| s == "False" && r == "SecretSyncedError");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let outage = started.elapsed();
    let attempts = proxy.connections() - before;
    // Whatever the outage did, every Secret still holds complete v1 data.
    for i in 0..N {
        assert_eq!(scene.secret_data(&format!("p-{i}")).await, Some(want(&scene, i, 1)), "p-{i} lost its data during the outage");
    }
    proxy.set(Mode::Pass);
    let recovered = Instant::now();
    for i in 0..N {
        wait_secret_data(&scene, &sesame, &format!("p-{i}"), &want(&scene, i, 2)).await;
    }
    let recovery = recovered.elapsed();
    scene.wait_ready(&sesame, "p-0", "True", "SecretSynced").await;
    monitor.stop();

    let mut checked = 0;
    let mut bad = Vec::new();
    for i in 0..N {
        let name = format!("p-{i}");
        let ok = [Some(want(&scene, i, 1)), Some(want(&scene, i, 2))];
        checked += monitor.history(&name).len();
        bad.extend(monitor.violations(&name, |d| ok.contains(d)));
    }
    // A busy loop would retry each object every few milliseconds; backoff (1 s doubling, capped
    // at 8 s) plus the SDK's own retries stays far below one attempt per object per 100 ms.
    let ceiling = (N as f64 * outage.as_secs_f64() * 10.0) as u64;
    println!(
        "faults provider: {} faults over {outage:?} ({attempts} connection attempts, ceiling {ceiling}), Ready=False seen: {went_false}, \
         recovered in {recovery:?}; {checked} Secret versions checked, {} lost or emptied",
        proxy.faults(),
        bad.len()
    );
    assert!(bad.is_empty(), "Secrets lost or emptied during the outage:\n{}", bad.join("\n"));
    assert!(went_false, "the outage never showed as Ready=False");
    assert!(attempts < ceiling, "{attempts} connection attempts in {outage:?}: a retry storm");
    assert!(recovery < Duration::from_secs(30), "recovery took {recovery:?} with an 8 s backoff cap");
    scene.delete_namespace().await;
}
