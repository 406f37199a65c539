//! Watching the generator objects: an edit re-queues the ExternalSecrets that use the generator,
//! and each generator's `<uid>/<generation>` becomes part of those ExternalSecrets' sources (see
//! `current_sources`), so the re-queued sync regenerates. Each generator's `spec.controller`
//! (Fake, VaultDynamicSecret and BeyondTrust have one; a ClusterGenerator's is its inner spec's)
//! says which controller class handles the ExternalSecrets using it, as in ESO.
//!
//! A kind is watched from the first ExternalSecret that names it: most clusters use one or two of
//! the seventeen, and each watch holds an apiserver connection and a list at start-up.
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};

use super::on_demand::Demand;
use super::{EsRef, ExternalSecretCache};
use crate::api::GeneratorRef;
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

/// The identity, generation and controller class of every generator object of the kinds in use,
/// and which of those kinds have listed.
pub struct GeneratorIndex {
    seen: Mutex<HashMap<Key, Seen>>,
    /// Kinds whose list is in, or that cannot be listed (no CRD, no permission).
    listed: Mutex<HashSet<&'static str>>,
    /// Each served kind's watch starts when some ExternalSecret first names the kind.
    demand: HashMap<&'static str, Demand>,
}

impl Default for GeneratorIndex {
    fn default() -> Self {
        let demand = crate::generators::KINDS.iter().copied().chain(["ClusterGenerator"]).map(|k| (k, Demand::default())).collect();
        GeneratorIndex { seen: Mutex::default(), listed: Mutex::default(), demand }
    }
}

impl GeneratorIndex {
    fn listed(&self) -> std::sync::MutexGuard<'_, HashSet<&'static str>> {
        self.listed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The served kind named `kind` (ClusterGenerator included), if any.
    fn served(&self, kind: &str) -> Option<(&'static str, &Demand)> {
        self.demand.get_key_value(kind).map(|(k, d)| (*k, d))
    }

    /// Watch these kinds from now on (an ExternalSecret names them). Unknown kinds are left to
    /// the sync, which reports them.
    pub fn need<'a>(&self, kinds: impl IntoIterator<Item = &'a str>) {
        kinds.into_iter().filter_map(|k| self.served(k)).for_each(|(_, demand)| demand.signal());
    }

    /// Every kind wanted so far has listed once (or has no CRD installed).
    pub fn ready(&self) -> bool {
        let listed = self.listed();
        self.demand.iter().filter(|(_, d)| d.seen()).all(|(k, _)| listed.contains(k))
    }

    /// The kinds named have listed: what is known of their generators can be judged.
    pub fn listed_all<'a>(&self, kinds: impl IntoIterator<Item = &'a str>) -> bool {
        let listed = self.listed();
        kinds.into_iter().filter_map(|k| self.served(k)).all(|(k, _)| listed.contains(k))
    }

    /// A single-namespace install is granted no cluster-scoped read: ClusterGenerators cannot be
    /// used there (the generator runner reports why), so nothing watches or waits for them.
    fn scope(&self, namespaced: bool) {
        if namespaced {
            self.mark_listed("ClusterGenerator");
        }
    }

    fn mark_listed(&self, kind: &'static str) -> bool {
        self.listed().insert(kind)
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
        kind: &'static str,
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
                self.mark_listed(kind);
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
                if self.mark_listed(kind) {
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
fn users(es: &ExternalSecretCache, (kind, namespace, name): &Key) -> Vec<EsRef> {
    let within = (kind != "ClusterGenerator").then_some(namespace.as_str());
    es.unpacked(within, |p| p.uses.generators)
        .into_iter()
        .filter(|e| e.spec.generator_refs().iter().any(|r| r.kind == *kind && r.name == *name))
        .map(|e| super::packed::reference(&e))
        .collect()
}

/// One stream of re-queues from the watches of the generator kinds in use; a kind's watch starts
/// when [`GeneratorIndex::need`] first names it.
pub fn watch(
    client: kube::Client,
    namespace: Option<&str>,
    index: std::sync::Arc<GeneratorIndex>,
    es: ExternalSecretCache,
) -> impl Stream<Item = EsRef> + Send + 'static {
    index.scope(namespace.is_some());
    let mut streams = Vec::new();
    for (&kind, demand) in index.demand.iter().filter(|(k, _)| namespace.is_none() || **k != "ClusterGenerator") {
        let (client, namespace, index, es) = (client.clone(), namespace.map(str::to_string), index.clone(), es.clone());
        streams.push(demand.start(move || kind_changes(&client, namespace.as_deref(), kind, index, es)).boxed());
    }
    futures::stream::select_all(streams).flat_map(futures::stream::iter)
}

/// The re-queues one kind's watch causes.
fn kind_changes(
    client: &kube::Client,
    namespace: Option<&str>,
    kind: &'static str,
    index: std::sync::Arc<GeneratorIndex>,
    es: ExternalSecretCache,
) -> futures::stream::BoxStream<'static, Vec<EsRef>> {
    if kind == "ClusterGenerator" {
        let changes = watcher(Api::<ClusterGenerator>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .map(move |ev| index.record(kind, &ev, cluster_class).map(|k| users(&es, &k)).unwrap_or_default());
        return changes.boxed();
    }
    let ar = super::generators::api_resource(kind).expect("a served kind has a resource");
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .map(move |ev| index.record(kind, &ev, dynamic_class).map(|k| users(&es, &k)).unwrap_or_default());
    changes.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn password(name: &str) -> DynamicObject {
        let ar = super::super::generators::api_resource("Password").expect("Password is served");
        DynamicObject::new(name, &ar).within("team-a").data(serde_json::json!({"spec": {}}))
    }

    #[test]
    fn nothing_is_watched_or_waited_for_until_an_external_secret_names_a_kind() {
        let index = GeneratorIndex::default();
        let wanted = |index: &GeneratorIndex| {
            let mut kinds: Vec<_> = index.demand.iter().filter(|(_, d)| d.seen()).map(|(k, _)| *k).collect();
            kinds.sort();
            kinds
        };
        assert!(index.ready(), "no kind is wanted: nothing to wait for");
        assert!(wanted(&index).is_empty(), "no watch started");

        index.need(["Password", "Password", "NoSuchKind"]);
        assert_eq!(wanted(&index), ["Password"], "the kind's watch starts, and an unknown kind starts nothing");
        assert!(!index.ready() && !index.listed_all(["Password"]), "its users wait for its list");
        assert!(index.listed_all(["NoSuchKind"]), "an unknown kind is left to the sync to report");

        let listed: Result<watcher::Event<DynamicObject>, watcher::Error> = Ok(watcher::Event::InitDone);
        index.record("Password", &listed, dynamic_class);
        assert!(index.ready() && index.listed_all(["Password"]));
    }

    #[test]
    fn cluster_generators_are_not_waited_for_in_one_namespace() {
        let index = GeneratorIndex::default();
        index.need(["Password", "ClusterGenerator"]);
        index.scope(true);
        assert!(index.listed_all(["ClusterGenerator"]), "nothing waits for ClusterGenerators in a one-namespace install");
        assert!(!index.ready(), "Password has not listed");
        let cluster_wide = GeneratorIndex::default();
        cluster_wide.scope(false);
        assert!(!cluster_wide.listed_all(["ClusterGenerator"]), "cluster-wide, ClusterGenerators are listed first");
    }

    #[test]
    fn a_live_edit_is_a_change_and_the_initial_list_is_not() {
        let index = GeneratorIndex::default();
        let mut obj = password("p");
        obj.metadata = ObjectMeta { uid: Some("u1".into()), generation: Some(1), ..obj.metadata };
        assert_eq!(index.record("Password", &Ok(watcher::Event::InitApply(obj.clone())), dynamic_class), None);
        assert_eq!(index.record("Password", &Ok(watcher::Event::Apply(obj.clone())), dynamic_class), None, "same generation");
        obj.metadata.generation = Some(2);
        let changed = index.record("Password", &Ok(watcher::Event::Apply(obj)), dynamic_class);
        assert_eq!(changed, Some(("Password".to_string(), "team-a".to_string(), "p".to_string())));
    }
}
