//! The sources one ExternalSecret reads from during a sync: its stores' clients (each resolved and
//! checked once per sync) and its generators.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use kube::ResourceExt;
use sesame_provider_core::ProviderError;

use super::Context;
use crate::api::{ExternalSecret, GeneratorRef, SecretStoreRef, StoreKey};
use crate::fetch::{Prioritized, ReadAs, StoreClient};
use crate::pipeline::{Source, Sources};

/// The clients of an ExternalSecret's stores, as its sync uses them.
pub struct Routed<'a> {
    default: Option<StoreKey>,
    stores: Vec<(StoreKey, Prioritized<'a>)>,
    generators: super::generators::Runner<'a>,
}

impl<'a> Routed<'a> {
    pub fn new(
        ctx: &'a Context,
        es: &'a ExternalSecret,
        clients: &'a [(StoreKey, Arc<StoreClient>)],
        read: ReadAs,
        ledger: &'a super::state_ledger::Ledger<'a>,
    ) -> Self {
        // A first sync takes what its wave read ahead (wave.rs), a grouped refresh what its group's
        // plan read (refresh_plan.rs); a routine refresh, what its client read in the last 2 s
        // (fetch/recent.rs); an edit or a force-sync, only a value read since.
        let planned = read.planned || super::wave::first_sync_pending(ctx, es);
        let stores = clients
            .iter()
            .map(|(key, client)| (key.clone(), Prioritized { client, read, find_limits: ctx.config.find_limits, planned }))
            .collect();
        Routed {
            default: es.spec.secret_store_ref.as_ref().map(SecretStoreRef::key),
            stores,
            generators: super::generators::Runner::new(ctx, es.namespace().unwrap_or_default(), ledger),
        }
    }
}

#[async_trait]
impl Sources for Routed<'_> {
    fn store(&self, store: Option<&SecretStoreRef>) -> Result<&dyn Source, String> {
        let key = store.map(SecretStoreRef::key).or_else(|| self.default.clone()).ok_or("spec.secretStoreRef is not set")?;
        // Every store the spec names was resolved before the fetch: a miss is a bug, not input.
        let found = self.stores.iter().find(|(k, _)| *k == key).map(|(_, s)| s as &dyn Source);
        found.ok_or_else(|| format!("{} {} was not resolved", key.1.as_str(), key.0))
    }

    async fn generate(&self, index: usize, generator: &GeneratorRef) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        // ESO keys an ExternalSecret's generator states by the dataFrom index.
        self.generators.generate(&index.to_string(), generator).await
    }
}
