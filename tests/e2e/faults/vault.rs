//! OpenBao behind the fault proxy: 503s, resets, dropped and black-holed connections for half a
//! minute while the remote values change. Secrets keep their last good data, the Ready condition
//! goes False and back to True, retries back off (connections counted at the proxy), and the
//! token from the one userpass login is reused after recovery: no login storm.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use super::proxy::{Mode, Proxy};
use super::*;

const N: usize = 10;

fn bao() -> VaultClient {
    let env = sesame_testsupport::env();
    VaultClient::new(VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap()).unwrap()
}

fn bao_addr() -> SocketAddr {
    let url = &sesame_testsupport::env().vault_addr;
    url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/').parse().unwrap_or_else(|e| panic!("vault_addr {url}: {e}"))
}

/// Remote secret `{ns}/b{i}` holds property `k0` with [`expected`]'s value for `version`.
async fn put(bao: &VaultClient, scene: &Scene, i: usize, version: u32) {
    let data = expected("b", i, 1, version);
    vaultrs::kv2::set(bao, "secret", &format!("{}/b{i}", scene.ns), &data).await.expect("write to OpenBao");
}

/// Provider calls of one kind (`Login`, `ReadSecretData`, …) so far.
async fn calls(sesame: &Sesame, call: &str) -> f64 {
    let metrics = sesame.get("/metrics").await.map(|m| m.1).unwrap_or_default();
    sample(&metrics, "externalsecret_provider_api_calls_count{", &["HashiCorp/Vault", &format!("call=\"{call}\"")])
}

#[tokio::test]
async fn openbao_outage_keeps_last_good_data_backs_off_and_reuses_the_token() {
    let scene = Scene::new("flt-bao").await;
    let bao = bao();
    // A userpass login of this test's own (mount and policy named after the namespace).
    let mount = format!("up-{}", scene.ns);
    vaultrs::sys::auth::enable(&bao, &mount, "userpass", None).await.expect("enable userpass");
    let policy = format!(
        "path \"secret/data/{0}/*\" {{ capabilities = [\"read\"] }}\npath \"secret/metadata/{0}/*\" {{ capabilities = [\"read\", \"list\"] }}",
        scene.ns
    );
    vaultrs::sys::policy::set(&bao, &scene.ns, &policy).await.expect("write the policy");
    let password = format!("pw-{}", scene.ns);
    let mut opts = vaultrs::api::auth::userpass::requests::CreateUserRequest::builder();
    vaultrs::auth::userpass::user::set(&bao, &mount, "sesame", &password, Some(opts.token_policies(vec![scene.ns.clone()])))
        .await
        .expect("create the user");
    for i in 0..N {
        put(&bao, &scene, i, 1).await;
    }
    let proxy = Proxy::start(bao_addr()).await;
    scene.plain_secret("bao-login", &[("password", &password)]).await;
    let auth = json!({"userPass": {"path": mount, "username": "sesame", "secretRef": {"name": "bao-login", "key": "password"}}});
    scene
        .store("store", json!({"vault": {"server": format!("http://{}", proxy.addr), "path": "secret", "version": "v2", "auth": auth}}))
        .await;
    let monitor = Monitor::start(&scene).await;
    let sesame = scene.sesame_with(&["--max-backoff", "8s"], &[]);
    for i in 0..N {
        let spec = json!({
            "refreshInterval": "3s",
            "secretStoreRef": {"name": "store"},
            "target": {"name": format!("b-{i}")},
            "data": [{"secretKey": "k0", "remoteRef": {"key": format!("{}/b{i}", scene.ns), "property": "k0"}}],
        });
        scene.external_secret(&format!("b-{i}"), spec).await;
    }
    assert!(wait_all(&scene, "b", N, 1, 1, Duration::from_secs(60)).await, "first sync never completed\n{}", tail(&sesame.logs()));
    let logins_before = calls(&sesame, "Login").await;

    // 28 s of outage in four flavours; the remote values change meanwhile (behind the proxy). The
    // outage starts before they change: a refresh between the two would rightly sync v2.
    let before = proxy.connections();
    let started = Instant::now();
    proxy.set(Mode::Status(503));
    proxy.reset_all();
    for i in 0..N {
        put(&bao, &scene, i, 2).await;
    }
    let mut went_false = false;
    for (mode, secs) in [(Mode::Status(503), 7), (Mode::Reset, 7), (Mode::Drop, 7), (Mode::Blackhole, 7)] {
        proxy.set(mode);
        proxy.reset_all();
        let phase = Instant::now();
        while phase.elapsed() < Duration::from_secs(secs) {
            went_false |= ready_condition(&scene.es("b-0").await).is_some_and(|(s, r, _)| s == "False" && r == "SecretSyncedError");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let outage = started.elapsed();
    let attempts = proxy.connections() - before;
    let kept = count_at(&scene, "b", N, 1, 1).await;
    assert_eq!(kept, N, "Secrets lost their data during the outage");
    // Back, slowly at first: every new connection waits 300 ms.
    proxy.set(Mode::Delay(Duration::from_millis(300)));
    proxy.reset_all();
    let recovered = Instant::now();
    assert!(wait_all(&scene, "b", N, 1, 2, Duration::from_secs(60)).await, "v2 never arrived after the outage\n{}", tail(&sesame.logs()));
    let recovery = recovered.elapsed();
    proxy.set(Mode::Pass);
    for i in 0..N {
        scene.wait_ready(&sesame, &format!("b-{i}"), "True", "SecretSynced").await;
    }
    let logins_after = calls(&sesame, "Login").await;
    monitor.stop();

    let (checked, bad) = check_histories(&monitor, "b", N, 1, 2);
    // Each object retries after 1, 2, 4, 8, 8… s: about 7 times in 28 s, a few HTTP
    // connections each. A busy loop would make hundreds per second.
    let ceiling = (N as f64 * outage.as_secs_f64()) as u64;
    println!(
        "faults vault: {} faults over {outage:?} ({attempts} connection attempts, ceiling {ceiling}), Ready=False seen: {went_false}, \
         recovered in {recovery:?}, logins {logins_before} before and {} after the outage; {checked} Secret versions checked, {} lost or emptied",
        proxy.faults(),
        logins_after - logins_before,
        bad.len()
    );
    assert!(bad.is_empty(), "Secrets lost or emptied during the outage:\n{}", bad.join("\n"));
    assert!(went_false, "the outage never showed as Ready=False");
    assert!(attempts < ceiling, "{attempts} connection attempts in {outage:?}: a retry storm");
    assert!(recovery < Duration::from_secs(30), "recovery took {recovery:?} with an 8 s backoff cap");
    assert_eq!(logins_before, 1.0, "one login serves every ExternalSecret of the store");
    assert_eq!(logins_after, logins_before, "the token was not reused after the outage");
    assert!(!sesame.logs().contains("panicked"), "sesame panicked\n{}", tail(&sesame.logs()));
    assert!(!sesame.logs().contains(&password), "the password reached the log");
    let _ = vaultrs::sys::auth::disable(&bao, &mount).await;
    scene.delete_namespace().await;
}
