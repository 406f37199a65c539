//! Token reuse over time on the real OpenBao server: renewal before expiry, a fresh login when
//! the token reaches its max TTL or is revoked behind Sesame's back, never a login per read.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use sesame_provider_core::RemoteKey;
use sesame_provider_vault::VaultKvVersion::V2;

async fn setup(role: serde_json::Value) -> (Bao, String, std::sync::Arc<dyn sesame_provider_core::SecretProvider>, std::sync::Arc<Calls>) {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "app", json!({"v": "ok"})).await;
    let policy = bao.reader_policy(&mount).await;
    let (auth, role_id, secret_id) = approle(&bao, &[&policy], role).await;
    let creds = Creds::with(&[("approle", "secret-id", secret_id.as_bytes())]);
    let (provider, calls) = build(&store(&bao, &mount, V2, approle_auth(&auth, &role_id)), creds).await;
    (bao, auth, provider, calls)
}

async fn read(provider: &dyn sesame_provider_core::SecretProvider) {
    let v = provider.get_secret(&RemoteKey::new("app")).await.expect("read");
    assert_eq!(json_of(v)["v"], "ok");
}

#[tokio::test]
async fn a_short_lived_token_is_renewed_instead_of_logging_in_again() {
    // 3 s TTL, renewable up to a minute: renew-self keeps the one login alive.
    let (bao, auth, provider, calls) = setup(json!({"token_ttl": "3s", "token_max_ttl": "60s"})).await;
    read(provider.as_ref()).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        read(provider.as_ref()).await;
    }
    assert_eq!(calls.count("Login"), 1, "8 s of reads on a 3 s token: still the first login");
    assert!(calls.count("RenewSelf") >= 2, "renewed {} times", calls.count("RenewSelf"));
    assert_eq!(calls.failed("ReadSecretData"), 0, "no read ever met an expired token");
    assert_eq!(live_logins(&bao, &auth).await, 1);
}

#[tokio::test]
async fn an_idle_client_keeps_its_token_alive_in_the_background() {
    let (_bao, _auth, provider, calls) = setup(json!({"token_ttl": "3s", "token_max_ttl": "60s"})).await;
    read(provider.as_ref()).await;
    // No reads while the background renewer renews the token twice (past two full 3 s TTLs).
    wait_for("two background renewals", || calls.count("RenewSelf") >= 2).await;
    read(provider.as_ref()).await;
    assert_eq!(calls.count("Login"), 1);
}

#[tokio::test]
async fn a_token_at_its_max_ttl_is_replaced_by_a_fresh_login() {
    // Renewals cannot pass 4 s: a new login happens then, and no read fails.
    let (bao, auth, provider, calls) = setup(json!({"token_ttl": "2s", "token_max_ttl": "4s"})).await;
    for _ in 0..10 {
        read(provider.as_ref()).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let logins = calls.count("Login");
    assert!((2..=5).contains(&logins), "10 s of reads on 4 s max-TTL tokens took {logins} logins");
    assert_eq!(calls.failed("ReadSecretData"), 0);
    assert!(live_logins(&bao, &auth).await <= 2);
}

#[tokio::test]
async fn a_token_revoked_behind_our_back_costs_one_login_and_the_read_still_succeeds() {
    let (bao, auth, provider, calls) = setup(json!({})).await;
    read(provider.as_ref()).await;
    bao.must("PUT", &format!("sys/leases/revoke-prefix/auth/{auth}/login"), None).await;
    assert_eq!(live_logins(&bao, &auth).await, 0);

    read(provider.as_ref()).await;
    assert_eq!(calls.count("Login"), 2);
    assert_eq!(calls.count("LookupSelf"), 1, "lookup-self told a dead token from a policy denial");
    assert_eq!(calls.failed("ReadSecretData"), 1);
    read(provider.as_ref()).await;
    assert_eq!(calls.count("Login"), 2);
}

#[tokio::test]
async fn a_rotated_token_secret_is_picked_up_when_the_old_token_dies() {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "app", json!({"v": "ok"})).await;
    let policy = bao.reader_policy(&mount).await;
    let old = bao.token(&[&policy], json!({})).await;
    let creds = std::sync::Arc::new(Creds::with(&[("vault-token", "token", old.as_bytes())]));
    let calls = std::sync::Arc::new(Calls::default());
    let ctx = sesame_provider_core::ProviderContext { credentials: creds.clone(), calls: calls.clone() };
    let provider = sesame_provider_vault::build(&store(&bao, &mount, V2, token_auth()), ctx).await.unwrap();
    read(provider.as_ref()).await;

    let new = bao.token(&[&policy], json!({})).await;
    creds.set("vault-token", "token", new.as_bytes());
    bao.must("POST", "auth/token/revoke", Some(json!({"token": old}))).await;
    read(provider.as_ref()).await;
    assert_eq!(calls.count("Login"), 0, "a token from a Secret is read, not logged in for");
}

#[tokio::test]
async fn a_hundred_external_secrets_over_three_refresh_cycles_cost_one_login() {
    // 100 remote secrets read each cycle (one per ExternalSecret), cycles 2 s apart on a token
    // with a 3 s TTL: ESO would log in 300 times (once per reconcile); Sesame logs in once.
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    for i in 0..100 {
        bao.put2(&mount, &format!("es/{i}"), json!({"v": i.to_string()})).await;
    }
    let policy = bao.reader_policy(&mount).await;
    let (auth, role_id, secret_id) = approle(&bao, &[&policy], json!({"token_ttl": "3s", "token_max_ttl": "1h"})).await;
    let creds = Creds::with(&[("approle", "secret-id", secret_id.as_bytes())]);
    let (provider, calls) = build(&store(&bao, &mount, V2, approle_auth(&auth, &role_id)), creds).await;

    let keys: Vec<RemoteKey> = (0..100).map(|i| RemoteKey::new(format!("es/{i}"))).collect();
    for cycle in 0..3 {
        if cycle > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let results = provider.get_secrets(&keys).await;
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(json_of(r.expect("read"))["v"], i.to_string());
        }
    }
    println!(
        "100 ExternalSecrets x 3 refresh cycles: {} logins, {} renewals, {} reads",
        calls.count("Login"),
        calls.count("RenewSelf"),
        calls.count("ReadSecretData")
    );
    assert_eq!(calls.count("Login"), 1);
    assert_eq!(calls.count("ReadSecretData"), 300);
    assert!(calls.count("RenewSelf") >= 1);
    assert_eq!(live_logins(&bao, &auth).await, 1);
}

#[tokio::test]
async fn validate_logs_in_again_when_the_cached_token_was_revoked() {
    let (bao, auth, provider, calls) = setup(json!({})).await;
    provider.validate().await.unwrap();
    bao.must("PUT", &format!("sys/leases/revoke-prefix/auth/{auth}/login"), None).await;
    provider.validate().await.expect("validate recovers with a fresh login");
    assert_eq!(calls.count("Login"), 2);
}

#[tokio::test]
async fn a_failed_refresh_keeps_using_the_live_token_until_it_expires() {
    // A single-use secret ID: the second login is refused. The first token (6 s, not extendable
    // past that) still serves reads until it expires; then reads fail as auth errors.
    let (_bao, _auth, provider, calls) = setup(json!({"token_ttl": "6s", "token_max_ttl": "6s", "secret_id_num_uses": 1})).await;
    read(provider.as_ref()).await;
    // At two thirds of the TTL the renewer tries a fresh login, which is refused ...
    wait_for("a refused fresh login", || calls.failed("Login") >= 1).await;
    // ... and the live token (a third of its TTL left) still serves reads.
    read(provider.as_ref()).await;
    // Once it expires, reads fail as auth errors, never as anything else.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let err = loop {
        match provider.get_secret(&RemoteKey::new("app")).await {
            Ok(_) => assert!(std::time::Instant::now() < deadline, "the 6 s token still works after 30 s"),
            Err(e) => break e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(matches!(err, sesame_provider_core::ProviderError::Auth(_)), "{err}");
}

/// Poll `done` until it holds; fail after 30 s.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
