//! One provider client per store generation (and, for a ClusterSecretStore whose credential refs
//! name no namespace, per ExternalSecret namespace: referent authentication), built once and
//! reused by every ExternalSecret. ESO builds and authenticates a client on every reconcile; we
//! do not.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sesame_provider_core::{ProviderContext, ProviderError};

use super::batcher::Batcher;
use super::budget::{Budget, BudgetLimits};
use super::credentials::{KubeCredentials, Tenancy};
use super::holding::{self, HeldBytes};
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

    /// ESO's resource audience for tokens minted for this store.
    fn audience(&self) -> String {
        match (&self.kind, &self.namespace) {
            (StoreKind::ClusterSecretStore, _) | (_, None) => format!("clusterSecretStore:{}", self.name),
            (_, Some(ns)) => format!("secretStore:{ns}:{}", self.name),
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

/// A store generation and, for a referent ClusterSecretStore, the ExternalSecret namespace whose
/// credentials the client holds (`None`: one client serves every namespace).
type CacheKey = (StoreIdentity, Option<String>);

/// The credential refs of `store` resolved per ExternalSecret namespace: those of a
/// ClusterSecretStore that name no namespace. Empty for a SecretStore.
pub fn referent_refs(store: &AnyStore) -> Vec<&'static str> {
    match store {
        AnyStore::Namespaced(_) => Vec::new(),
        AnyStore::Cluster(_) => crate::providers::referent_refs(store.spec()),
    }
}

/// Whether a store may be built at all: its URL fields, and the controller's own identity.
pub fn admit(store: &AnyStore, refuse_controller_identity: bool) -> Result<(), ProviderError> {
    crate::providers::check_urls(store.spec())?;
    if let (AnyStore::Namespaced(_), true) = (store, refuse_controller_identity)
        && let Some(identity) = crate::providers::controller_identity(store.spec())
    {
        return Err(ProviderError::Invalid(format!(
            "a SecretStore may not authenticate as the controller itself ({identity}): name credentials in the store, or use a \
             ClusterSecretStore (see --refuse-secretstore-controller-identity)"
        )));
    }
    Ok(())
}

pub struct ClientCache {
    kube: kube::Client,
    metrics: Arc<Metrics>,
    window: Duration,
    limits: BudgetLimits,
    refuse_controller_identity: bool,
    /// What every client's wave holding may keep, together.
    held: Arc<HeldBytes>,
    entries: std::sync::Mutex<HashMap<CacheKey, Arc<StoreClient>>>,
    build_locks: std::sync::Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl ClientCache {
    pub fn new(kube: kube::Client, metrics: Arc<Metrics>, window: Duration, limits: BudgetLimits) -> Self {
        ClientCache {
            kube,
            metrics,
            window,
            limits,
            refuse_controller_identity: true,
            held: HeldBytes::new(holding::PROCESS_CAP),
            entries: Default::default(),
            build_locks: Default::default(),
        }
    }

    /// Whether SecretStores may authenticate as the controller itself (default: refused).
    pub fn refusing_controller_identity(mut self, refuse: bool) -> Self {
        self.refuse_controller_identity = refuse;
        self
    }

    /// Whether namespaced objects are refused the controller's own identity (stores, generators).
    pub fn refuses_controller_identity(&self) -> bool {
        self.refuse_controller_identity
    }

    /// [`admit`] with this cache's policy.
    pub fn admit(&self, store: &AnyStore) -> Result<(), ProviderError> {
        admit(store, self.refuse_controller_identity)
    }

    fn lookup(&self, key: &CacheKey) -> Option<Arc<StoreClient>> {
        self.entries.lock().expect("client cache lock").get(key).cloned()
    }

    /// The client for `store` as used from `es_namespace` (None: store validation), built on first
    /// use; [`scope`] decides which one from the spec before anything is built.
    pub async fn get(&self, store: &AnyStore, es_namespace: Option<&str>) -> Result<Arc<StoreClient>, ProviderError> {
        self.admit(store)?;
        let (key, tenancy, used) = scope(store, es_namespace)?;
        let identity = key.0.clone();
        if let Some(c) = self.lookup(&key) {
            return Ok(c);
        }
        // One build per client at a time: a thousand first syncs must not log in a thousand times.
        let lock = self.build_locks.lock().expect("build lock map").entry(key.clone()).or_default().clone();
        let _guard = lock.lock().await;
        if let Some(c) = self.lookup(&key) {
            return Ok(c);
        }
        let credentials = Arc::new(KubeCredentials::new(self.kube.clone(), tenancy).for_store(identity.audience()));
        let calls = Arc::new(StoreCalls { metrics: self.metrics.clone(), store: StoreLabels::of(&identity) });
        let ctx = ProviderContext { credentials, calls };
        let provider = crate::providers::build(store.spec(), &used, ctx).await?;
        let ceiling = self.limits.for_store(provider.call_quota(), &store.annotations());
        let client = Arc::new(StoreClient {
            identity: identity.clone(),
            batcher: Batcher::new(
                provider,
                self.window,
                MAX_BATCH,
                Budget::new(ceiling),
                Some((self.metrics.clone(), StoreLabels::of(&identity))),
                self.held.clone(),
            ),
        });
        let stale = {
            let mut entries = self.entries.lock().expect("client cache lock");
            let stale: Vec<CacheKey> = entries.keys().filter(|(id, _)| id.same_store(&identity) && *id != identity).cloned().collect();
            let stale: Vec<Arc<StoreClient>> = stale.iter().filter_map(|k| entries.remove(k)).collect();
            entries.insert(key, client.clone());
            stale
        };
        close_all(stale).await;
        Ok(client)
    }

    /// The client an ExternalSecret of `es_namespace` would get for `store`, if it is built: never
    /// builds one, never reads credentials.
    pub fn cached(&self, store: &AnyStore, es_namespace: &str) -> Option<Arc<StoreClient>> {
        self.admit(store).ok()?;
        let (key, _, _) = scope(store, Some(es_namespace)).ok()?;
        self.lookup(&key)
    }

    /// Drop the client an ExternalSecret of `es_namespace` uses with this store (its credentials
    /// were refused); the next use builds a new one and reads the credentials again. The clients
    /// other namespaces hold with a referent store are theirs and stay.
    pub async fn evict_used_by(&self, kind: StoreKind, store_namespace: Option<&str>, name: &str, es_namespace: &str) {
        let removed: Vec<Arc<StoreClient>> = {
            let mut entries = self.entries.lock().expect("client cache lock");
            let keys: Vec<CacheKey> = entries
                .keys()
                .filter(|(id, _)| id.kind == kind && id.namespace.as_deref() == store_namespace && id.name == name)
                .filter(|(_, scope)| scope.as_deref().is_none_or(|ns| ns == es_namespace))
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

/// Which client `store` takes when used from `es_namespace` (None: store validation), decided
/// from the spec: a ClusterSecretStore with referent refs gets one client per ExternalSecret
/// namespace, holding only that namespace's credentials; any other store one client for all.
fn scope(store: &AnyStore, es_namespace: Option<&str>) -> Result<(CacheKey, Tenancy, crate::providers::StoreUse), ProviderError> {
    let identity = StoreIdentity::of(store);
    let referent = !referent_refs(store).is_empty();
    let tenancy = match (store, referent, es_namespace) {
        (AnyStore::Namespaced(_), _, _) => Tenancy::Namespaced(identity.namespace.clone().unwrap_or_default()),
        (AnyStore::Cluster(_), false, _) => Tenancy::Cluster,
        (AnyStore::Cluster(_), true, Some(ns)) => Tenancy::ClusterReferent(ns.to_string()),
        (AnyStore::Cluster(_), true, None) => {
            return Err(ProviderError::Invalid(
                "the store uses referent authentication: it has a client per ExternalSecret namespace only".into(),
            ));
        }
    };
    let scope = match &tenancy {
        Tenancy::ClusterReferent(ns) => Some(ns.clone()),
        // The session itself names the namespace (AWS session tags): one client each.
        Tenancy::Cluster if crate::providers::per_namespace(store.spec()) => es_namespace.map(str::to_string),
        _ => None,
    };
    let used = crate::providers::StoreUse {
        kind: identity.kind.as_str().to_string(),
        name: identity.name.clone(),
        namespace: match &tenancy {
            Tenancy::Namespaced(ns) | Tenancy::ClusterReferent(ns) => ns.clone(),
            Tenancy::Cluster => scope.clone().unwrap_or_default(),
        },
    };
    Ok(((identity, scope), tenancy, used))
}

async fn close_all(clients: Vec<Arc<StoreClient>>) {
    for c in clients {
        c.batcher.provider().close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClusterSecretStore, SecretStore};

    fn stores(provider: serde_json::Value) -> (AnyStore, AnyStore) {
        let spec = serde_json::json!({"provider": provider});
        let ss: SecretStore = serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "s", "namespace": "team-a"}, "spec": spec}))
        .unwrap();
        let css: ClusterSecretStore = serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "s"}, "spec": spec}))
        .unwrap();
        (AnyStore::Namespaced(Arc::new(ss)), AnyStore::Cluster(Arc::new(css)))
    }

    #[test]
    fn only_a_cluster_store_with_refs_lacking_a_namespace_is_referent() {
        let vault = |auth: serde_json::Value| serde_json::json!({"vault": {"server": "http://vault:8200", "auth": auth}});
        let (ss, css) = stores(vault(serde_json::json!({"tokenSecretRef": {"name": "t", "key": "token"}})));
        assert!(referent_refs(&ss).is_empty(), "a SecretStore's refs are its own namespace's");
        assert_eq!(referent_refs(&css), vec!["auth.tokenSecretRef"]);
        let (_, pinned) = stores(vault(serde_json::json!({"tokenSecretRef": {"name": "t", "key": "token", "namespace": "ops"}})));
        assert!(referent_refs(&pinned).is_empty());
    }

    #[test]
    fn the_controllers_identity_is_refused_to_secretstores_only_and_only_while_the_flag_says_so() {
        let (ss, css) = stores(serde_json::json!({"aws": {"service": "SecretsManager", "region": "eu-west-1"}}));
        assert!(matches!(admit(&ss, true), Err(ProviderError::Invalid(m)) if m.contains("may not authenticate as the controller")));
        admit(&ss, false).unwrap();
        admit(&css, true).unwrap();
    }

    #[test]
    fn tokens_are_bound_to_the_store_with_esos_resource_audience() {
        let (ss, css) = stores(serde_json::json!({"fake": {"data": []}}));
        assert_eq!(StoreIdentity::of(&ss).audience(), "secretStore:team-a:s");
        assert_eq!(StoreIdentity::of(&css).audience(), "clusterSecretStore:s");
    }

    #[test]
    fn an_infisical_store_logging_in_as_the_controller_is_a_cluster_store_only() {
        let sel = serde_json::json!({"name": "i", "key": "id"});
        let (ss, css) = stores(serde_json::json!({"infisical": {
            "auth": {"kubernetesAuthCredentials": {"identityId": sel}},
            "secretsScope": {"projectSlug": "p", "environmentSlug": "e"}}}));
        assert!(matches!(admit(&ss, true), Err(ProviderError::Invalid(m)) if m.contains("kubernetesAuthCredentials")));
        admit(&css, true).unwrap();
    }

    #[test]
    fn a_hostile_url_field_is_refused_before_anything_is_built() {
        let (ss, css) =
            stores(serde_json::json!({"vault": {"server": "https://vault@evil.example", "auth": {"tokenSecretRef": {"name": "t"}}}}));
        for store in [&ss, &css] {
            assert!(matches!(admit(store, false), Err(ProviderError::Invalid(m)) if m.contains("server")));
        }
    }
}
