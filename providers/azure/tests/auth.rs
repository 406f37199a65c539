//! The three ways a store authenticates — service principal, workload identity, managed identity —
//! each against the fake Entra ID (or IMDS), with tokens cached per identity.
#![cfg(feature = "client")]
mod fake;

use std::sync::Arc;

use fake::support::{CLUSTER_ISSUER, Calls, Kube, NAMESPACE, context, service_principal_store, text};
use fake::{CUSTOM_LOGIN_HOST, Fake, LOGIN_HOST, TENANT, VAULT_URL};
use sesame_provider_azure::{ANNOTATION_CLIENT_ID, AzureKvProvider, build_with};
use sesame_provider_core::{ProviderError, RemoteKey, SecretProvider};

const WI_CLIENT_ID: &str = "0f9e8d7c-2222-4a5b-8c9d-1e2f3a4b5c6d";

fn token_requests(fake: &Fake) -> Vec<String> {
    fake.requests().into_iter().filter(|r| r.path.ends_with("/oauth2/v2.0/token")).map(|r| r.host).collect()
}

#[tokio::test]
async fn one_token_serves_every_read_of_a_store() {
    let (fake, client, calls) = service_principal_store().await;
    for i in 0..5 {
        fake.put_secret(&format!("s{i}"), "v");
    }

    for i in 0..5 {
        client.get_secret(&RemoteKey::new(format!("s{i}"))).await.unwrap();
    }
    client.get_secret(&RemoteKey::new("cert/none")).await.unwrap_err();

    assert_eq!(token_requests(&fake), vec![LOGIN_HOST]);
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(calls.names().len(), 6);
}

#[tokio::test]
async fn concurrent_first_reads_share_one_token_request() {
    let (fake, client, _) = service_principal_store().await;
    let keys: Vec<RemoteKey> = (0..8)
        .map(|i| {
            fake.put_secret(&format!("c{i}"), &format!("v{i}"));
            RemoteKey::new(format!("c{i}"))
        })
        .collect();

    let values = client.get_secrets(&keys).await;

    let values: Vec<String> = values.into_iter().map(|v| text(v.unwrap())).collect();
    assert_eq!(values, (0..8).map(|i| format!("v{i}")).collect::<Vec<_>>());
    assert_eq!(token_requests(&fake).len(), 1);
}

#[tokio::test]
async fn a_throttled_or_failing_token_request_is_retried_by_the_credential() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret("db", "v");
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    fake.fail_next(&token_path, 429, "temporarily_unavailable", Some("1"));
    fake.fail_next(&token_path, 503, "temporarily_unavailable", None);

    assert_eq!(text(client.get_secret(&RemoteKey::new("db")).await.unwrap()), "v");

    let statuses: Vec<u16> = fake.requests().into_iter().filter(|r| r.path == token_path).map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 503, 200]);
}

fn workload_identity_spec(custom_login: bool) -> AzureKvProvider {
    let mut spec = serde_json::json!({
        "vaultUrl": VAULT_URL,
        "tenantId": TENANT,
        "authType": "WorkloadIdentity",
        "serviceAccountRef": {"name": "sesame-reader"},
    });
    if custom_login {
        spec["customCloudConfig"] = serde_json::json!({"activeDirectoryEndpoint": format!("https://{CUSTOM_LOGIN_HOST}/")});
    }
    serde_json::from_value(spec).unwrap()
}

async fn workload_identity_store(subject: &str, custom_login: bool) -> (Fake, Arc<Kube>, Arc<dyn SecretProvider>) {
    let fake = Fake::start().await;
    let kube = Kube::new().with_service_account("sesame-reader", &[(ANNOTATION_CLIENT_ID, WI_CLIENT_ID)]);
    fake.add_federated_app(TENANT, WI_CLIENT_ID, kube.issuer(), subject);
    let calls = Arc::new(Calls::default());
    let client = build_with(&workload_identity_spec(custom_login), context(&kube, &calls), &fake.http_settings()).await.unwrap();
    (fake, kube, client)
}

#[tokio::test]
async fn workload_identity_exchanges_a_service_account_token_for_the_vaults_token() {
    let subject = format!("system:serviceaccount:{NAMESPACE}:sesame-reader");
    let (fake, kube, client) = workload_identity_store(&subject, false).await;
    fake.put_secret("db", "federated");
    fake.put_secret("api", "too");

    assert_eq!(text(client.get_secret(&RemoteKey::new("db")).await.unwrap()), "federated");
    assert_eq!(text(client.get_secret(&RemoteKey::new("api")).await.unwrap()), "too");

    // One ServiceAccount token, minted for Entra ID's token-exchange audience, for one Entra token.
    assert_eq!(*kube.minted.lock().unwrap(), vec![vec!["api://AzureADTokenExchange".to_string()]]);
    assert_eq!(token_requests(&fake), vec![LOGIN_HOST]);
    assert!(kube.issuer().url == CLUSTER_ISSUER);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_with_a_fresh_service_account_token() {
    let subject = format!("system:serviceaccount:{NAMESPACE}:sesame-reader");
    let (fake, kube, client) = workload_identity_store(&subject, false).await;
    // Tokens that live less than the SDK's five-minute refresh margin are renewed on every use.
    fake.state().token_lifetime = 200;
    fake.put_secret("db", "v");

    client.get_secret(&RemoteKey::new("db")).await.unwrap();
    client.get_secret(&RemoteKey::new("db")).await.unwrap();

    assert_eq!(token_requests(&fake).len(), 2);
    assert_eq!(kube.minted.lock().unwrap().len(), 2, "each exchange presents a newly minted ServiceAccount token");
    assert_eq!(fake.tokens_issued(), 2);
}

#[tokio::test]
async fn workload_identity_is_refused_when_no_federated_credential_matches_the_service_account() {
    let (fake, _, client) = workload_identity_store("system:serviceaccount:other:someone-else", false).await;
    fake.put_secret("db", "v");

    let err = client.get_secret(&RemoteKey::new("db")).await.unwrap_err();

    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("AADSTS700213")), "{err:?}");
}

#[tokio::test]
async fn a_custom_cloud_sends_token_requests_to_its_own_authority() {
    let subject = format!("system:serviceaccount:{NAMESPACE}:sesame-reader");
    let (fake, _, client) = workload_identity_store(&subject, true).await;
    fake.put_secret("db", "sovereign");

    assert_eq!(text(client.get_secret(&RemoteKey::new("db")).await.unwrap()), "sovereign");
    assert_eq!(token_requests(&fake), vec![CUSTOM_LOGIN_HOST]);
}

#[tokio::test]
async fn workload_identity_needs_exactly_one_client_id() {
    let fake = Fake::start().await;
    let calls = Arc::new(Calls::default());
    let unannotated = Kube::new().with_service_account("sesame-reader", &[]);
    let err = build_with(&workload_identity_spec(false), context(&unannotated, &calls), &fake.http_settings()).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("missing clientID")), "{err:?}");

    let both = Kube::new().with_service_account("sesame-reader", &[(ANNOTATION_CLIENT_ID, WI_CLIENT_ID)]).with_secret(
        "wi",
        "client-id",
        WI_CLIENT_ID,
    );
    let mut spec = workload_identity_spec(false);
    spec.auth_secret_ref =
        Some(sesame_provider_azure::AzureKvAuth { client_id: Some(fake::support::selector("wi", "client-id")), ..Default::default() });
    let err = build_with(&spec, context(&both, &calls), &fake.http_settings()).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("multiple clientID")), "{err:?}");
}

fn managed_identity_spec(identity: &str) -> AzureKvProvider {
    serde_json::from_value(serde_json::json!({
        "vaultUrl": VAULT_URL,
        "authType": "ManagedIdentity",
        "identityId": identity,
    }))
    .unwrap()
}

#[tokio::test]
async fn managed_identity_gets_its_token_from_imds() {
    let fake = Fake::start().await;
    fake.add_managed_identity("6c5d4e3f-3333-4b2a-9d8e-7f6a5b4c3d2e");
    fake.put_secret("db", "from-imds");
    let calls = Arc::new(Calls::default());
    let kube = Kube::new();
    let spec = managed_identity_spec("6c5d4e3f-3333-4b2a-9d8e-7f6a5b4c3d2e");
    let client = build_with(&spec, context(&kube, &calls), &fake.http_settings()).await.unwrap();

    assert_eq!(text(client.get_secret(&RemoteKey::new("db")).await.unwrap()), "from-imds");
    let imds: Vec<_> = fake.requests().into_iter().filter(|r| r.path.starts_with("/metadata/")).collect();
    assert_eq!(imds.len(), 1);
    assert_eq!(imds[0].host, "169.254.169.254");
    let query: std::collections::HashMap<_, _> = imds[0].query.iter().cloned().collect();
    assert_eq!(query["resource"], "https://vault.azure.net");
    assert_eq!(query["client_id"], "6c5d4e3f-3333-4b2a-9d8e-7f6a5b4c3d2e");
}

#[tokio::test]
async fn a_managed_identity_not_assigned_to_the_node_is_an_auth_error() {
    let fake = Fake::start().await;
    fake.add_managed_identity("6c5d4e3f-3333-4b2a-9d8e-7f6a5b4c3d2e");
    let calls = Arc::new(Calls::default());
    let kube = Kube::new();
    let client = build_with(&managed_identity_spec("not-assigned"), context(&kube, &calls), &fake.http_settings()).await.unwrap();

    let err = client.get_secret(&RemoteKey::new("db")).await.unwrap_err();

    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("ManagedIdentityCredential")), "{err:?}");
}

/// A self-signed certificate for a service principal, as PEM (certificate + PKCS#8 key), with
/// its DER and RSA public key for registering it with the fake Entra ID.
fn sp_certificate() -> (String, Vec<u8>, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    let rsa = aws_lc_rs::signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = rsa.as_der().unwrap().as_ref().to_vec();
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.into(), &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sesame-sp".to_string()]).unwrap().self_signed(&key).unwrap();
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    (pem, cert.der().to_vec(), rsa.public_key().as_ref().to_vec())
}

async fn certificate_store(registered: bool) -> (Fake, Arc<dyn SecretProvider>) {
    let fake = Fake::start().await;
    let (pem, der, public_key) = sp_certificate();
    let (_, other_der, other_key) = sp_certificate();
    if registered {
        fake.add_certificate_app(TENANT, fake::support::CLIENT_ID, &der, public_key);
    } else {
        fake.add_certificate_app(TENANT, fake::support::CLIENT_ID, &other_der, other_key);
    }
    let kube = Kube::new().with_secret("azure-sp", "client-id", fake::support::CLIENT_ID).with_secret("azure-sp", "tls.pem", &pem);
    let mut spec = fake::support::service_principal_spec();
    let auth = spec.auth_secret_ref.as_mut().unwrap();
    auth.client_secret = None;
    auth.client_certificate = Some(fake::support::selector("azure-sp", "tls.pem"));
    let calls = Arc::new(Calls::default());
    let client = build_with(&spec, context(&kube, &calls), &fake.http_settings()).await.unwrap();
    (fake, client)
}

#[tokio::test]
async fn a_service_principal_can_prove_itself_with_a_certificate_instead_of_a_secret() {
    let (fake, client) = certificate_store(true).await;
    fake.put_secret("db", "by-certificate");

    assert_eq!(text(client.get_secret(&RemoteKey::new("db")).await.unwrap()), "by-certificate");
    assert_eq!(token_requests(&fake), vec![LOGIN_HOST]);
}

#[tokio::test]
async fn a_certificate_not_registered_on_the_application_is_an_auth_error() {
    let (fake, client) = certificate_store(false).await;
    fake.put_secret("db", "v");

    let err = client.get_secret(&RemoteKey::new("db")).await.unwrap_err();

    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("AADSTS700027")), "{err:?}");
}
