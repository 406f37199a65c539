//! One provider client per store generation (and, for a ClusterSecretStore whose credentials
//! come from the ExternalSecret's namespace, per namespace), built once and reused by every
//! ExternalSecret. ESO builds and authenticates a client on every reconcile; we do not.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sesame_provider_core::{ProviderContext, ProviderError};

use super::batcher::Batcher;
use super::budget::{Budget, BudgetLimits};
use super::credentials::{KubeCredentials, Tenancy};
use crate::api::{AnyStore, StoreKind};
use crate::metrics::{Metrics, StoreCalls, StoreLabels};

/// The most keys one coalesced batch carries; providers split further to their API limits.
const MAX_BATCH: usize = 100;

impl StoreLabels {
    fn of(id: &StoreIdentity) -> Self {
        StoreLabels { kind: id.kind.as_str().to_string(), namespace: id.namespace.clone().unwrap_or_default(), store: id.name.clone() }
    }
}

/// A store as one version of its spec: a changed spec is a different identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreIdentity {
    pub kind: StoreKind,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub generation: i64,
}

impl StoreIdentity {
    pub fn of(store: &AnyStore) -> Self {
        let meta = store.meta();
        StoreIdentity {
            kind: store.kind(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
        }
    }

    fn same_store(&self, other: &StoreIdentity) -> bool {
        self.kind == other.kind && self.namespace == other.namespace && self.name == other.name
    }
}

/// The client for a store, shared by all its users.
pub struct StoreClient {
    pub identity: StoreIdentity,
    pub batcher: Batcher,
}

type CacheKey = (StoreIdentity, Option<String>);

pub struct ClientCache {
    kube: kube::Client,
    metrics: Arc<Metrics>,
    window: Duration,
    limits: BudgetLimits,
    entries: std::sync::Mutex<HashMap<CacheKey, Arc<StoreClient>>>,
    build_locks: std::sync::Mutex<HashMap<StoreIdentity, Arc<tokio::sync::Mutex<()>>>>,
}

impl ClientCache {
    pub fn new(kube: kube::Client, metrics: Arc<Metrics>, window: Duration, limits: BudgetLimits) -> Self {
        ClientCache { kube, metrics, window, limits, entries: Default::default(), build_locks: Default::default() }
    }

    fn lookup(&self, identity: &StoreIdentity, es_namespace: Option<&str>) -> Option<Arc<StoreClient>> {
        let entries = self.entries.lock().expect("client cache lock");
        entries
            .get(&(identity.clone(), None))
            .or_else(|| es_namespace.and_then(|ns| entries.get(&(identity.clone(), Some(ns.to_string())))))
            .cloned()
    }

    /// The client for `store` as used from `es_namespace` (None: store validation).
    pub async fn get(&self, store: &AnyStore, es_namespace: Option<&str>) -> Result<Arc<StoreClient>, ProviderError> {
        let identity = StoreIdentity::of(store);
        if let Some(c) = self.lookup(&identity, es_namespace) {
            return Ok(c);
        }
        // One build per store at a time: a thousand first syncs must not log in a thousand times.
        let lock = self.build_locks.lock().expect("build lock map").entry(identity.clone()).or_default().clone();
        let _guard = lock.lock().await;
        if let Some(c) = self.lookup(&identity, es_namespace) {
            return Ok(c);
        }
        let tenancy = match store {
            AnyStore::Namespaced(_) => Tenancy::Namespaced(identity.namespace.clone().unwrap_or_default()),
            AnyStore::Cluster(_) => Tenancy::Cluster(es_namespace.map(str::to_string)),
        };
        let credentials = Arc::new(KubeCredentials::new(self.kube.clone(), tenancy));
        let calls = Arc::new(StoreCalls { metrics: self.metrics.clone(), store: StoreLabels::of(&identity) });
        let ctx = ProviderContext { credentials: credentials.clone(), calls };
        let provider = crate::providers::build(store.spec(), ctx).await?;
        let scope = credentials.used_referent_namespace().then(|| es_namespace.unwrap_or_default().to_string());
        let client = Arc::new(StoreClient {
            identity: identity.clone(),
            batcher: Batcher::new(
                provider,
                self.window,
                MAX_BATCH,
                Budget::new(self.limits.for_store(&store.annotations())),
                Some((self.metrics.clone(), StoreLabels::of(&identity))),
            ),
        });
        let stale = {
            let mut entries = self.entries.lock().expect("client cache lock");
            let stale: Vec<CacheKey> = entries.keys().filter(|(id, _)| id.same_store(&identity) && *id != identity).cloned().collect();
            let stale: Vec<Arc<StoreClient>> = stale.iter().filter_map(|k| entries.remove(k)).collect();
            entries.insert((identity, scope), client.clone());
            stale
        };
        close_all(stale).await;
        Ok(client)
    }

    /// Drop every client of this store (its credentials were refused, or it was deleted); the
    /// next use builds a new one and reads the credentials again.
    pub async fn evict(&self, kind: StoreKind, namespace: Option<&str>, name: &str) {
        let removed: Vec<Arc<StoreClient>> = {
            let mut entries = self.entries.lock().expect("client cache lock");
            let keys: Vec<CacheKey> = entries
                .keys()
                .filter(|(id, _)| id.kind == kind && id.namespace.as_deref() == namespace && id.name == name)
                .cloned()
                .collect();
            keys.iter().filter_map(|k| entries.remove(k)).collect()
        };
        close_all(removed).await;
    }

    /// Close every client (shutdown).
    pub async fn close(&self) {
        let all: Vec<Arc<StoreClient>> = self.entries.lock().expect("client cache lock").drain().map(|(_, c)| c).collect();
        close_all(all).await;
    }
}

async fn close_all(clients: Vec<Arc<StoreClient>>) {
    for c in clients {
        c.batcher.provider().close().await;
    }
}
