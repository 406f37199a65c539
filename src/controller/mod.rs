//! The controllers: ExternalSecret (sync) and SecretStore / ClusterSecretStore (validation).
mod due;
mod error;
mod external_secret;
pub mod run;
mod store;
mod target;

pub use due::{Due, Schedule, backoff, due, next_slot};
pub use error::Error;
pub use run::run;
pub use target::{desired_secret, field_manager};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Event, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::{ClusterSecretStore, ExternalSecret, SecretStore};
use crate::fetch::ClientCache;
use crate::metrics::Metrics;

/// Settings from the command line that the reconcilers read.
#[derive(Debug, Clone)]
pub struct Config {
    /// Handle stores whose `spec.controller` is empty or equals this class.
    pub controller_class: String,
    pub default_refresh_interval: Duration,
    pub store_requeue_interval: Duration,
    pub max_backoff: Duration,
}

impl Config {
    pub fn handles_class(&self, class: Option<&str>) -> bool {
        match class {
            None | Some("") => true,
            Some(c) => c == self.controller_class,
        }
    }
}

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    pub client: kube::Client,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub clients: ClientCache,
    pub recorder: Recorder,
    pub stores: Store<SecretStore>,
    pub cluster_stores: Store<ClusterSecretStore>,
    /// Metadata of managed Secrets only (label-selected): no payloads in memory.
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Metadata of ConfigMaps, to re-render templates when one changes.
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    /// Every cache has listed. (kube's `Store::wait_until_ready` wakes only some of several
    /// concurrent waiters, so reconciles check this flag instead of waiting.)
    pub caches_ready: std::sync::atomic::AtomicBool,
    /// Consecutive failures per ExternalSecret, for backoff.
    pub failures: Mutex<HashMap<ObjectRef<ExternalSecret>, u32>>,
    /// The resourceVersion of each target Secret as we last wrote or verified it.
    pub verified: Mutex<HashMap<(String, String), String>>,
    /// `(refreshTime, syncedResourceVersion)` of each ExternalSecret's last successful sync by
    /// this process, for the moment before its status write reaches the cache.
    pub synced: Mutex<HashMap<ObjectRef<ExternalSecret>, (String, String)>>,
    /// The Ready status this process last wrote for each ExternalSecret.
    pub ready: Mutex<HashMap<ObjectRef<ExternalSecret>, bool>>,
}

impl Context {
    pub async fn publish(&self, event: &Event, reference: &ObjectReference) {
        if let Err(e) = self.recorder.publish(event, reference).await {
            tracing::debug!(error = %e, "could not publish event");
        }
    }

    fn known_version(&self, namespace: &str, name: &str) -> Option<String> {
        self.verified.lock().expect("verified lock").get(&(namespace.to_string(), name.to_string())).cloned()
    }

    fn remember_version(&self, namespace: &str, name: &str, rv: Option<String>) {
        let mut map = self.verified.lock().expect("verified lock");
        match rv {
            Some(rv) => map.insert((namespace.to_string(), name.to_string()), rv),
            None => map.remove(&(namespace.to_string(), name.to_string())),
        };
    }

    fn last_sync(&self, es: &ExternalSecret) -> Option<(String, String)> {
        self.synced.lock().expect("synced lock").get(&ObjectRef::from_obj(es)).cloned()
    }

    fn remember_sync(&self, es: &ExternalSecret, at: String, version: String) {
        self.synced.lock().expect("synced lock").insert(ObjectRef::from_obj(es), (at, version));
    }

    fn last_ready(&self, es: &ExternalSecret) -> Option<bool> {
        self.ready.lock().expect("ready lock").get(&ObjectRef::from_obj(es)).copied()
    }

    fn remember_ready(&self, es: &ExternalSecret, ready: bool) {
        self.ready.lock().expect("ready lock").insert(ObjectRef::from_obj(es), ready);
    }

    fn forget_version(&self, namespace: &str, name: &str) {
        self.remember_version(namespace, name, None);
    }
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
