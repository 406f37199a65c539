//! What every test here shares: the moto endpoint, unique names, a CredentialSource standing in
//! for the controller's, a counting CallRecorder, and store specs.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use sesame_provider_aws::{AwsAuth, AwsAuthSecretRef, AwsProvider, AwsServiceType, ClientOptions};
use sesame_provider_core::{
    CaProvider, CallRecorder, CredentialSource, ProviderContext, ProviderError, SecretKeySelector, SecretProvider, SecretValue,
    ServiceAccountSelector,
};

pub use crate::proxy::{Fault, Proxy};

/// moto server's URL, from the test environment. Panics (fails the test) when it is not up.
pub fn moto() -> String {
    sesame_testsupport::env().aws_endpoint.clone()
}

/// The region the test environment's moto serves.
pub fn region() -> String {
    sesame_testsupport::env().aws_region.clone()
}

/// A name no other test, and no earlier run against the same moto, has used.
pub fn unique(stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{stem}-{:x}-{}", nanos % 0xffff_ffff_ffff, N.fetch_add(1, Ordering::Relaxed))
}

/// The access key the test stores authenticate with (moto accepts any).
pub const ACCESS_KEY: &str = "AKIASESAMETEST000001";
pub const SECRET_KEY: &str = "sesame-test-secret-access-key";

/// SDK config for seeding moto directly (not through the code under test).
pub async fn admin_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region()))
        .endpoint_url(moto())
        .credentials_provider(aws_credential_types::Credentials::new("AKIAADMIN", "admin", None, None, "test"))
        .load()
        .await
}

pub async fn sm_admin() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&admin_config().await)
}

pub async fn ssm_admin() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&admin_config().await)
}

/// A store authenticating with static keys from the Secret `aws-creds` (keys `id`, `secret`).
pub fn store(service: AwsServiceType) -> AwsProvider {
    let sel = |key: &str| SecretKeySelector { name: "aws-creds".into(), key: Some(key.into()), namespace: None };
    AwsProvider {
        service,
        region: region(),
        role: None,
        additional_roles: vec![],
        external_id: None,
        session_tags: vec![],
        transitive_tag_keys: vec![],
        session_tags_policy: None,
        custom_session_tags: Default::default(),
        prefix: None,
        auth: AwsAuth {
            secret_ref: Some(AwsAuthSecretRef { access_key_id: sel("id"), secret_access_key: sel("secret"), session_token: None }),
            jwt: None,
        },
        secrets_manager: None,
    }
}

/// Options pointing every AWS service at `url` (moto, or a proxy in front of it).
pub fn at(url: &str) -> ClientOptions {
    ClientOptions { endpoint_url: Some(url.to_string()), ..ClientOptions::default() }
}

/// Build a store's client the way the controller does, with test credentials.
pub async fn build(spec: &AwsProvider, creds: TestCredentials, options: ClientOptions) -> (Arc<dyn SecretProvider>, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let ctx = ProviderContext { credentials: Arc::new(creds), calls: calls.clone() };
    let client = sesame_provider_aws::build_with(spec, ctx, options).await.expect("the store client builds");
    (client, calls)
}

pub fn text(v: SecretValue) -> String {
    String::from_utf8(v.into_bytes()).expect("UTF-8 value")
}

/// Provider calls recorded through `ProviderContext::timed`.
#[derive(Default)]
pub struct Calls(Mutex<Vec<(&'static str, &'static str, &'static str)>>);

impl Calls {
    /// Calls of `call` (any provider label).
    pub fn count(&self, call: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|(_, c, _)| *c == call).count()
    }

    /// `(provider, call, outcome)` of every call, in order.
    pub fn all(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        self.0.lock().unwrap().clone()
    }
}

impl CallRecorder for Calls {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, _: Duration) {
        self.0.lock().unwrap().push((provider, call, outcome.map_or_else(|e| e.kind(), |_| "ok")));
    }
}

/// The controller's CredentialSource, played by a map of Secret keys, ServiceAccount annotations
/// and a token minter (fixed tokens, or the real apiserver's TokenRequest).
#[derive(Default)]
pub struct TestCredentials {
    /// Secret keys by (Secret name, key); shared, so a test can rotate them under a client.
    pub secrets: Arc<Mutex<BTreeMap<(String, String), String>>>,
    pub annotations: BTreeMap<String, BTreeMap<String, String>>,
    pub kube: Option<(kube::Client, String)>,
    /// The audiences of every token requested.
    pub audiences: Arc<Mutex<Vec<Vec<String>>>>,
}

impl TestCredentials {
    /// Holds the Secret `aws-creds` with the test access keys.
    pub fn keys() -> Self {
        TestCredentials::default().with_secret("aws-creds", "id", ACCESS_KEY).with_secret("aws-creds", "secret", SECRET_KEY)
    }

    pub fn with_secret(self, name: &str, key: &str, value: &str) -> Self {
        self.secrets.lock().unwrap().insert((name.into(), key.into()), value.into());
        self
    }

    pub fn with_annotations(mut self, account: &str, annotations: &[(&str, &str)]) -> Self {
        let map = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.annotations.insert(account.into(), map);
        self
    }
}

#[async_trait]
impl CredentialSource for TestCredentials {
    async fn secret_key(&self, sel: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, ProviderError> {
        let key = sel.key.as_deref().or(default_key).unwrap_or_default();
        let secrets = self.secrets.lock().unwrap();
        secrets
            .get(&(sel.name.clone(), key.to_string()))
            .map(|v| SecretValue::from(v.as_str()))
            .ok_or_else(|| ProviderError::Auth(format!("Secret {} has no key {key}", sel.name)))
    }

    async fn service_account_token(
        &self,
        sel: &ServiceAccountSelector,
        audiences: &[String],
        expiration_seconds: Option<i64>,
    ) -> Result<String, ProviderError> {
        self.audiences.lock().unwrap().push(audiences.to_vec());
        let Some((client, namespace)) = &self.kube else {
            return Ok(format!("test-token-for-{}", sel.name));
        };
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let api: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec { audiences: audiences.to_vec(), expiration_seconds, ..Default::default() },
            ..Default::default()
        };
        let minted = api
            .create_token_request(&sel.name, &Default::default(), &request)
            .await
            .map_err(|e| ProviderError::Auth(format!("TokenRequest for {}: {e}", sel.name)))?;
        Ok(minted.status.expect("a minted token").token)
    }

    async fn service_account_annotations(&self, sel: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        if let Some((client, namespace)) = &self.kube {
            use k8s_openapi::api::core::v1::ServiceAccount;
            let api: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), namespace);
            let sa = api.get(&sel.name).await.map_err(|e| ProviderError::Auth(format!("ServiceAccount {}: {e}", sel.name)))?;
            return Ok(sa.metadata.annotations.unwrap_or_default());
        }
        self.annotations.get(&sel.name).cloned().ok_or_else(|| ProviderError::Auth(format!("ServiceAccount {} does not exist", sel.name)))
    }

    /// A key of a Secret (from `with_secret`): how a PushSecret's resourcePolicy source is read.
    async fn ca_bundle(&self, p: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        let key = p.key.clone().unwrap_or_default();
        match p.kind {
            sesame_provider_core::CaProviderKind::Secret => {
                self.secrets.lock().unwrap().get(&(p.name.clone(), key)).map(|v| v.clone().into_bytes())
            }
            sesame_provider_core::CaProviderKind::ConfigMap => None,
        }
        .ok_or_else(|| ProviderError::Invalid(format!("{:?} {} has no key {}", p.kind, p.name, p.key.as_deref().unwrap_or_default())))
    }
}
