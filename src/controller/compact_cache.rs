//! Caches that keep, per object, only what the controller reads of it.
//!
//! kube's reflector keeps every object whole. For the managed-Secret cache that is about 1.6 kB
//! per target at N = 10,000 (BENCHMARKS.md, heap profile): each label and annotation map is a
//! B-tree with a full node, and most of `ObjectMeta` is never read. Here each object is projected
//! to a small value as it arrives and filed under its namespace (stored once).
use std::sync::Arc;

use kube::Resource;
use kube::runtime::watcher;

use super::relisting::Relisting;
use crate::by_namespace::ByNamespace;

/// namespace/name → projected value, fed by a watcher stream ([`CompactCache::apply`]).
pub struct CompactCache<V>(Arc<Relisting<ByNamespace<Arc<V>>>>);

impl<V> Clone for CompactCache<V> {
    fn clone(&self) -> Self {
        CompactCache(self.0.clone())
    }
}

impl<V> Default for CompactCache<V> {
    fn default() -> Self {
        CompactCache(Arc::default())
    }
}

impl<V> CompactCache<V> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<V>> {
        self.0.read().get(namespace, name).cloned()
    }

    pub fn len(&self) -> usize {
        self.0.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the first list is complete.
    pub async fn wait_until_ready(&self) {
        self.0.wait_until_ready().await;
    }

    /// Files one watcher event, projecting each object with `project`.
    pub fn apply<K: Resource>(&self, event: &watcher::Event<K>, project: impl Fn(&K) -> V) {
        let key = |obj: &K| (obj.meta().namespace.clone().unwrap_or_default(), obj.meta().name.clone().unwrap_or_default());
        match event {
            watcher::Event::Apply(obj) => {
                let (ns, name) = key(obj);
                self.0.change(|live| live.insert(&ns, &name, Arc::new(project(obj))));
            }
            watcher::Event::Delete(obj) => {
                let (ns, name) = key(obj);
                self.0.change(|live| live.remove(&ns, &name));
            }
            watcher::Event::Init => self.0.begin(),
            watcher::Event::InitApply(obj) => {
                let (ns, name) = key(obj);
                self.0.list(|listing| listing.insert(&ns, &name, Arc::new(project(obj))));
            }
            watcher::Event::InitDone => self.0.end(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn cm(ns: &str, name: &str, rv: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn version(c: &ConfigMap) -> Box<str> {
        c.metadata.resource_version.as_deref().unwrap_or_default().into()
    }

    #[tokio::test]
    async fn a_relist_replaces_the_cache_only_when_complete_and_forgets_what_it_did_not_list() {
        let cache = CompactCache::default();
        cache.apply(&watcher::Event::Init, version);
        cache.apply(&watcher::Event::InitApply(cm("a", "x", "1")), version);
        assert!(cache.get("a", "x").is_none(), "nothing is served before the list is complete");
        cache.apply(&watcher::Event::InitApply(cm("a", "y", "2")), version);
        cache.apply(&watcher::Event::InitDone, version);
        cache.wait_until_ready().await;
        assert_eq!(cache.get("a", "x").as_deref().map(|v| &**v), Some("1"));
        cache.apply(&watcher::Event::Apply(cm("b", "z", "3")), version);
        cache.apply(&watcher::Event::Delete(cm("a", "y", "2")), version);
        assert_eq!(cache.len(), 2);
        // A relist after a lost watch: `a/x` is gone meanwhile, the old view stays until it ends.
        cache.apply(&watcher::Event::Init, version);
        cache.apply(&watcher::Event::InitApply(cm("b", "z", "4")), version);
        assert_eq!(cache.get("a", "x").as_deref().map(|v| &**v), Some("1"));
        cache.apply(&watcher::Event::InitDone, version);
        assert!(cache.get("a", "x").is_none());
        assert_eq!(cache.get("b", "z").as_deref().map(|v| &**v), Some("4"));
    }
}
