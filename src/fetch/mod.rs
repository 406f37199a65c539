//! The single place every provider read goes through: client reuse, coalescing, batching (and
//! later per-store budgets).
mod batcher;
mod clients;
mod credentials;

pub use batcher::Batcher;
pub use clients::{ClientCache, StoreClient, StoreIdentity};
pub use credentials::{KubeCredentials, Tenancy};

use std::collections::BTreeMap;

use async_trait::async_trait;
use sesame_provider_core::{FindQuery, ProviderError, RemoteKey, SecretValue};

use crate::pipeline::Source;

#[async_trait]
impl Source for StoreClient {
    async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError> {
        self.batcher.get(key).await
    }

    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        self.batcher.provider().find(query).await
    }
}
