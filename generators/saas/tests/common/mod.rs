//! The generators' view of Kubernetes in these tests: Secret keys and ServiceAccount tokens from
//! fixed maps, every request recorded (so a test can see which namespace and audiences were asked
//! for), and the calls the generators record.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sesame_generator_core::{GeneratorContext, GeneratorError, ProviderContext};
use sesame_provider_core::{CaProvider, CallRecorder, CredentialSource, SecretKeySelector, SecretValue, ServiceAccountSelector};

/// One TokenRequest: (the namespace asked for, the ServiceAccount, the audiences).
pub type TokenRequest = (Option<String>, String, Vec<String>);

#[derive(Default)]
pub struct Kube {
    /// `name/key` → value.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// ServiceAccount name → its token.
    pub service_accounts: BTreeMap<String, String>,
    /// `(namespace asked for, name, audiences)` of every TokenRequest.
    pub token_requests: Mutex<Vec<TokenRequest>>,
}

#[async_trait]
impl CredentialSource for Kube {
    async fn secret_key(&self, selector: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, GeneratorError> {
        if selector.namespace.is_some() {
            return Err(GeneratorError::Auth(format!("secret {} asked for another namespace", selector.name)));
        }
        let key = selector.key.as_deref().or(default_key).unwrap_or_default();
        let name = format!("{}/{}", selector.name, key);
        self.secrets
            .get(&name)
            .map(|v| SecretValue::from(v.clone()))
            .ok_or_else(|| GeneratorError::Auth(format!("secret {name} not found")))
    }

    async fn service_account_token(
        &self,
        sa: &ServiceAccountSelector,
        audiences: &[String],
        _: Option<i64>,
    ) -> Result<String, GeneratorError> {
        self.token_requests.lock().unwrap().push((sa.namespace.clone(), sa.name.clone(), audiences.to_vec()));
        self.service_accounts.get(&sa.name).cloned().ok_or_else(|| GeneratorError::Auth(format!("serviceaccount {} not found", sa.name)))
    }

    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, GeneratorError> {
        Ok(BTreeMap::new())
    }

    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, GeneratorError> {
        Err(GeneratorError::NotFound("ca".into()))
    }
}

/// `provider/call: ok|kind` of every recorded call.
#[derive(Default)]
pub struct Calls(pub Mutex<Vec<String>>);

impl CallRecorder for Calls {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &GeneratorError>, _: Duration) {
        let outcome = outcome.map(|_| "ok").unwrap_or_else(|e| e.kind());
        self.0.lock().unwrap().push(format!("{provider}/{call}: {outcome}"));
    }
}

pub struct Env {
    pub kube: Arc<Kube>,
    pub calls: Arc<Calls>,
    pub ctx: GeneratorContext,
}

pub fn env(kube: Kube) -> Env {
    let kube = Arc::new(kube);
    let calls = Arc::new(Calls::default());
    let ctx =
        GeneratorContext { namespace: "tenant".into(), provider: ProviderContext { credentials: kube.clone(), calls: calls.clone() } };
    Env { kube, calls, ctx }
}

impl Env {
    pub fn calls(&self) -> Vec<String> {
        self.calls.0.lock().unwrap().clone()
    }
}

pub fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    String::from_utf8(data.get(key).unwrap_or_else(|| panic!("no output key {key}")).clone()).unwrap()
}
