//! `retrySettings` reach the Vault client, as in ESO: a call that fails in a retryable way
//! (unreachable server, 5xx, 429) is sent again `maxRetries` times, `retryInterval` apart.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use sesame_provider_core::{ProviderContext, ProviderError, RemoteKey};
use sesame_provider_vault::VaultKvVersion::V2;
use sesame_provider_vault::{Retries, VaultProvider};

/// A server address where nothing listens.
fn nobody() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

async fn read_with(retries: Retries) -> (ProviderError, Arc<Calls>, Duration) {
    let spec = VaultProvider { server: nobody(), path: Some("secret".into()), version: V2, auth: Some(token_auth()), ..Default::default() };
    let calls = Arc::new(Calls::default());
    let ctx = ProviderContext { credentials: Arc::new(Creds::with(&[("vault-token", "token", b"t")])), calls: calls.clone() };
    let provider = sesame_provider_vault::build_with(&spec, ctx, retries).await.expect("the store builds");
    let start = Instant::now();
    let err = provider.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    (err, calls, start.elapsed())
}

#[tokio::test]
async fn max_retries_resends_a_failed_read_retry_interval_apart() {
    let (err, calls, took) = read_with(Retries::from_settings(Some(2), Some(Duration::from_millis(200)))).await;
    assert!(matches!(err, ProviderError::Transient(_)), "{err}");
    assert_eq!(calls.count("ReadSecretData"), 3, "the first attempt and two retries");
    assert!(took >= Duration::from_millis(400), "two waits of retryInterval: {took:?}");
}

#[tokio::test]
async fn without_retry_settings_or_max_retries_a_read_is_sent_once() {
    let (_, calls, _) = read_with(Retries::default()).await;
    assert_eq!(calls.count("ReadSecretData"), 1);
    // retrySettings with only retryInterval: ESO sets MaxRetries to 0.
    let (_, calls, _) = read_with(Retries::from_settings(None, Some(Duration::from_millis(10)))).await;
    assert_eq!(calls.count("ReadSecretData"), 1);
}

#[test]
fn retry_settings_are_bounded() {
    let r = Retries::from_settings(Some(1000), Some(Duration::from_secs(3600)));
    assert_eq!(r.max_retries, 10);
    assert_eq!(r.interval, Duration::from_secs(30));
}
