//! How vault and Entra ID failures reach the controller: sorted by what it should do about them,
//! naming the cause, never carrying a value or a credential.
#![cfg(feature = "client")]
mod fake;

use std::time::Duration;

use fake::support::{CLIENT_ID, CLIENT_SECRET, Calls, Kube, context, service_principal_spec, service_principal_store};
use fake::{TENANT, VAULT_HOST};
use sesame_provider_core::{ProviderError, RemoteKey};
use std::sync::Arc;

#[tokio::test]
async fn a_missing_secret_or_version_is_not_found_and_names_what_is_missing() {
    let (fake, client, calls) = service_principal_store().await;
    fake.put_secret("present", "value");

    let missing = client.get_secret(&RemoteKey::new("absent")).await.unwrap_err();
    let bad_version = RemoteKey::new("present").with_version(Some("0123456789abcdef0123456789abcdef".into()));
    let missing_version = client.get_secret(&bad_version).await.unwrap_err();
    let missing_key = client.get_secret(&RemoteKey::new("key/absent")).await.unwrap_err();

    assert!(missing.is_not_found(), "{missing:?}");
    assert!(missing.to_string().contains("secret absent") && missing.to_string().contains("SecretNotFound"), "{missing}");
    assert!(missing_version.is_not_found(), "{missing_version:?}");
    assert!(missing_key.is_not_found() && missing_key.to_string().contains("KeyNotFound"), "{missing_key}");
    assert_eq!(calls.0.lock().unwrap().iter().filter(|(_, _, ok)| !ok).count(), 3);
}

#[tokio::test]
async fn a_forbidden_read_is_an_auth_error() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret("payroll", "salaries");
    fake.deny(CLIENT_ID, "payroll");

    let err = client.get_secret(&RemoteKey::new("payroll")).await.unwrap_err();

    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("403") && m.contains("does not have secrets get permission")), "{err:?}");
    assert!(!err.to_string().contains("salaries"));
}

#[tokio::test]
async fn throttling_is_returned_at_once_with_the_vaults_retry_after() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret("busy", "v");
    client.get_secret(&RemoteKey::new("busy")).await.unwrap();
    let before = fake.requests().len();
    fake.fail_next("/secrets/busy", 429, "Throttled", Some("7"));

    let err = client.get_secret(&RemoteKey::new("busy")).await.unwrap_err();

    assert_eq!(err.kind(), "throttled");
    let ProviderError::Throttled { retry_after, message } = err else { unreachable!() };
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
    assert!(message.contains("429"), "{message}");
    // The SDK did not sleep and retry inside the reconcile: one request, one answer.
    assert_eq!(fake.requests().len(), before + 1);
}

#[tokio::test]
async fn server_errors_are_transient() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret("flaky", "v");
    client.get_secret(&RemoteKey::new("flaky")).await.unwrap();
    fake.fail_next("/secrets/flaky", 503, "ServiceUnavailable", None);
    fake.fail_next("/secrets/flaky", 500, "InternalServerError", None);

    let first = client.get_secret(&RemoteKey::new("flaky")).await.unwrap_err();
    let second = client.get_secret(&RemoteKey::new("flaky")).await.unwrap_err();

    assert!(matches!(first, ProviderError::Transient(ref m) if m.contains("503")), "{first:?}");
    assert!(matches!(second, ProviderError::Transient(ref m) if m.contains("500")), "{second:?}");
    assert!(first.is_retryable());
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_auth_error_that_does_not_echo_the_secret() {
    let fake = fake::Fake::start().await;
    fake.add_app(TENANT, CLIENT_ID, CLIENT_SECRET);
    fake.put_secret("db", "v");
    let kube = Kube::new().with_secret("azure-sp", "client-id", CLIENT_ID).with_secret("azure-sp", "client-secret", "wrong-secret-value");
    let calls = Arc::new(Calls::default());
    let client = sesame_provider_azure::build_with(&service_principal_spec(), context(&kube, &calls), &fake.http_settings()).await.unwrap();

    let err = client.get_secret(&RemoteKey::new("db")).await.unwrap_err();

    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("AADSTS7000215")), "{err:?}");
    assert!(!err.to_string().contains("wrong-secret-value"));
    assert!(matches!(client.validate().await, Err(ProviderError::Auth(_))));
}

#[tokio::test]
async fn an_unknown_tenant_is_an_auth_error() {
    let fake = fake::Fake::start().await;
    fake.add_app(TENANT, CLIENT_ID, CLIENT_SECRET);
    let kube = Kube::new().with_secret("azure-sp", "client-id", CLIENT_ID).with_secret("azure-sp", "client-secret", CLIENT_SECRET);
    let mut spec = service_principal_spec();
    spec.tenant_id = Some("00000000-0000-0000-0000-00000000dead".into());
    let calls = Arc::new(Calls::default());
    let client = sesame_provider_azure::build_with(&spec, context(&kube, &calls), &fake.http_settings()).await.unwrap();

    let err = client.get_secret(&RemoteKey::new("db")).await.unwrap_err();

    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("AADSTS90002")), "{err:?}");
}

#[tokio::test]
async fn validate_proves_the_vault_accepts_the_stores_token() {
    let (fake, client, calls) = service_principal_store().await;

    client.validate().await.unwrap();

    let last = fake.requests().into_iter().last().unwrap();
    assert_eq!((last.host.as_str(), last.authorized, last.status), (VAULT_HOST, true, 404));
    assert_eq!(calls.names(), vec!["GetSecret"]);
}

#[tokio::test]
async fn a_store_whose_credentials_are_missing_fails_to_build() {
    let fake = fake::Fake::start().await;
    let kube = Kube::new().with_secret("azure-sp", "client-id", CLIENT_ID);
    let calls = Arc::new(Calls::default());

    let result = sesame_provider_azure::build_with(&service_principal_spec(), context(&kube, &calls), &fake.http_settings()).await;

    assert!(matches!(result, Err(ProviderError::Auth(m)) if m.contains("client-secret")));
}

#[tokio::test]
async fn an_invalid_store_spec_is_reported_as_invalid() {
    let fake = fake::Fake::start().await;
    let kube = Kube::new()
        .with_secret("azure-sp", "client-id", CLIENT_ID)
        .with_secret("azure-sp", "client-secret", CLIENT_SECRET)
        .with_secret("azure-sp", "tls.pem", "not a PEM bundle");
    let calls = Arc::new(Calls::default());
    let ctx = || context(&kube, &calls);
    let build = |spec| {
        let ctx = ctx();
        let settings = fake.http_settings();
        async move { sesame_provider_azure::build_with(&spec, ctx, &settings).await.err().unwrap() }
    };

    let mut plain_http = service_principal_spec();
    plain_http.vault_url = "http://sesame-test.vault.azure.net".into();
    let mut no_tenant = service_principal_spec();
    no_tenant.tenant_id = None;
    let mut german = service_principal_spec();
    german.environment_type = Some(sesame_provider_azure::AzureEnvironmentType::GermanCloud);
    let mut stack = service_principal_spec();
    stack.environment_type = Some(sesame_provider_azure::AzureEnvironmentType::AzureStackCloud);
    let mut cert = service_principal_spec();
    let auth = cert.auth_secret_ref.as_mut().unwrap();
    auth.client_secret = None;
    auth.client_certificate = Some(fake::support::selector("azure-sp", "tls.pem"));

    for (spec, expected) in [
        (plain_http, "must be an https URL"),
        (no_tenant, "missing tenantId"),
        (german, "discontinued"),
        (stack, "requires customCloudConfig"),
        (cert, "no PEM CERTIFICATE found"),
    ] {
        let err = build(spec).await;
        assert!(matches!(&err, ProviderError::Invalid(m) if m.contains(expected)), "{expected}: {err:?}");
    }
}
