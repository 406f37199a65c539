//! How failures reach the controller: each Google status sorted into the ProviderError the
//! controller acts on, retries where they help, and never a secret value in a message.
mod common;
mod fake;

use common::{KeyStore, PROJECT, READER, text};
use fake::{FakeGcp, RsaKey};
use sesame_provider_core::{ProviderError, RemoteKey};

const DB: &str = "projects/acme-prod/secrets/db";
const ACCESS: &str = "/secrets/db/versions/latest:access";

#[tokio::test]
async fn a_missing_secret_is_not_found() {
    let store = KeyStore::new().await;
    let err = store.build().await.get_secret(&RemoteKey::new("nope")).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("projects/acme-prod/secrets/nope"), "{err}");
}

#[tokio::test]
async fn a_missing_version_is_not_found() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    let err = store.build().await.get_secret(&RemoteKey::new("db").with_version(Some("7".into()))).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn a_secret_without_versions_is_not_found() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    assert!(store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn a_key_without_access_to_the_project_is_permission_denied() {
    let fake = FakeGcp::start().await;
    let outsider = fake.service_account("outsider@other.iam.gserviceaccount.com", "other");
    fake.secret(DB, &[], &[]);
    fake.version(DB, b"v1");
    let store = KeyStore::with_key(fake, outsider.json.into_bytes());
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("PERMISSION_DENIED")), "{err}");
}

#[tokio::test]
async fn a_key_google_does_not_know_is_unauthenticated() {
    let fake = FakeGcp::start().await;
    fake.grant(PROJECT, &format!("serviceAccount:{READER}"));
    let real = fake.service_account(READER, PROJECT);
    // Same account and key id, but a private key the server never issued.
    let forged = real.json.replace(&real.key.pkcs8_pem().replace('\n', "\\n"), &RsaKey::generate().pkcs8_pem().replace('\n', "\\n"));
    assert_ne!(forged, real.json);
    let store = KeyStore::with_key(fake, forged.into_bytes());
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("UNAUTHENTICATED")), "{err}");
}

#[tokio::test]
async fn a_key_secret_that_is_not_json_is_invalid_and_not_echoed() {
    let fake = FakeGcp::start().await;
    let store = KeyStore::with_key(fake, b"hunter2-not-json".to_vec());
    let err = store.try_build().await.err().expect("no store from a broken key");
    assert!(matches!(err, ProviderError::Invalid(_)), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn throttling_is_retried_until_it_succeeds() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    store.fake.fail(ACCESS, 429, "RESOURCE_EXHAUSTED", 2);
    assert_eq!(text(store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap()), "v1");
    assert_eq!(store.fake.count(ACCESS), 3, "two throttled attempts, then the read");
}

#[tokio::test]
async fn persistent_throttling_surfaces_as_throttled() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    store.fake.fail(ACCESS, 429, "RESOURCE_EXHAUSTED", 100);
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(store.fake.count(ACCESS), 4, "bounded attempts");
}

#[tokio::test]
async fn the_services_retry_hint_reaches_the_controller() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    store.fake.throttle(ACCESS, 100, "7s");
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { retry_after: Some(d), .. } if d == std::time::Duration::from_secs(7)), "{err:?}");
}

#[tokio::test]
async fn an_unavailable_service_is_transient() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    store.fake.fail(ACCESS, 503, "UNAVAILABLE", 100);
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient(_)), "{err}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    let fake = FakeGcp::start().await;
    let key = fake.service_account(READER, PROJECT);
    let mut store = KeyStore::with_key(fake, key.json.into_bytes());
    store.fake.url = "http://127.0.0.1:1".into();
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient(_)), "{err}");
}

#[tokio::test]
async fn a_secret_id_with_a_slash_is_invalid() {
    let store = KeyStore::new().await;
    let err = store.build().await.get_secret(&RemoteKey::new("a/b")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Invalid(_)), "{err}");
    assert!(store.fake.requests().is_empty());
}

#[tokio::test]
async fn failures_never_carry_the_payload() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"not-json-s3cr3t");
    let payload = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap();
    let err = sesame_provider_core::property::extract(payload.as_bytes(), "user", "db").unwrap_err();
    assert!(!err.to_string().contains("s3cr3t"));
    assert!(!format!("{payload:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn every_remote_call_is_recorded() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    let p = store.build().await;
    p.get_secret(&RemoteKey::new("db")).await.unwrap();
    p.get_secret(&RemoteKey::new("gone")).await.unwrap_err();
    let calls = store.calls.0.lock().unwrap().clone();
    assert_eq!(calls, [("GCP/SecretManager", "AccessSecretVersion", true), ("GCP/SecretManager", "AccessSecretVersion", false)]);
}

#[tokio::test]
async fn a_payload_that_fails_its_checksum_is_rejected() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    store.fake.lock().corrupt_checksums = true;
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Transient(m) if m.contains("CRC32C")), "{err}");
}

#[tokio::test]
async fn workload_identity_federation_without_a_subject_source_is_invalid_rather_than_replaced_by_another_identity() {
    let mut store = KeyStore::new().await;
    store.spec.auth = Some(serde_json::from_value(serde_json::json!({
        "workloadIdentityFederation": {"audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k"}
    })).unwrap());
    let err = store.try_build().await.err().expect("refused");
    assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("workloadIdentityFederation") && m.contains("exactly one of")), "{err}");
}
