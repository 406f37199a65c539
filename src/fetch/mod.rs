//! The single place every provider read goes through: client reuse, coalescing, batching (and
//! per-store budgets, which `dataFrom.find` is charged to as well).
mod batcher;
mod budget;
mod clients;
mod credentials;
mod holding;
mod recent;
mod spare;

pub use batcher::{Batcher, Priority, ReadAs};
pub use budget::{BURST_ANNOTATION, BudgetLimits, QPS_ANNOTATION};
pub use clients::{ClientCache, StoreClient, StoreIdentity, admit, referent_refs};
pub use credentials::{KubeCredentials, Tenancy};
pub use holding::HeldBytes;
pub use spare::release_spare;

use std::collections::BTreeMap;

use async_trait::async_trait;
use sesame_provider_core::{FindLimits, FindQuery, ProviderError, RemoteKey, SecretValue};

use crate::pipeline::Source;

/// A store client as one reconcile uses it: its reads carry that reconcile's priority and age
/// limit, its finds the controller's find limits; a first sync (`planned`) takes what its wave
/// read ahead.
pub struct Prioritized<'a> {
    pub client: &'a StoreClient,
    pub read: ReadAs,
    pub find_limits: FindLimits,
    pub planned: bool,
}

#[async_trait]
impl Source for Prioritized<'_> {
    async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError> {
        match self.planned {
            true => self.client.batcher.get_planned(key, self.read).await,
            false => self.client.batcher.get(key, self.read).await,
        }
    }

    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        self.client.batcher.find(query, self.find_limits).await
    }

    fn applies_property(&self) -> bool {
        self.client.batcher.provider().applies_property()
    }

    async fn get_map(&self, key: RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        self.client.batcher.get_map(key).await
    }
}
