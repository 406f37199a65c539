//! Watching the generator objects: an edit re-queues the ExternalSecrets that use the generator,
//! and each generator's `<uid>/<generation>` becomes part of those ExternalSecrets' sources (see
//! `current_sources`), so the re-queued sync regenerates. Each generator's `spec.controller`
//! (Fake, VaultDynamicSecret and BeyondTrust have one; a ClusterGenerator's is its inner spec's)
//! says which controller class handles the ExternalSecrets using it, as in ESO.
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use crate::api::{ExternalSecret, GeneratorRef};
use crate::generators::ClusterGenerator;

/// (kind, namespace — empty for a ClusterGenerator —, name).
type Key = (String, String, String);

/// What is known of one generator object.
#[derive(PartialEq)]
struct Seen {
    /// `<uid>/<generation>`.
    version: String,
    /// `spec.controller`, when set and not empty.
    class: Option<String>,
}

/// The identity, generation and controller class of every generator object, and whether every
/// kind has listed.
#[derive(Default)]
pub struct GeneratorIndex {
    seen: Mutex<HashMap<Key, Seen>>,
    listed: Mutex<HashSet<String>>,
}

impl GeneratorIndex {
    /// Every generator kind (and ClusterGenerator) has listed once, or has no CRD installed.
    pub fn ready(&self) -> bool {
        self.listed.lock().unwrap_or_else(|p| p.into_inner()).len() > crate::generators::KINDS.len()
    }

    /// `<uid>/<generation>` of the generator `r` names from `namespace`, empty when absent.
    pub fn fingerprint(&self, namespace: &str, r: &GeneratorRef) -> String {
        self.lookup(namespace, r, |s| s.version.clone()).unwrap_or_default()
    }

    /// The controller class of the generator `r` names from `namespace`, if it names one. A
    /// generator not (yet) seen names none: the sync that uses it reports what is wrong.
    pub fn class(&self, namespace: &str, r: &GeneratorRef) -> Option<String> {
        self.lookup(namespace, r, |s| s.class.clone()).flatten()
    }

    /// What `read` takes from the generator `r` names from `namespace`, if it was seen.
    fn lookup<T>(&self, namespace: &str, r: &GeneratorRef, read: impl FnOnce(&Seen) -> T) -> Option<T> {
        let ns = if r.kind == "ClusterGenerator" { "" } else { namespace };
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&(r.kind.clone(), ns.to_string(), r.name.clone())).map(read)
    }

    /// Records an event; returns the generator that changed (a live edit or deletion), if any.
    fn record<K: Resource>(
        &self,
        kind: &str,
        event: &Result<watcher::Event<K>, watcher::Error>,
        class: impl Fn(&K) -> Option<String>,
    ) -> Option<Key> {
        let key = |o: &K| (kind.to_string(), o.meta().namespace.clone().unwrap_or_default(), o.meta().name.clone().unwrap_or_default());
        let seen_now = |o: &K| Seen {
            version: format!("{}/{}", o.meta().uid.clone().unwrap_or_default(), o.meta().generation.unwrap_or(0)),
            class: class(o).filter(|c| !c.is_empty()),
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Ok(watcher::Event::InitApply(o)) => {
                seen.insert(key(o), seen_now(o));
                None
            }
            Ok(watcher::Event::InitDone) => {
                self.listed.lock().unwrap_or_else(|p| p.into_inner()).insert(kind.to_string());
                None
            }
            Ok(watcher::Event::Apply(o)) => {
                let now = seen_now(o);
                let changed = seen.get(&key(o)) != Some(&now);
                seen.insert(key(o), now);
                changed.then(|| key(o))
            }
            Ok(watcher::Event::Delete(o)) => seen.remove(&key(o)).map(|_| key(o)),
            Ok(watcher::Event::Init) => None,
            // Not installed, or not readable (a single-namespace install and ClusterGenerators):
            // nothing of that kind can be used, so nothing waits for its list.
            Err(watcher::Error::InitialListFailed(kube::Error::Api(e))) if e.code == 404 || e.code == 403 => {
                if self.listed.lock().unwrap_or_else(|p| p.into_inner()).insert(kind.to_string()) {
                    tracing::warn!(kind, code = e.code, "cannot list this generator kind: ExternalSecrets using it report why");
                }
                None
            }
            Err(_) => None,
        }
    }
}

fn spec_class(spec: &serde_json::Value) -> Option<String> {
    spec.get("controller").and_then(|c| c.as_str()).map(str::to_string)
}

fn dynamic_class(o: &DynamicObject) -> Option<String> {
    o.data.get("spec").and_then(spec_class)
}

fn cluster_class(o: &ClusterGenerator) -> Option<String> {
    o.spec.resolve().ok().and_then(|(_, spec)| spec_class(&spec))
}

/// The ExternalSecrets that use the generator `key`.
fn users(es: &Store<ExternalSecret>, (kind, namespace, name): &Key) -> Vec<ObjectRef<ExternalSecret>> {
    es.state()
        .iter()
        .filter(|e| kind == "ClusterGenerator" || e.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|e| e.spec.generator_refs().iter().any(|r| r.kind == *kind && r.name == *name))
        .map(|e| ObjectRef::from_obj(&**e))
        .collect()
}

/// One stream of re-queues for every generator kind's watch.
pub fn watch(
    client: kube::Client,
    namespace: Option<&str>,
    index: std::sync::Arc<GeneratorIndex>,
    es: Store<ExternalSecret>,
) -> impl Stream<Item = ObjectRef<ExternalSecret>> + Send + 'static {
    let mut streams = Vec::new();
    for kind in crate::generators::KINDS {
        let ar = super::generators::api_resource(kind).expect("a served kind has a resource");
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let (index, es) = (index.clone(), es.clone());
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .map(move |ev| index.record(kind, &ev, dynamic_class).map(|k| users(&es, &k)).unwrap_or_default())
            .boxed();
        streams.push(stream);
    }
    if namespace.is_some() {
        // A single-namespace install is granted no cluster-scoped read: ClusterGenerators cannot
        // be used there (the generator runner reports why), so nothing watches or waits for them.
        index.listed.lock().unwrap_or_else(|p| p.into_inner()).insert("ClusterGenerator".to_string());
    } else {
        let (index, es) = (index.clone(), es.clone());
        let cluster = watcher(Api::<ClusterGenerator>::all(client), watcher::Config::default())
            .default_backoff()
            .map(move |ev| index.record("ClusterGenerator", &ev, cluster_class).map(|k| users(&es, &k)).unwrap_or_default())
            .boxed();
        streams.push(cluster);
    }
    futures::stream::select_all(streams).flat_map(futures::stream::iter)
}
