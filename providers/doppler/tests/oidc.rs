//! `auth.oidcConfig` against the fake: the ServiceAccount token is minted for ESO's audiences,
//! exchanged at `/v3/auth/oidc`, the API token reused until a minute before its expiry, and a
//! refused exchange is an auth error that shows no token.
mod fake;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use fake::FakeDoppler;
use serde_json::json;
use sesame_provider_core::{
    CaProvider, CredentialSource, NoCalls, ProviderContext, ProviderError, RemoteKey, SecretKeySelector, SecretValue,
    ServiceAccountSelector,
};
use sesame_provider_doppler::DopplerProvider;

/// The controller's side: TokenRequests recorded, answered with an unsigned JWT whose claims
/// are the ones the apiserver would put in.
#[derive(Default)]
struct Minter {
    requests: Mutex<Vec<TokenRequest>>,
}

/// ServiceAccount, audiences, expirationSeconds.
type TokenRequest = (String, Vec<String>, Option<i64>);

#[async_trait]
impl CredentialSource for Minter {
    async fn secret_key(&self, _: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        unreachable!("an OIDC store reads no Secret")
    }
    async fn service_account_token(&self, sa: &ServiceAccountSelector, aud: &[String], exp: Option<i64>) -> Result<String, ProviderError> {
        self.requests.lock().unwrap().push((sa.name.clone(), aud.to_vec(), exp));
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = json!({"sub": format!("system:serviceaccount:apps:{}", sa.name), "aud": aud});
        Ok(format!("{}.{}.c2ln", b64(json!({"alg": "RS256"})), b64(claims)))
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        unreachable!()
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        unreachable!()
    }
    fn store_audience(&self) -> Option<String> {
        Some("secretStore:apps:doppler".into())
    }
}

async fn fake(ttl: i64) -> FakeDoppler {
    let fake = FakeDoppler::start().await;
    fake.secret("auth-api", "prd", "DB_PASSWORD", "pw-1");
    fake.oidc_identity("id-1", "system:serviceaccount:apps:doppler-oidc-sa", "secretStore:apps:doppler", ttl);
    fake
}

fn store(identity: &str) -> DopplerProvider {
    serde_json::from_value(json!({
        "auth": {"oidcConfig": {"identity": identity, "serviceAccountRef": {"name": "doppler-oidc-sa"}, "expirationSeconds": 900}},
        "project": "auth-api", "config": "prd"
    }))
    .unwrap()
}

#[tokio::test]
async fn an_oidc_store_exchanges_one_service_account_token_and_reuses_the_api_token() {
    let fake = fake(3600).await;
    let minter = Arc::new(Minter::default());
    let ctx = ProviderContext { credentials: minter.clone(), calls: Arc::new(NoCalls) };
    let client = sesame_provider_doppler::build_with_base_url(&store("id-1"), ctx, &fake.url).await.expect("the exchange succeeds");
    for _ in 0..3 {
        assert_eq!(client.get_secret(&RemoteKey::new("DB_PASSWORD")).await.unwrap(), SecretValue::from("pw-1"));
    }
    let requests = minter.requests.lock().unwrap().clone();
    assert_eq!(requests, vec![("doppler-oidc-sa".into(), vec![fake.url.clone(), "secretStore:apps:doppler".into()], Some(900))]);
    assert_eq!(fake.exchanged().len(), 1, "the API token is kept while it lives");
    client.validate().await.unwrap();
}

#[tokio::test]
async fn a_token_within_a_minute_of_its_expiry_is_exchanged_anew() {
    let fake = fake(30).await;
    let ctx = ProviderContext { credentials: Arc::new(Minter::default()), calls: Arc::new(NoCalls) };
    let client = sesame_provider_doppler::build_with_base_url(&store("id-1"), ctx, &fake.url).await.unwrap();
    client.get_secret(&RemoteKey::new("DB_PASSWORD")).await.unwrap();
    client.get_secret(&RemoteKey::new("DB_PASSWORD")).await.unwrap();
    assert_eq!(fake.exchanged().len(), 3, "the build's exchange and one per read");
}

#[tokio::test]
async fn a_refused_exchange_is_an_auth_error_without_the_token() {
    let fake = fake(3600).await;
    fake.oidc_identity("id-other", "system:serviceaccount:apps:someone-else", "secretStore:apps:doppler", 3600);
    for identity in ["id-other", "id-missing"] {
        let ctx = ProviderContext { credentials: Arc::new(Minter::default()), calls: Arc::new(NoCalls) };
        let err = sesame_provider_doppler::build_with_base_url(&store(identity), ctx, &fake.url).await.err().unwrap();
        let ProviderError::Auth(message) = &err else { panic!("{err:?}") };
        assert!(message.contains("/v3/auth/oidc") && !message.contains("c2ln"), "{message}");
    }
    assert!(fake.requests().iter().all(|r| !r.contains("download")), "no read without a token");
}

#[tokio::test]
async fn a_refused_api_token_is_forgotten_and_the_next_call_exchanges_anew() {
    let fake = fake(3600).await;
    let ctx = ProviderContext { credentials: Arc::new(Minter::default()), calls: Arc::new(NoCalls) };
    let client = sesame_provider_doppler::build_with_base_url(&store("id-1"), ctx, &fake.url).await.unwrap();
    // Doppler revokes the identity's tokens (an admin rotated it).
    fake.lock().tokens.clear();
    let err = client.get_secret(&RemoteKey::new("DB_PASSWORD")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err:?}");
    assert_eq!(client.get_secret(&RemoteKey::new("DB_PASSWORD")).await.unwrap(), SecretValue::from("pw-1"));
    assert_eq!(fake.exchanged().len(), 2, "one exchange at build, one after the refusal");
}
