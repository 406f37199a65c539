//! Whose slot a periodic refresh takes. Objects that read exactly the same remote keys from the
//! same stores share one slot, so their refreshes meet in one coalescing window and cost one
//! provider call between them instead of one each (a team's ten ExternalSecrets over one shared
//! database secret, or a ClusterExternalSecret's copy per namespace). Anything else — a `find`,
//! a generator — gains nothing from company and keeps a slot of its own, spread by its identity.
//!
//! A store whose provider reads many keys per call (AWS Secrets Manager: 20) gathers key sets
//! further: its distinct keys are counted from the population, and each key set falls by its hash
//! into one of B groups, B = ⌈keys ÷ keys per call⌉ rounded up to a power of two. A group's objects
//! share one slot, and the first of them to refresh reads the whole group's keys ahead in full
//! batches (`refresh_plan.rs`): a cycle costs about B calls instead of one per key set. The price
//! is N ÷ B objects refreshing at one instant. B is a power of two so that a store that doubles
//! splits each group in two (half of its sets keep their slot) instead of moving every set.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use crate::api::{ExternalSecret, SecretStoreRef, SecretStoreSpec, StoreKind};

/// How often the groups are counted again from the population.
const GROUPS_GAP: Duration = Duration::from_secs(60);

/// Each batching store's group count (by [`StoreLoc::label`]): stores that read one key per call
/// are absent, and their objects keep a slot per key set.
pub type GroupCounts = HashMap<String, u32>;

/// The group counts, counted from the ExternalSecret cache at most once per [`GROUPS_GAP`]. The
/// cache has listed before any reconcile runs, so a restart counts what the last process counted
/// and every slot stays where it was (no provider call after a quiet restart).
#[derive(Default)]
pub struct Groups(Mutex<Option<(Instant, Arc<GroupCounts>)>>);

impl Groups {
    pub fn counts(&self, ctx: &Context) -> Arc<GroupCounts> {
        let mut last = self.0.lock().expect("slot groups lock");
        match &*last {
            Some((at, counts)) if at.elapsed() < GROUPS_GAP => counts.clone(),
            _ => {
                let counts = Arc::new(count_groups(ctx));
                *last = Some((Instant::now(), counts.clone()));
                counts
            }
        }
    }
}

/// The one store a set of reads comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StoreLoc {
    kind: StoreKind,
    /// A SecretStore's namespace (two of one name in two namespaces are two stores).
    namespace: Option<String>,
    name: String,
}

impl StoreLoc {
    fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("SecretStore/{ns}/{}", self.name),
            None => format!("ClusterSecretStore/{}", self.name),
        }
    }

    fn spec(&self, ctx: &Context) -> Option<SecretStoreSpec> {
        match &self.namespace {
            Some(ns) => ctx.stores.get(&ObjectRef::new(&self.name).within(ns)).map(|s| s.spec.clone()),
            None => ctx.cluster_stores.get(&ObjectRef::new(&self.name)).map(|s| s.spec.store.clone()),
        }
    }
}

/// What an object reads plainly: each `store|key|version`, and the store when there is one.
/// `None`: it reads something else too (a `find`, a generator) or names no store.
fn plain_reads(es: &ExternalSecret) -> Option<(BTreeSet<String>, Option<StoreLoc>)> {
    let namespace = es.namespace().unwrap_or_default();
    let spec = &es.spec;
    if spec.data_from.iter().any(|d| d.find.is_some() || d.source_ref.as_ref().is_some_and(|s| s.generator_ref.is_some())) {
        return None;
    }
    let store = |entry: Option<&SecretStoreRef>| -> Option<StoreLoc> {
        let r = entry.or(spec.secret_store_ref.as_ref())?;
        let kind = r.kind.unwrap_or_default();
        let namespace = (kind == StoreKind::SecretStore).then(|| namespace.clone());
        Some(StoreLoc { kind, namespace, name: r.name.clone() })
    };
    let mut reads = BTreeSet::new();
    let mut stores = HashSet::new();
    let entries = spec.data.iter().map(|d| (d.source_ref.as_ref().and_then(|s| s.secret_store_ref.as_ref()), &d.remote_ref));
    let extracts = spec.data_from.iter().filter_map(|d| {
        let store = d.source_ref.as_ref().and_then(|s| s.secret_store_ref.as_ref());
        d.extract.as_ref().map(|e| (store, e))
    });
    for (source, remote) in entries.chain(extracts) {
        let (key, version) = (&remote.key, &remote.version);
        let store = store(source)?;
        reads.insert(format!("{}|{key}|{}", store.label(), version.as_deref().unwrap_or_default()));
        stores.insert(store);
    }
    if reads.is_empty() {
        return None;
    }
    let single = (stores.len() == 1).then(|| stores.into_iter().next()).flatten();
    Some((reads, single))
}

/// An object's refresh slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// What `due::next_slot` hashes.
    pub identity: String,
    /// Shared by a group of a batching store's key sets: its first refresh plans the group's reads.
    pub grouped: bool,
}

/// The slot of `es`, given its stores' group counts.
pub fn slot_of(es: &ExternalSecret, groups: &GroupCounts) -> Slot {
    let Some((reads, store)) = plain_reads(es) else {
        let own = format!("{}/{}/{}", es.namespace().unwrap_or_default(), es.name_any(), es.uid().unwrap_or_default());
        return Slot { identity: own, grouped: false };
    };
    let set = reads.into_iter().collect::<Vec<_>>().join("\n");
    let label = store.map(|s| s.label());
    match label.as_ref().and_then(|l| Some((l, *groups.get(l)?))) {
        Some((label, count)) => {
            let group = super::due::stable_hash(&set) % u64::from(count);
            Slot { identity: format!("{label}|group {group} of {count}"), grouped: true }
        }
        None => Slot { identity: set, grouped: false },
    }
}

#[cfg(test)]
fn slot_identity(es: &ExternalSecret, groups: &GroupCounts) -> String {
    slot_of(es, groups).identity
}

/// Count every batching store's distinct keys and turn them into its group count.
fn count_groups(ctx: &Context) -> GroupCounts {
    let mut keys: HashMap<StoreLoc, HashSet<String>> = HashMap::new();
    for es in ctx.external_secrets.state().iter().filter_map(|p| p.unpack()) {
        if let Some((reads, Some(store))) = plain_reads(&es) {
            keys.entry(store).or_default().extend(reads);
        }
    }
    keys.into_iter()
        .filter_map(|(store, keys)| {
            let per_call = crate::providers::keys_per_call(&store.spec(ctx)?);
            (per_call > 1).then(|| (store.label(), group_count(keys.len(), per_call)))
        })
        .collect()
}

/// B for `keys` distinct keys read `per_call` at a time.
fn group_count(keys: usize, per_call: usize) -> u32 {
    u32::try_from(keys.div_ceil(per_call.max(1)).max(1).next_power_of_two()).unwrap_or(1 << 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> GroupCounts {
        GroupCounts::new()
    }

    fn es(namespace: &str, name: &str, spec: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
            "spec": spec,
        }))
        .expect("a valid ExternalSecret")
    }

    fn reading(store_kind: &str, keys: &[&str]) -> serde_json::Value {
        let data: Vec<_> = keys.iter().map(|k| serde_json::json!({"secretKey": k, "remoteRef": {"key": k}})).collect();
        serde_json::json!({"secretStoreRef": {"name": "shared", "kind": store_kind}, "data": data})
    }

    #[test]
    fn objects_reading_the_same_keys_of_the_same_store_share_a_slot_whatever_their_order() {
        let a = es("team", "a", reading("SecretStore", &["db", "api"]));
        let b = es("team", "b", reading("SecretStore", &["api", "db"]));
        assert_eq!(slot_identity(&a, &none()), slot_identity(&b, &none()));
        let other_keys = es("team", "c", reading("SecretStore", &["db"]));
        assert_ne!(slot_identity(&a, &none()), slot_identity(&other_keys, &none()));
    }

    #[test]
    fn a_secret_store_is_its_namespaces_own_and_a_cluster_store_is_shared() {
        let here = es("team-a", "x", reading("SecretStore", &["db"]));
        let there = es("team-b", "x", reading("SecretStore", &["db"]));
        assert_ne!(slot_identity(&here, &none()), slot_identity(&there, &none()), "two SecretStores named alike are two stores");
        let here = es("team-a", "x", reading("ClusterSecretStore", &["db"]));
        let there = es("team-b", "y", reading("ClusterSecretStore", &["db"]));
        assert_eq!(slot_identity(&here, &none()), slot_identity(&there, &none()));
    }

    #[test]
    fn a_find_or_a_generator_keeps_a_slot_of_its_own() {
        let find = serde_json::json!({"secretStoreRef": {"name": "shared"}, "dataFrom": [{"find": {"name": {"regexp": ".*"}}}]});
        assert_ne!(slot_identity(&es("t", "a", find.clone()), &none()), slot_identity(&es("t", "b", find), &none()));
        let generated = serde_json::json!({"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]});
        assert_ne!(slot_identity(&es("t", "a", generated.clone()), &none()), slot_identity(&es("t", "b", generated), &none()));
    }

    #[test]
    fn on_a_batching_store_key_sets_fall_into_power_of_two_groups_that_share_a_slot() {
        assert_eq!(group_count(100, 20), 8, "⌈100 ÷ 20⌉ = 5, rounded up to 8");
        assert_eq!(group_count(20, 20), 1);
        assert_eq!(group_count(0, 20), 1);
        assert_eq!(group_count(21, 20), 2);
        let groups = GroupCounts::from([("SecretStore/team/shared".to_string(), 4)]);
        let identities: BTreeSet<String> =
            (0..64).map(|i| slot_identity(&es("team", &format!("o{i}"), reading("SecretStore", &[&format!("k{i}")])), &groups)).collect();
        assert_eq!(identities.len(), 4, "64 key sets in 4 groups: {identities:?}");
        assert!(identities.iter().all(|id| id.starts_with("SecretStore/team/shared|group ")));
        let a = es("team", "a", reading("SecretStore", &["db", "api"]));
        let b = es("team", "b", reading("SecretStore", &["api", "db"]));
        assert_eq!(slot_identity(&a, &groups), slot_identity(&b, &groups), "one key set, one group");
        // Another store (not counted: one key per call) keeps a slot per key set.
        let elsewhere = es("other", "a", reading("SecretStore", &["db", "api"]));
        assert_eq!(slot_identity(&elsewhere, &groups), slot_identity(&elsewhere, &none()));
    }
}
