//! A context for unit tests: no credentials, no recorded calls.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sesame_generator_core::{GeneratorContext, GeneratorError, ProviderContext};
use sesame_provider_core::{CaProvider, CredentialSource, NoCalls, SecretKeySelector, SecretValue, ServiceAccountSelector};

/// Serves Secret keys from a fixed map (`name/key` → value); everything else is not found.
#[derive(Default)]
pub struct Secrets(pub BTreeMap<String, Vec<u8>>);

#[async_trait]
impl CredentialSource for Secrets {
    async fn secret_key(&self, selector: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, GeneratorError> {
        let key = selector.key.as_deref().or(default_key).unwrap_or_default();
        let name = format!("{}/{}", selector.name, key);
        self.0.get(&name).map(|v| SecretValue::from(v.clone())).ok_or_else(|| GeneratorError::NotFound(name))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, GeneratorError> {
        Err(GeneratorError::NotFound("service account".into()))
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, GeneratorError> {
        Err(GeneratorError::NotFound("service account".into()))
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, GeneratorError> {
        Err(GeneratorError::NotFound("ca".into()))
    }
}

pub fn ctx_with(secrets: Secrets) -> GeneratorContext {
    GeneratorContext { namespace: "tenant".into(), provider: ProviderContext { credentials: Arc::new(secrets), calls: Arc::new(NoCalls) } }
}

pub fn ctx() -> GeneratorContext {
    ctx_with(Secrets::default())
}
