//! The logins that prove the controller's own identity, against the fake: Kubernetes Auth with
//! the ServiceAccount token file, Azure Auth with the managed identity token of the instance
//! metadata service, GCP ID token Auth with the metadata server's ID token, and AWS Auth with a
//! signed GetCallerIdentity. The real request code runs; the fake serves both sides.
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use fake::FakeInfisical;
use fake::cloud::jwt;
use serde_json::{Value, json};
use sesame_provider_core::{
    CaProvider, CredentialSource, NoCalls, ProviderContext, ProviderError, RemoteKey, SecretKeySelector, SecretProvider, SecretValue,
    ServiceAccountSelector,
};
use sesame_provider_infisical::{Ambient, InfisicalProvider};

/// The Secret `infisical` and its keys.
struct Creds(BTreeMap<String, String>);

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        let key = sel.key.as_deref().unwrap();
        self.0.get(key).map(|v| SecretValue::from(v.as_str())).ok_or_else(|| ProviderError::Auth(format!("no key {key}")))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        unreachable!("ESO's schema names no ServiceAccount for these methods")
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        unreachable!()
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        unreachable!()
    }
}

fn sel(key: &str) -> Value {
    json!({"name": "infisical", "key": key})
}

async fn fake() -> FakeInfisical {
    let fake = FakeInfisical::start().await;
    fake.secret("web", "prod", "/", "DB_PASSWORD", "pw-1");
    fake
}

async fn build(
    fake: &FakeInfisical,
    auth: Value,
    keys: &[(&str, &str)],
    ambient: Ambient,
) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let spec: InfisicalProvider = serde_json::from_value(json!({
        "auth": auth, "secretsScope": {"projectSlug": "web", "environmentSlug": "prod", "organizationSlug": "acme"}, "hostAPI": fake.url
    }))
    .unwrap();
    let creds = Creds(keys.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let ctx = ProviderContext { credentials: Arc::new(creds), calls: Arc::new(NoCalls) };
    sesame_provider_infisical::build_with(&spec, ctx, ambient).await
}

fn at(fake: &FakeInfisical) -> Ambient {
    Ambient { azure_imds: fake.url.clone(), gcp_metadata: fake.url.clone(), ..Ambient::default() }
}

async fn reads(client: &Arc<dyn SecretProvider>) {
    assert_eq!(client.get_secret(&RemoteKey::new("DB_PASSWORD")).await.unwrap(), SecretValue::from("pw-1"));
}

fn last_login(fake: &FakeInfisical) -> Value {
    fake.lock().login_bodies.last().cloned().unwrap()
}

#[tokio::test]
async fn kubernetes_auth_sends_the_token_file_and_reads_it_again_at_each_login() {
    let fake = fake().await;
    fake.kubernetes_identity("k8s-id", "system:serviceaccount:sesame:sesame");
    let dir = std::env::temp_dir().join(format!("infisical-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    let token = jwt(json!({"sub": "system:serviceaccount:sesame:sesame", "aud": ["https://kubernetes.default.svc"]}));
    std::fs::write(&path, format!("{token}\n")).unwrap();
    let auth = json!({"kubernetesAuthCredentials": {"identityId": sel("id"), "serviceAccountTokenPath": sel("path")}});
    let keys = [("id", "k8s-id"), ("path", path.to_str().unwrap())];
    let client = build(&fake, auth.clone(), &keys, at(&fake)).await.expect("the login succeeds");
    reads(&client).await;
    assert_eq!(last_login(&fake), json!({"identityId": "k8s-id", "jwt": token, "organizationSlug": "acme"}));

    // Another ServiceAccount's token: refused as Infisical's review would.
    std::fs::write(&path, jwt(json!({"sub": "system:serviceaccount:other:other"}))).unwrap();
    let err = build(&fake, auth.clone(), &keys, at(&fake)).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("kubernetes-auth/login") && m.contains("401")), "{err}");

    // A file that is no token is never sent, nor shown.
    std::fs::write(&path, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let logins = fake.lock().login_bodies.len();
    let err = build(&fake, auth.clone(), &keys, at(&fake)).await.err().unwrap().to_string();
    assert!(err.contains("not a JWT") && !err.contains("root:x"), "{err}");
    assert_eq!(fake.lock().login_bodies.len(), logins, "nothing sent");
    let missing = [("id", "k8s-id"), ("path", "/nonexistent/token")];
    let err = build(&fake, auth, &missing, at(&fake)).await.err().unwrap().to_string();
    assert!(err.contains("cannot read the ServiceAccount token file /nonexistent/token"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn azure_auth_sends_the_managed_identity_token_for_the_resource() {
    let fake = fake().await;
    fake.azure_identity("az-id", "https://management.azure.com/");
    fake.azure_identity("az-custom", "api://infisical");
    let client = build(&fake, json!({"azureAuthCredentials": {"identityId": sel("id")}}), &[("id", "az-id")], at(&fake)).await.unwrap();
    reads(&client).await;
    let imds: Vec<String> = fake.requests().into_iter().filter(|r| r.contains("/metadata/identity")).collect();
    assert_eq!(imds, ["GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"]);
    let auth = json!({"azureAuthCredentials": {"identityId": sel("id"), "resource": sel("resource")}});
    let client = build(&fake, auth.clone(), &[("id", "az-custom"), ("resource", "api://infisical")], at(&fake)).await.unwrap();
    reads(&client).await;
    let err = build(&fake, auth, &[("id", "az-custom"), ("resource", "api://other")], at(&fake)).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("azure-auth/login")), "{err}");
}

#[tokio::test]
async fn gcp_id_token_auth_sends_the_metadata_servers_id_token_for_the_identity() {
    let fake = fake().await;
    fake.gcp_identity("gcp-id", "sesame@project.iam.gserviceaccount.com");
    let auth = json!({"gcpIdTokenAuthCredentials": {"identityId": sel("id")}});
    let client = build(&fake, auth.clone(), &[("id", "gcp-id")], at(&fake)).await.unwrap();
    reads(&client).await;
    assert!(fake.requests().iter().any(|r| r.ends_with("/identity?audience=gcp-id&format=full")), "{:?}", fake.requests());
    let err = build(&fake, auth, &[("id", "gcp-unknown")], at(&fake)).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("gcp-auth/login")), "{err}");
    // No metadata server: a clear, retryable error.
    let nowhere = Ambient { gcp_metadata: "http://127.0.0.1:9".into(), ..at(&fake) };
    let err =
        build(&fake, json!({"gcpIdTokenAuthCredentials": {"identityId": sel("id")}}), &[("id", "gcp-id")], nowhere).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Transient(m) if m.contains("GCP metadata server")), "{err}");
}

#[tokio::test]
async fn aws_auth_sends_a_signed_get_caller_identity_and_never_the_secret_key() {
    let fake = fake().await;
    fake.aws_identity("aws-id", "AKIAEXAMPLECONTROLLER", None);
    let creds = Credentials::new("AKIAEXAMPLECONTROLLER", "wJalrXUtnFEMI-secret", None, None, "test");
    let ambient = Ambient { aws: Some((creds, "eu-central-1".into())), ..at(&fake) };
    let auth = json!({"awsAuthCredentials": {"identityId": sel("id")}});
    let client = build(&fake, auth.clone(), &[("id", "aws-id")], ambient.clone()).await.expect("the login succeeds");
    reads(&client).await;
    let body = last_login(&fake);
    assert_eq!((body["identityId"].as_str(), body["iamHttpRequestMethod"].as_str()), (Some("aws-id"), Some("POST")));
    assert!(!body.to_string().contains("wJalrXUtnFEMI"));
    let other = Credentials::new("AKIAEXAMPLEOTHER", "s", None, None, "test");
    let err =
        build(&fake, auth, &[("id", "aws-id")], Ambient { aws: Some((other, "eu-central-1".into())), ..ambient }).await.err().unwrap();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("aws-auth/login")), "{err}");
}
