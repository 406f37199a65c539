//! `auth.workloadIdentityFederation` against the fake's STS pool providers: a Kubernetes token
//! (OIDC provider) or a signed AWS GetCallerIdentity (AWS provider) is exchanged, then a Google
//! service account impersonated, and Secret Manager is read with the result.
mod common;
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Calls, PROJECT, TestCredentials, text};
use fake::{FakeGcp, RsaKey, Verifier};
use serde_json::json;
use sesame_provider_core::{ProviderContext, ProviderError, RemoteKey, SecretProvider};
use sesame_provider_gcp::{Endpoints, GcpProvider, access_token, build_with_endpoints};

const DB: &str = "projects/acme-prod/secrets/db";
const GSA: &str = "reader@acme-prod.iam.gserviceaccount.com";
const OIDC_AUD: &str = "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/k8s/providers/cluster";
const AWS_AUD: &str = "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/aws/providers/acct";
const ISSUER: &str = "https://kubernetes.example.com";
const ARN: &str = "arn:aws:iam::111122223333:user/sesame";

async fn fake() -> FakeGcp {
    let fake = FakeGcp::start().await;
    fake.secret(DB, &[], &[]);
    fake.version(DB, b"by federation");
    fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    fake
}

fn spec(wif: serde_json::Value) -> GcpProvider {
    serde_json::from_value(json!({"projectID": PROJECT, "auth": {"workloadIdentityFederation": wif}})).unwrap()
}

async fn build(fake: &FakeGcp, creds: Arc<TestCredentials>, spec: &GcpProvider) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let ctx = ProviderContext { credentials: creds, calls: Arc::new(Calls::default()) };
    build_with_endpoints(spec, ctx, Endpoints::all_at(&fake.url)).await
}

fn k8s_creds(key: Arc<RsaKey>, annotate: bool) -> Arc<TestCredentials> {
    let annotations =
        if annotate { BTreeMap::from([("iam.gke.io/gcp-service-account".to_string(), GSA.to_string())]) } else { BTreeMap::new() };
    Arc::new(TestCredentials {
        cluster: Some((key, ISSUER.into())),
        namespace: "apps".into(),
        annotations: [("eso-ksa".to_string(), annotations)].into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_service_account_token_is_exchanged_and_the_annotated_gsa_impersonated() {
    let fake = fake().await;
    let key = Arc::new(RsaKey::generate());
    let audience = "https://sts.example/k8s";
    let principal = fake.oidc_pool_provider(OIDC_AUD, ISSUER, Verifier::Key(key.clone()), &[audience]);
    fake.allow_impersonation(GSA, &format!("{principal}system:serviceaccount:apps:eso-ksa"));
    let creds = k8s_creds(key, true);
    let s = spec(json!({"serviceAccountRef": {"name": "eso-ksa", "audiences": [audience]}, "audience": OIDC_AUD}));
    let p = build(&fake, creds.clone(), &s).await.unwrap();
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by federation");
    // The token is asked for exactly serviceAccountRef.audiences, as ESO does.
    let requests = creds.token_requests.lock().unwrap().clone();
    assert_eq!(requests[0].0, "eso-ksa");
    assert_eq!(requests[0].1, vec![audience.to_string()]);
    assert!(fake.count("POST /v1/token") >= 1 && fake.count(":generateAccessToken") >= 1, "{:?}", fake.requests());
}

#[tokio::test]
async fn without_impersonation_the_federated_principal_itself_must_be_granted() {
    let fake = fake().await;
    let key = Arc::new(RsaKey::generate());
    let principal = fake.oidc_pool_provider(OIDC_AUD, ISSUER, Verifier::Key(key.clone()), &[]);
    let s = spec(json!({"serviceAccountRef": {"name": "eso-ksa", "audiences": [format!("https:{OIDC_AUD}")]}, "audience": OIDC_AUD}));
    let p = build(&fake, k8s_creds(key, false), &s).await.unwrap();
    let denied = p.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(denied, ProviderError::Auth(_)), "{denied}");
    fake.grant(PROJECT, &format!("{principal}system:serviceaccount:apps:eso-ksa"));
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by federation");
    assert_eq!(fake.count(":generateAccessToken"), 0);
}

#[tokio::test]
async fn a_token_of_another_issuer_is_refused_by_sts() {
    let fake = fake().await;
    fake.oidc_pool_provider(OIDC_AUD, ISSUER, Verifier::Key(Arc::new(RsaKey::generate())), &["a"]);
    let s = spec(json!({"serviceAccountRef": {"name": "eso-ksa", "audiences": ["a"]}, "audience": OIDC_AUD}));
    let p = build(&fake, k8s_creds(Arc::new(RsaKey::generate()), true), &s).await.unwrap();
    let err = p.get_secret(&RemoteKey::new("db")).await.unwrap_err().to_string();
    assert!(err.contains("STS token exchange") && err.contains("invalid_grant"), "{err}");
}

fn aws_creds() -> Arc<TestCredentials> {
    let mut secrets = BTreeMap::new();
    secrets.insert(("aws".to_string(), "aws_access_key_id".to_string()), b"AKIAFEDERATION".to_vec());
    secrets.insert(("aws".to_string(), "aws_secret_access_key".to_string()), b"fed-secret-key".to_vec());
    secrets.insert(("aws".to_string(), "aws_session_token".to_string()), b"fed-session".to_vec());
    Arc::new(TestCredentials { secrets, namespace: "apps".into(), ..Default::default() })
}

#[tokio::test]
async fn aws_keys_sign_a_get_caller_identity_that_sts_verifies_then_the_named_gsa_is_impersonated() {
    let fake = fake().await;
    let principal = fake.aws_pool_provider(AWS_AUD, "AKIAFEDERATION", "fed-secret-key", ARN);
    fake.allow_impersonation(GSA, &principal);
    let wif = json!({
        "awsSecurityCredentials": {"region": "eu-west-3", "awsCredentialsSecretRef": {"name": "aws"}},
        "audience": AWS_AUD, "gcpServiceAccountEmail": GSA,
    });
    let p = build(&fake, aws_creds(), &spec(wif.clone())).await.unwrap();
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by federation");

    // A GCRAccessToken is minted the same way, with its expiry.
    let ctx = ProviderContext { credentials: aws_creds(), calls: Arc::new(Calls::default()) };
    let token = access_token(&spec(wif), &ctx, &Endpoints::all_at(&fake.url)).await.unwrap();
    assert!(token.token.starts_with("ya29.fake-"));
    assert!(token.expires_at > 1_700_000_000);
}

#[tokio::test]
async fn a_wrong_aws_secret_key_fails_the_signature_check() {
    let fake = fake().await;
    fake.aws_pool_provider(AWS_AUD, "AKIAFEDERATION", "the-real-secret", ARN);
    let wif = json!({"awsSecurityCredentials": {"region": "eu-west-3", "awsCredentialsSecretRef": {"name": "aws"}}, "audience": AWS_AUD});
    let p = build(&fake, aws_creds(), &spec(wif)).await.unwrap();
    let err = p.get_secret(&RemoteKey::new("db")).await.unwrap_err().to_string();
    assert!(err.contains("signature"), "{err}");
    assert!(!err.contains("fed-secret-key") && !err.contains("fed-session"));
}

#[tokio::test]
async fn missing_aws_keys_are_an_auth_error_naming_the_secret() {
    let fake = fake().await;
    let wif = json!({"awsSecurityCredentials": {"region": "eu-west-3", "awsCredentialsSecretRef": {"name": "nope"}}, "audience": AWS_AUD});
    let err = build(&fake, aws_creds(), &spec(wif)).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("nope") && m.contains("aws_access_key_id")), "{err}");
}

/// An external token endpoint answering `{"id_token": <JWT>}` for the requests carrying `X-Team: a`.
async fn token_endpoint(key: Arc<RsaKey>) -> String {
    let app = axum::Router::new().route(
        "/token",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let key = key.clone();
            async move {
                if headers.get("x-team").and_then(|v| v.to_str().ok()) != Some("a") {
                    return (axum::http::StatusCode::FORBIDDEN, axum::Json(json!({"error": "who are you"})));
                }
                let now = fake::jwt::now();
                let claims = json!({"iss": ISSUER, "sub": "ci-job", "aud": ["tokens-aud"], "iat": now, "exp": now + 600});
                (axum::http::StatusCode::OK, axum::Json(json!({"id_token": key.sign_jwt(Some("k1"), &claims)})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_cred_config_reads_its_subject_token_from_the_external_token_endpoint() {
    let fake = fake().await;
    let key = Arc::new(RsaKey::generate());
    let principal = fake.oidc_pool_provider(OIDC_AUD, ISSUER, Verifier::Key(key.clone()), &["tokens-aud"]);
    fake.allow_impersonation(GSA, &format!("{principal}ci-job"));
    let url = token_endpoint(key).await;
    let cred_config = json!({
        "type": "external_account", "audience": OIDC_AUD,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url":
            format!("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{GSA}:generateAccessToken"),
        "credential_source": {"url": url, "headers": {"X-Team": "a"}, "format": {"type": "json", "subject_token_field_name": "id_token"}},
    });
    let creds = TestCredentials {
        config_maps: [(("wif".to_string(), "config.json".to_string()), cred_config.to_string())].into(),
        ..Default::default()
    };
    let s = spec(json!({"credConfig": {"name": "wif", "key": "config.json"}, "externalTokenEndpoint": url}));
    let p = build(&fake, Arc::new(creds), &s).await.unwrap();
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by federation");
    assert!(fake.count(":generateAccessToken") >= 1, "{:?}", fake.requests());

    // Pointing the same document at the controller's own token file is refused.
    let mut own = cred_config.clone();
    own["credential_source"] = json!({"file": "/var/run/secrets/kubernetes.io/serviceaccount/token"});
    let creds =
        TestCredentials { config_maps: [(("wif".to_string(), "config.json".to_string()), own.to_string())].into(), ..Default::default() };
    let err = build(&fake, Arc::new(creds), &s).await.err().unwrap().to_string();
    assert!(err.contains("credential_source.file is not allowed"), "{err}");
}
