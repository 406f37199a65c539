//! The Doppler provider against the fake: single reads, find with name transformers and formats,
//! service-token scoping, and every error class. The real request code runs.
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fake::FakeDoppler;
use serde_json::{Value, json};
use sesame_provider_core::{
    CaProvider, CredentialSource, FindLimits, FindName, FindQuery, FindScope, NoCalls, ProviderContext, ProviderError, RemoteKey,
    SecretKeySelector, SecretProvider, SecretValue, ServiceAccountSelector, Unmetered,
};
use sesame_provider_doppler::DopplerProvider;

const TOKEN: &str = "dp.st.prd.0123456789abcdef";

/// The controller's side: the Secret `doppler` holds the token under the default key.
struct Creds(String);

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, default: Option<&str>) -> Result<SecretValue, ProviderError> {
        assert_eq!((sel.name.as_str(), sel.key.as_deref().or(default)), ("doppler", Some("dopplerToken")));
        Ok(SecretValue::from(self.0.as_str()))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        unreachable!()
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        unreachable!()
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        unreachable!()
    }
}

async fn doppler() -> FakeDoppler {
    let fake = FakeDoppler::start().await;
    fake.service_token(TOKEN, "auth-api", "prd");
    fake.personal_token("dp.pt.personal");
    fake.secret("auth-api", "prd", "DB_PASSWORD", "pw-1");
    fake.secret("auth-api", "prd", "API_CONFIG", r#"{"url":"https://x","retries":3}"#);
    fake.secret("auth-api", "prd", "SMTP__USER_NAME", "mailer");
    fake.secret("auth-api", "dev", "DB_PASSWORD", "dev-pw");
    fake
}

async fn client_with(fake: &FakeDoppler, mut store: Value, token: &str) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    store["auth"] = json!({"secretRef": {"dopplerToken": {"name": "doppler"}}});
    let spec: DopplerProvider = serde_json::from_value(store).unwrap();
    let ctx = ProviderContext { credentials: Arc::new(Creds(token.into())), calls: Arc::new(NoCalls) };
    sesame_provider_doppler::build_with_base_url(&spec, ctx, &fake.url).await
}

async fn client(fake: &FakeDoppler, store: Value) -> Arc<dyn SecretProvider> {
    client_with(fake, store, TOKEN).await.expect("the store builds")
}

async fn read(c: &Arc<dyn SecretProvider>, key: &str) -> Result<String, ProviderError> {
    c.get_secret(&RemoteKey::new(key)).await.map(|v| String::from_utf8(v.into_bytes()).unwrap())
}

fn text(map: BTreeMap<String, SecretValue>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, String::from_utf8(v.into_bytes()).unwrap())).collect()
}

fn named(regexp: &str) -> FindQuery {
    FindQuery { name: Some(FindName { regexp: regexp.into() }), ..Default::default() }
}

#[tokio::test]
async fn a_service_token_reads_one_secret_of_its_config() {
    let fake = doppler().await;
    let c = client(&fake, json!({})).await;
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
    assert_eq!(fake.requests(), ["GET /v3/configs/config/secrets/download?secrets=DB_PASSWORD"]);
    let err = read(&c, "MISSING").await.unwrap_err();
    assert!(err.is_not_found() && err.to_string().contains("MISSING"), "{err}");
    c.validate().await.unwrap();
    // Naming another config than the token's is Doppler's 403.
    let other = client(&fake, json!({"project": "auth-api", "config": "dev"})).await;
    assert!(matches!(read(&other, "DB_PASSWORD").await.unwrap_err(), ProviderError::Auth(m) if m.contains("403")));
}

#[tokio::test]
async fn a_personal_token_names_project_and_config() {
    let fake = doppler().await;
    let c = client_with(&fake, json!({"project": "auth-api", "config": "dev"}), "dp.pt.personal").await.unwrap();
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "dev-pw");
    let gone = client_with(&fake, json!({"project": "auth-api", "config": "stg"}), "dp.pt.personal").await.unwrap();
    let err = read(&gone, "DB_PASSWORD").await.unwrap_err();
    assert!(err.is_not_found() && err.to_string().contains("Could not find requested config 'stg'"), "{err}");
}

#[tokio::test]
async fn find_reads_the_whole_config_with_the_name_transformer() {
    let fake = doppler().await;
    let all = client(&fake, json!({})).await.find(&FindQuery::default(), &FindScope::unmetered()).await.unwrap();
    assert_eq!(text(all).keys().collect::<Vec<_>>(), ["API_CONFIG", "DB_PASSWORD", "SMTP__USER_NAME"]);
    let camel = client(&fake, json!({"nameTransformer": "camel"})).await;
    let found = text(camel.find(&named("^db"), &FindScope::unmetered()).await.unwrap());
    assert_eq!(found, BTreeMap::from([("dbPassword".to_string(), "pw-1".to_string())]));
    assert!(fake.requests().last().unwrap().contains("name_transformer=camel"));
    let prefixed = client(&fake, json!({})).await;
    let by_path = FindQuery { path: Some("API_".into()), ..Default::default() };
    assert_eq!(text(prefixed.find(&by_path, &FindScope::unmetered()).await.unwrap()).len(), 1);
    let scope = FindScope::new(&Unmetered, FindLimits { max_matches: 2, max_bytes: 1 << 20 });
    assert!(prefixed.find(&FindQuery::default(), &scope).await.unwrap_err().to_string().contains("--find-max-matches"));
}

#[tokio::test]
async fn a_format_downloads_one_file() {
    let fake = doppler().await;
    let c = client(&fake, json!({"format": "env"})).await;
    let found = text(c.find(&FindQuery::default(), &FindScope::unmetered()).await.unwrap());
    assert_eq!(found.keys().collect::<Vec<_>>(), ["DOPPLER_SECRETS_FILE"]);
    assert!(found["DOPPLER_SECRETS_FILE"].contains("DB_PASSWORD=\"pw-1\"\n"), "{found:?}");
    assert!(fake.requests().last().unwrap().contains("format=env"));
}

#[tokio::test]
async fn errors_are_sorted_by_what_the_controller_does_next() {
    let fake = doppler().await;
    let c = client(&fake, json!({})).await;
    fake.fail("/download", 429, 1, Some(4));
    let err = read(&c, "DB_PASSWORD").await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(4)));
    fake.fail("/download", 502, 1, None);
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap_err().kind(), "transient");
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
    let bad = client_with(&fake, json!({}), "dp.st.revoked").await.unwrap();
    let err = bad.validate().await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("Invalid Auth token")), "{err}");
    assert!(!err.to_string().contains("revoked"), "no token in the message");
}

#[tokio::test]
async fn a_hostile_base_url_or_token_is_refused_before_any_call() {
    let fake = doppler().await;
    let spec: DopplerProvider = serde_json::from_value(json!({"auth": {"secretRef": {"dopplerToken": {"name": "doppler"}}}})).unwrap();
    let ctx = || ProviderContext { credentials: Arc::new(Creds(TOKEN.into())), calls: Arc::new(NoCalls) };
    let err = sesame_provider_doppler::build_with_base_url(&spec, ctx(), "https://api.doppler.com@evil.example").await.err().unwrap();
    assert!(err.to_string().contains("DOPPLER_BASE_URL"), "{err}");
    let err = client_with(&fake, json!({}), "tok\r\nX-Evil: 1").await.err().unwrap();
    assert!(matches!(err, ProviderError::Invalid(m) if m.contains("control characters") && !m.contains("Evil")));
    assert!(fake.requests().is_empty());
}
