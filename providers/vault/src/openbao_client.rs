//! The OpenBao store client: the Vault client, with ESO's OpenBao provider limits (read-only,
//! find by name only).
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sesame_provider_core::{
    CallQuota, Capabilities, FindQuery, FindScope, ProviderContext, ProviderError, RemoteKey, SecretProvider, SecretValue,
};

use crate::OpenBaoProvider;
use crate::client::VaultStoreClient;

/// Build the client for an `openBao` store.
pub async fn build_openbao(spec: &OpenBaoProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let inner = VaultStoreClient::connect(&spec.to_vault()?, ctx).await?;
    Ok(Arc::new(OpenBaoClient { inner }))
}

struct OpenBaoClient {
    inner: Arc<VaultStoreClient>,
}

#[async_trait]
impl SecretProvider for OpenBaoClient {
    fn name(&self) -> &'static str {
        "OpenBao"
    }

    fn call_quota(&self) -> CallQuota {
        CallQuota::Unmetered
    }

    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        self.inner.get_secret(key).await
    }

    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        if !query.tags.is_empty() {
            return Err(ProviderError::Invalid("the openBao provider does not support find by tags (ESO neither)".into()));
        }
        self.inner.find(query, scope).await
    }

    async fn validate(&self) -> Result<(), ProviderError> {
        self.inner.validate().await
    }

    // ReadOnly, as ESO's OpenBao provider: the default push methods refuse with that reason.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadOnly
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
