//! What this process remembers about each ExternalSecret between reconciles. It is a cache of
//! facts the apiserver also holds (or that only pace retries), so losing it costs at most one
//! extra read; it is forgotten when the ExternalSecret is deleted, so it does not grow with churn.
use std::collections::HashMap;
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::api::ExternalSecret;

type Key = ObjectRef<ExternalSecret>;

/// What one successful sync used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub at: String,
    pub version: String,
    pub sources: String,
}

#[derive(Default)]
pub struct Memory {
    /// Consecutive failures, for backoff.
    failures: Mutex<HashMap<Key, u32>>,
    /// The resourceVersion of each target Secret `(namespace, name)` as last written or verified.
    verified: Mutex<HashMap<(String, String), String>>,
    /// The last successful sync by this process: `refreshTime` and `syncedResourceVersion` for
    /// the moment before its status write reaches the cache, and the fingerprint of what else it
    /// read (store generation, template ConfigMaps), whose change is a reason to sync again.
    synced: Mutex<HashMap<Key, Synced>>,
    /// ESO's `syncedResourceVersion` of each ExternalSecret at a resourceVersion, computed from the
    /// whole object before the cache trims annotations (ESO hashes kubectl's last-applied copy).
    eso_versions: Mutex<HashMap<Key, (String, String)>>,
    /// The Ready status this process last wrote.
    ready: Mutex<HashMap<Key, bool>>,
    /// The generation whose too-short refreshInterval was last reported in an Event.
    raised_interval: Mutex<HashMap<Key, Option<i64>>>,
}

impl Memory {
    /// Counts one more consecutive failure; returns the count.
    pub fn failed(&self, es: &ExternalSecret) -> u32 {
        let mut map = self.failures.lock().expect("failures lock");
        let n = map.entry(ObjectRef::from_obj(es)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Whether the last attempt failed (and no success came since).
    pub fn failing(&self, es: &ExternalSecret) -> bool {
        self.failures.lock().expect("failures lock").contains_key(&ObjectRef::from_obj(es))
    }

    pub fn succeeded(&self, es: &ExternalSecret) {
        self.failures.lock().expect("failures lock").remove(&ObjectRef::from_obj(es));
    }

    pub fn known_version(&self, namespace: &str, name: &str) -> Option<String> {
        self.verified.lock().expect("verified lock").get(&(namespace.to_string(), name.to_string())).cloned()
    }

    pub fn remember_version(&self, namespace: &str, name: &str, rv: Option<String>) {
        let mut map = self.verified.lock().expect("verified lock");
        match rv {
            Some(rv) => map.insert((namespace.to_string(), name.to_string()), rv),
            None => map.remove(&(namespace.to_string(), name.to_string())),
        };
    }

    pub fn last_sync(&self, es: &ExternalSecret) -> Option<Synced> {
        self.synced.lock().expect("synced lock").get(&ObjectRef::from_obj(es)).cloned()
    }

    pub fn remember_sync(&self, es: &ExternalSecret, synced: Synced) {
        self.synced.lock().expect("synced lock").insert(ObjectRef::from_obj(es), synced);
    }

    /// Records ESO's resource version of the object as the watch delivered it (before trimming).
    pub fn remember_eso_version(&self, es: &ExternalSecret) {
        let version = crate::pipeline::synced_resource_version(es.metadata.generation, es.labels(), &es.annotations());
        let rv = es.resource_version().unwrap_or_default();
        self.eso_versions.lock().expect("eso_versions lock").insert(ObjectRef::from_obj(es), (rv, version));
    }

    /// ESO's resource version of `es` as recorded for its resourceVersion, if it was.
    pub fn eso_version(&self, es: &ExternalSecret) -> Option<String> {
        let rv = es.resource_version()?;
        let map = self.eso_versions.lock().expect("eso_versions lock");
        map.get(&ObjectRef::from_obj(es)).filter(|(at, _)| *at == rv).map(|(_, v)| v.clone())
    }

    pub fn last_ready(&self, es: &ExternalSecret) -> Option<bool> {
        self.ready.lock().expect("ready lock").get(&ObjectRef::from_obj(es)).copied()
    }

    pub fn remember_ready(&self, es: &ExternalSecret, ready: bool) {
        self.ready.lock().expect("ready lock").insert(ObjectRef::from_obj(es), ready);
    }

    /// True the first time per generation that this object's refreshInterval was raised to the
    /// minimum: the Event says so once per spec change, not once per refresh.
    pub fn first_raised_interval(&self, es: &ExternalSecret) -> bool {
        let generation = es.metadata.generation;
        self.raised_interval.lock().expect("raised interval lock").insert(ObjectRef::from_obj(es), generation) != Some(generation)
    }

    /// Drops everything about a deleted ExternalSecret, including its target's version.
    pub fn forget(&self, es: &ExternalSecret) {
        let key = ObjectRef::from_obj(es);
        self.failures.lock().expect("failures lock").remove(&key);
        self.synced.lock().expect("synced lock").remove(&key);
        self.ready.lock().expect("ready lock").remove(&key);
        self.eso_versions.lock().expect("eso_versions lock").remove(&key);
        self.raised_interval.lock().expect("raised interval lock").remove(&key);
        self.remember_version(&es.namespace().unwrap_or_default(), &es.target_name(), None);
    }

    /// How many ExternalSecrets anything is remembered for (tests, debugging).
    pub fn len(&self) -> usize {
        let failures = self.failures.lock().expect("failures lock").len();
        let synced = self.synced.lock().expect("synced lock").len();
        let ready = self.ready.lock().expect("ready lock").len();
        let eso = self.eso_versions.lock().expect("eso_versions lock").len();
        failures.max(synced).max(ready).max(eso).max(self.verified.lock().expect("verified lock").len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(name: &str) -> ExternalSecret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": "team-a"},
            "spec": {"secretStoreRef": {"name": "store"}, "target": {"name": format!("{name}-target")}},
        }))
        .expect("valid ExternalSecret")
    }

    #[test]
    fn a_deleted_external_secret_leaves_nothing_behind() {
        let memory = Memory::default();
        let (gone, kept) = (es("gone"), es("kept"));
        for e in [&gone, &kept] {
            memory.failed(e);
            memory.remember_ready(e, true);
            memory.remember_sync(e, Synced { at: "2026-11-26T00:00:00Z".into(), version: "1".into(), sources: "s".into() });
            memory.remember_eso_version(e);
            memory.remember_version("team-a", &e.target_name(), Some("42".into()));
        }
        memory.forget(&gone);
        assert_eq!(memory.len(), 1);
        assert_eq!(memory.known_version("team-a", "gone-target"), None);
        assert_eq!(memory.known_version("team-a", "kept-target").as_deref(), Some("42"));
        assert_eq!(memory.last_ready(&kept), Some(true));
        assert_eq!(memory.failed(&kept), 2, "the other object's failure count is kept");
    }
}
