//! The controllers: ExternalSecret (sync) and SecretStore / ClusterSecretStore (validation).
mod cluster_external_secret;
mod cluster_push_secret;
mod compact_cache;
mod decode;
mod due;
mod error;
mod es_cache;
mod es_triggers;
mod events;
mod external_secret;
mod fairness;
mod fan_out;
mod finalizer;
mod fleet;
mod generator_state;
mod generator_watch;
mod generators;
mod generic;
pub mod generic_watch;
mod invalid;
mod memory;
mod on_demand;
mod packed;
mod push_secret;
mod refresh_plan;
mod relisting;
mod rendering;
mod rollout;
pub mod run;
mod runner;
mod slot;
mod sources;
mod state_ledger;
mod store;
mod store_secrets;
mod sync_window;
mod target;
mod target_meta;
mod target_state;
mod versions;
mod wakeups;
mod wave;

pub use due::{Due, Schedule, backoff, due, next_slot};
pub use error::Error;
pub use fan_out::selected as fan_out_selected;
pub use fleet::FleetOwner;
pub use memory::{Memory, Synced};
pub use rendering::{RenderConfig, Renders};
pub use rollout::ROLLOUT_RESTART_ANNOTATION;
pub use run::run;
pub use target::{desired_secret, field_manager};

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::Event;
use kube::runtime::reflector::Store;

pub use compact_cache::CompactCache;
pub use es_cache::{EsRef, ExternalSecretCache};
pub use packed::PackedExternalSecret;
pub use target_meta::TargetMeta;

use crate::api::{ClusterSecretStore, SecretStore};
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
    /// Template limits and how many renders run at once.
    pub templates: RenderConfig,
    /// Shorter refreshIntervals run at this one (0 still means "once").
    pub min_refresh_interval: Duration,
    /// What one `dataFrom.find` may return.
    pub find_limits: sesame_provider_core::FindLimits,
    /// How long a superseded GeneratorState (and what its generator created) is kept before its
    /// cleanup: consumers of the old values have this long to pick up the new ones.
    pub generator_gc_grace_period: Duration,
    /// `--unsafe-allow-generic-targets`: write `target.manifest` objects (ConfigMaps, custom resources).
    pub allow_generic_targets: bool,
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
    pub recorder: events::Recorder,
    pub stores: Store<SecretStore>,
    pub cluster_stores: Store<ClusterSecretStore>,
    /// What a sync reads of each managed Secret (label-selected): no payloads in memory.
    pub secrets: CompactCache<TargetMeta>,
    /// The resourceVersion of each ConfigMap, to re-render templates when one changes.
    pub config_maps: CompactCache<Box<str>>,
    /// Every cache has listed. (kube's `Store::wait_until_ready` wakes only some of several
    /// concurrent waiters, so reconciles check this flag instead of waiting.)
    pub caches_ready: std::sync::atomic::AtomicBool,
    /// Per-ExternalSecret facts between reconciles; shared with the watch that forgets deleted ones.
    pub memory: Arc<Memory>,
    /// Render slots and the cancel flags of renders under way; deletes cancel them.
    pub renders: Arc<Renders>,
    /// Each namespace's share of the reconcile workers.
    pub namespace_share: fairness::NamespaceShare,
    /// The generator objects' identities, for the sources of the ExternalSecrets using them.
    pub generators: Arc<generator_watch::GeneratorIndex>,
    /// GeneratorStates (filled by the GeneratorState controller's watch): a sync finds the states
    /// its new values supersede here.
    pub generator_states: Store<crate::api::GeneratorState>,
    /// Generic targets' kinds, discovered and watched on first use.
    pub generic: Arc<generic_watch::GenericTargets>,
    /// The ExternalSecret cache: a first sync plans its store's wave from it (`wave.rs`).
    pub external_secrets: ExternalSecretCache,
    /// Its never-synced objects by store, walked once per plan gap for every store's wave.
    pub waiting: wave::Waiting,
    /// Each batching store's refresh groups (`slot.rs`), counted once a minute.
    pub groups: slot::Groups,
    /// The objects of each refresh group, walked once per plan gap for the groups' plans.
    pub grouped: refresh_plan::Grouped,
    /// When each ExternalSecret is next reconciled (instead of kube's per-object requeue).
    pub wakeups: Arc<wakeups::Wakeups>,
}

impl Context {
    /// Queue an Event: a sync never waits for it (events.rs).
    pub fn publish(&self, event: &Event, reference: &ObjectReference) {
        self.recorder.publish(event, reference)
    }

    fn known_version(&self, namespace: &str, name: &str) -> Option<String> {
        self.memory.known_version(namespace, name)
    }

    fn remember_version(&self, namespace: &str, name: &str, rv: Option<String>) {
        self.memory.remember_version(namespace, name, rv)
    }

    fn forget_version(&self, namespace: &str, name: &str) {
        self.memory.remember_version(namespace, name, None);
    }

    fn last_sync(&self, es: &impl memory::Named) -> Option<Synced> {
        self.memory.last_sync(es)
    }

    fn remember_sync(&self, es: &impl memory::Named, synced: Synced) {
        self.memory.remember_sync(es, synced)
    }

    fn last_ready(&self, es: &impl memory::Named) -> Option<bool> {
        self.memory.last_ready(es)
    }

    fn remember_ready(&self, es: &impl memory::Named, ready: bool) {
        self.memory.remember_ready(es, ready)
    }
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
