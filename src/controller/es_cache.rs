//! The ExternalSecret cache: each object's packed record (`packed.rs`) under its namespace and
//! name, fed by the one ExternalSecret watch.
//!
//! kube's reflector would hold each record with an inline `ObjectMeta` (its `Resource` bound) and
//! key it by an `ObjectRef` of four strings, the namespace copied into every key: about 500 bytes
//! per object before the record's own. Here a namespace's text is held once, shared by its
//! records, and a key is the object's name.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use kube::runtime::watcher;

use super::PackedExternalSecret;
use crate::api::ExternalSecret;

/// An ExternalSecret's namespace and name: what the runner is asked to reconcile.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EsRef {
    pub namespace: Arc<str>,
    pub name: Box<str>,
}

impl EsRef {
    pub fn new(namespace: &str, name: &str) -> Self {
        EsRef { namespace: namespace.into(), name: name.into() }
    }
}

impl std::fmt::Display for EsRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// namespace → name → record.
type Index = HashMap<Arc<str>, HashMap<Box<str>, Arc<PackedExternalSecret>>>;

#[derive(Clone)]
pub struct ExternalSecretCache(Arc<Shared>);

struct Shared {
    live: RwLock<Index>,
    /// A (re-)list in progress: swapped in whole at its end, as kube's reflector does, so a
    /// relist never shows a half-filled cache and drops what was deleted meanwhile.
    listing: Mutex<Option<Index>>,
    ready: tokio::sync::watch::Sender<bool>,
}

impl Default for ExternalSecretCache {
    fn default() -> Self {
        ExternalSecretCache(Arc::new(Shared {
            live: RwLock::new(Index::new()),
            listing: Mutex::new(None),
            ready: tokio::sync::watch::Sender::new(false),
        }))
    }
}

/// Files `record` under its namespace, sharing the namespace's text with the records there.
fn insert(index: &mut Index, mut record: PackedExternalSecret) -> Arc<PackedExternalSecret> {
    let names = match index.get_key_value(record.namespace()) {
        Some((namespace, _)) => {
            record.share_namespace(namespace.clone());
            index.get_mut(record.namespace()).expect("found above")
        }
        None => index.entry(record.namespace_arc().clone()).or_default(),
    };
    let record = Arc::new(record);
    names.insert(record.name().into(), record.clone());
    record
}

fn remove(index: &mut Index, namespace: &str, name: &str) {
    if let Some(names) = index.get_mut(namespace) {
        names.remove(name);
        if names.is_empty() {
            index.remove(namespace);
        }
    }
}

impl ExternalSecretCache {
    pub fn get(&self, r: &EsRef) -> Option<Arc<PackedExternalSecret>> {
        self.0.live.read().expect("cache lock").get(&r.namespace)?.get(&r.name).cloned()
    }

    /// Every record (a snapshot: the walk runs without the lock).
    pub fn state(&self) -> Vec<Arc<PackedExternalSecret>> {
        self.0.live.read().expect("cache lock").values().flat_map(|names| names.values().cloned()).collect()
    }

    pub fn len(&self) -> usize {
        self.0.live.read().expect("cache lock").values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the first list is complete.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.0.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// The objects in `namespace` (all: `None`) for which `may` holds, unpacked: the mappers
    /// from a changed Secret, ConfigMap, store or generator to its users read their specs.
    pub fn unpacked(&self, namespace: Option<&str>, may: impl Fn(&PackedExternalSecret) -> bool) -> Vec<ExternalSecret> {
        let records: Vec<Arc<PackedExternalSecret>> = {
            let live = self.0.live.read().expect("cache lock");
            match namespace {
                Some(ns) => live.get(ns).into_iter().flat_map(|names| names.values()).filter(|p| may(p)).cloned().collect(),
                None => live.values().flat_map(|names| names.values()).filter(|p| may(p)).cloned().collect(),
            }
        };
        records.iter().filter_map(|p| p.unpack()).collect()
    }

    /// Files one watcher event; returns the record an `Apply` or `InitApply` filed (what the
    /// controller is told changed).
    pub fn apply(&self, event: watcher::Event<PackedExternalSecret>) -> Option<Arc<PackedExternalSecret>> {
        match event {
            watcher::Event::Apply(record) => Some(insert(&mut self.0.live.write().expect("cache lock"), record)),
            watcher::Event::Delete(record) => {
                remove(&mut self.0.live.write().expect("cache lock"), record.namespace(), record.name());
                None
            }
            watcher::Event::Init => {
                *self.0.listing.lock().expect("listing lock") = Some(Index::new());
                None
            }
            watcher::Event::InitApply(record) => {
                let mut listing = self.0.listing.lock().expect("listing lock");
                // An InitApply outside a list (never from kube's watcher) is filed as an Apply.
                match listing.as_mut() {
                    Some(index) => Some(insert(index, record)),
                    None => Some(insert(&mut self.0.live.write().expect("cache lock"), record)),
                }
            }
            watcher::Event::InitDone => {
                if let Some(listed) = self.0.listing.lock().expect("listing lock").take() {
                    *self.0.live.write().expect("cache lock") = listed;
                }
                self.0.ready.send_replace(true);
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "es_cache_tests.rs"]
mod tests;
