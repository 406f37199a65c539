//! The controller's side as the provider sees it: a `CredentialSource` holding a few Kubernetes
//! Secrets and ServiceAccounts (tokens signed by a stand-in cluster issuer), and a call recorder.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sesame_provider_core::{
    CaProvider, CallRecorder, CredentialSource, ProviderContext, ProviderError, SecretKeySelector, SecretValue, ServiceAccountSelector,
};

use super::jwt::Issuer;

pub const NAMESPACE: &str = "apps";
pub const CLUSTER_ISSUER: &str = "https://oidc.sesame-cluster.test";

#[derive(Default)]
pub struct Kube {
    /// (secret name, key) → value.
    pub secrets: Mutex<HashMap<(String, String), String>>,
    /// ServiceAccount name → annotations.
    pub service_accounts: Mutex<HashMap<String, BTreeMap<String, String>>>,
    pub issuer: Option<Issuer>,
    /// The audiences of every token minted, in order.
    pub minted: Mutex<Vec<Vec<String>>>,
}

impl Kube {
    pub fn new() -> Arc<Kube> {
        Arc::new(Kube { issuer: Some(Issuer::new(CLUSTER_ISSUER)), ..Default::default() })
    }

    pub fn with_secret(self: &Arc<Self>, name: &str, key: &str, value: &str) -> Arc<Self> {
        self.secrets.lock().unwrap().insert((name.into(), key.into()), value.into());
        self.clone()
    }

    pub fn with_service_account(self: &Arc<Self>, name: &str, annotations: &[(&str, &str)]) -> Arc<Self> {
        let annotations = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.service_accounts.lock().unwrap().insert(name.into(), annotations);
        self.clone()
    }

    pub fn issuer(&self) -> &Issuer {
        self.issuer.as_ref().unwrap()
    }
}

#[async_trait]
impl CredentialSource for Kube {
    async fn secret_key(&self, selector: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, ProviderError> {
        let key = selector.key.as_deref().or(default_key).unwrap_or_default();
        self.secrets
            .lock()
            .unwrap()
            .get(&(selector.name.clone(), key.to_string()))
            .map(|v| SecretValue::from(v.as_str()))
            .ok_or_else(|| ProviderError::Auth(format!("Secret {NAMESPACE}/{} has no key {key}", selector.name)))
    }

    async fn service_account_token(
        &self,
        selector: &ServiceAccountSelector,
        audiences: &[String],
        _expiration_seconds: Option<i64>,
    ) -> Result<String, ProviderError> {
        if !self.service_accounts.lock().unwrap().contains_key(&selector.name) {
            return Err(ProviderError::Auth(format!("ServiceAccount {NAMESPACE}/{} not found", selector.name)));
        }
        self.minted.lock().unwrap().push(audiences.to_vec());
        Ok(self.issuer().service_account_token(NAMESPACE, &selector.name, audiences, 3600))
    }

    async fn service_account_annotations(&self, selector: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        self.service_accounts
            .lock()
            .unwrap()
            .get(&selector.name)
            .cloned()
            .ok_or_else(|| ProviderError::Auth(format!("ServiceAccount {NAMESPACE}/{} not found", selector.name)))
    }

    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        Err(ProviderError::Invalid("no CA bundles in this test".into()))
    }
}

/// Every call a provider recorded: (provider, call, succeeded).
#[derive(Default)]
pub struct Calls(pub Mutex<Vec<(String, String, bool)>>);

impl CallRecorder for Calls {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, _: Duration) {
        self.0.lock().unwrap().push((provider.into(), call.into(), outcome.is_ok()));
    }
}

impl Calls {
    pub fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(_, c, _)| c.clone()).collect()
    }
}

pub fn context(kube: &Arc<Kube>, calls: &Arc<Calls>) -> ProviderContext {
    ProviderContext { credentials: kube.clone(), calls: calls.clone() }
}

pub fn selector(name: &str, key: &str) -> SecretKeySelector {
    SecretKeySelector { name: name.into(), key: Some(key.into()), namespace: None }
}

pub const CLIENT_ID: &str = "5a3e2c4d-1111-4b6c-9f2e-0c1d2e3f4a5b";
pub const CLIENT_SECRET: &str = "s3cr3t~client.value";

/// A ServicePrincipal store as a user writes it, its credentials in the Secret `azure-sp`.
pub fn service_principal_spec() -> sesame_provider_azure::AzureKvProvider {
    serde_json::from_value(serde_json::json!({
        "vaultUrl": super::VAULT_URL,
        "tenantId": super::TENANT,
        "authSecretRef": {
            "clientId": {"name": "azure-sp", "key": "client-id"},
            "clientSecret": {"name": "azure-sp", "key": "client-secret"},
        },
    }))
    .unwrap()
}

/// A fake with a service principal allowed to read, and a client for it.
pub async fn service_principal_store() -> (super::Fake, Arc<dyn sesame_provider_core::SecretProvider>, Arc<Calls>) {
    let fake = super::Fake::start().await;
    fake.add_app(super::TENANT, CLIENT_ID, CLIENT_SECRET);
    let kube = Kube::new().with_secret("azure-sp", "client-id", CLIENT_ID).with_secret("azure-sp", "client-secret", CLIENT_SECRET);
    let calls = Arc::new(Calls::default());
    let spec = service_principal_spec();
    let client = sesame_provider_azure::build_with(&spec, context(&kube, &calls), &fake.http_settings()).await.unwrap();
    (fake, client, calls)
}

pub fn text(value: SecretValue) -> String {
    String::from_utf8(value.into_bytes()).unwrap()
}
