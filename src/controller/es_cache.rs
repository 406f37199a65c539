//! The ExternalSecret cache: each object's packed record (`packed.rs`) under its namespace and
//! name, fed by the one ExternalSecret watch.
//!
//! kube's reflector would hold each record with an inline `ObjectMeta` (its `Resource` bound) and
//! key it by an `ObjectRef` of four strings, the namespace copied into every key: about 500 bytes
//! per object before the record's own. Here a namespace's text is held once, shared by its
//! records, and a key is the object's name.
use std::collections::HashMap;
use std::sync::Arc;

use kube::runtime::watcher;

use super::PackedExternalSecret;
use super::relisting::Relisting;
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

#[derive(Clone, Default)]
pub struct ExternalSecretCache(Arc<Relisting<Index>>);

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
        self.0.read().get(&r.namespace)?.get(&r.name).cloned()
    }

    /// Every record (a snapshot: the walk runs without the lock).
    pub fn state(&self) -> Vec<Arc<PackedExternalSecret>> {
        self.0.read().values().flat_map(|names| names.values().cloned()).collect()
    }

    pub fn len(&self) -> usize {
        self.0.read().values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the first list is complete.
    pub async fn wait_until_ready(&self) {
        self.0.wait_until_ready().await;
    }

    /// The objects in `namespace` (all: `None`) for which `may` holds, unpacked: the mappers
    /// from a changed Secret, ConfigMap, store or generator to its users read their specs.
    pub fn unpacked(&self, namespace: Option<&str>, may: impl Fn(&PackedExternalSecret) -> bool) -> Vec<ExternalSecret> {
        let records: Vec<Arc<PackedExternalSecret>> = {
            let live = self.0.read();
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
            watcher::Event::Apply(record) => Some(self.0.change(|live| insert(live, record))),
            watcher::Event::Delete(record) => {
                self.0.change(|live| remove(live, record.namespace(), record.name()));
                None
            }
            watcher::Event::Init => {
                self.0.begin();
                None
            }
            watcher::Event::InitApply(record) => Some(self.0.list(|listing| insert(listing, record))),
            watcher::Event::InitDone => {
                self.0.end();
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "es_cache_tests.rs"]
mod tests;
