//! First-sync wave planning (issue #20). The workers reconcile `--concurrency` objects at a time,
//! so a thousand never-synced objects would reach the fetch layer in waves of sixteen and each
//! wave would cost its own batch. Instead, the first never-synced object of a store to reach its
//! client gathers the remote keys of every other never-synced object that would reach the same
//! client, and reads them ahead in full batches; their syncs then take those values from the
//! client's holding (`fetch::holding`) instead of calling again.
//!
//! Only plain reads are planned (`data[].remoteRef`, `dataFrom[].extract`) of objects reading
//! from this one store; a `find`, a generator, a second store or a generic target keeps its own
//! reads. An object counts only if a reconcile of it would reach this very client:
//! a SecretStore's own namespace, a ClusterSecretStore's admitted namespaces, and the same
//! credentials scope. Objects that already synced are never planned, so a restart plans nothing.
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::{Resource, ResourceExt};
use sesame_provider_core::RemoteKey;

use super::{Context, PackedExternalSecret};
use crate::api::{AnyStore, ExternalSecret, StoreKey, StoreKind};
use crate::fetch::StoreClient;
use crate::pipeline::read_key;

/// At most one plan per client per gap: objects arriving in a stream do not rescan the population
/// one by one, they join the next plan.
pub(super) const PLAN_GAP: Duration = Duration::from_secs(1);
/// The most distinct keys one plan reads ahead (ten full batches).
const MAX_PLANNED_KEYS: usize = 1_000;
/// The most namespaces one plan judges (a ClusterSecretStore's namespace selector reads each).
const MAX_PLANNED_NAMESPACES: usize = 256;

/// The store a wave is planned for: a SecretStore's namespace (stores of one name in two
/// namespaces are two stores) and its reference; `None` for a ClusterSecretStore.
type WaveStore = (Option<String>, StoreKey);

/// The objects waiting for their first sync, grouped by the one store each reads from, from one
/// walk of the population per [`PLAN_GAP`] for every store's plan. A walk per store and plan cost
/// O(stores × N) each second of a first sync: at N = 30,000 over 30 stores, most of its CPU.
#[derive(Default)]
pub struct Waiting {
    walk: Mutex<Option<Walk>>,
    /// First syncs past their plan, reading their share: a later plan must not count them again
    /// (on a loaded machine a sync can outlast the gap, and a second plan read its keys twice).
    reading: Mutex<std::collections::HashSet<(String, String)>>,
}

/// While it lives, its object's first sync is reading the share a plan counted for it.
pub struct Reading<'a> {
    waiting: &'a Waiting,
    key: (String, String),
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.waiting.reading.lock().expect("wave lock").remove(&self.key);
    }
}

struct Walk {
    at: Instant,
    by_store: HashMap<WaveStore, Vec<Arc<ExternalSecret>>>,
    /// Every object the walk unpacked, by (namespace, name), with the record it came from: the
    /// next walk reuses those whose record the cache still holds, so a first sync unpacks each
    /// object about once, not once a gap.
    unpacked: HashMap<(String, String), (Arc<PackedExternalSecret>, Arc<ExternalSecret>)>,
}

impl Waiting {
    /// The objects of `store`'s wave, from a walk at most [`PLAN_GAP`] old. Each walk hands a
    /// store's share out once: a later plan within the gap has nothing new to read ahead.
    fn take(&self, ctx: &Context, store: &WaveStore) -> Vec<Arc<ExternalSecret>> {
        let mut walk = self.walk.lock().expect("wave lock");
        let now = Instant::now();
        if walk.as_ref().is_none_or(|w| now.duration_since(w.at) >= PLAN_GAP) {
            let mut before = walk.take().map(|w| w.unpacked).unwrap_or_default();
            let (mut by_store, mut unpacked): (HashMap<WaveStore, Vec<Arc<ExternalSecret>>>, HashMap<_, _>) = Default::default();
            for packed in ctx.external_secrets.state() {
                // Synced objects, most of them soon, are told apart by their record alone.
                if !first_sync_pending(ctx, &*packed) {
                    continue;
                }
                let name = super::memory::key(&*packed);
                let es = match before.remove(&name) {
                    Some((was, es)) if Arc::ptr_eq(&was, &packed) => es,
                    _ => match packed.unpack() {
                        Some(es) => Arc::new(es),
                        None => continue,
                    },
                };
                if let Some(key) = wave_store(&es) {
                    by_store.entry(key).or_default().push(es.clone());
                }
                unpacked.insert(name, (packed, es));
            }
            *walk = Some(Walk { at: now, by_store, unpacked });
        }
        walk.as_mut().and_then(|w| w.by_store.remove(store)).unwrap_or_default()
    }

    /// Marks `es`'s first sync as reading until the guard drops (the end of its sync, success or
    /// failure: a retry is counted again).
    pub fn reading(&self, es: &ExternalSecret) -> Reading<'_> {
        let key = super::memory::key(es);
        self.reading.lock().expect("wave lock").insert(key.clone());
        Reading { waiting: self, key }
    }

    fn is_reading(&self, es: &ExternalSecret) -> bool {
        self.reading.lock().expect("wave lock").contains(&super::memory::key(es))
    }
}

/// Whether `es` (the object or its packed record) is on its first sync: no refresh recorded in its
/// status or in this process.
pub fn first_sync_pending(ctx: &Context, es: &impl RefreshRecorded) -> bool {
    !es.refresh_recorded() && ctx.last_sync(es).is_none()
}

/// Whether an object's status records a refresh, asked of the object or of its packed record
/// (which answers by a flag, without unpacking: the wave walk asks it of every cached object).
pub trait RefreshRecorded: super::memory::Named {
    fn refresh_recorded(&self) -> bool;
}

impl RefreshRecorded for ExternalSecret {
    fn refresh_recorded(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.refresh_time.is_some())
    }
}

impl RefreshRecorded for PackedExternalSecret {
    fn refresh_recorded(&self) -> bool {
        self.refreshed
    }
}

/// Plan the wave of every store `es` reads from (its first sync, after every check passed):
/// `stores` and `clients` are what its reconcile resolved, in the same order.
pub async fn plan(ctx: &Context, stores: &[(StoreKey, AnyStore)], clients: &[(StoreKey, Arc<StoreClient>)]) {
    for ((key, store), (_, client)) in stores.iter().zip(clients) {
        // Held until the reads are handed over: other first syncs of this client wait for them.
        let Some(_planning) = client.batcher.begin_plan(PLAN_GAP).await else {
            continue;
        };
        let namespace = (key.1 == StoreKind::SecretStore).then(|| store.meta().namespace.clone().unwrap_or_default());
        // The walk may be up to a gap old: each object is looked at again.
        let share = ctx.waiting.take(ctx, &(namespace, key.clone()));
        let waiting: Vec<&ExternalSecret> = share
            .iter()
            .map(|o| &**o)
            .filter(|o| o.meta().deletion_timestamp.is_none() && first_sync_pending(ctx, *o) && !ctx.waiting.is_reading(o))
            .collect();
        let keys = read_ahead(ctx, store, client, &waiting, None).await;
        tracing::debug!(store = %key.0, keys, "first-sync wave planned");
    }
}

/// Read ahead, through `client`, the plain reads of those `objects` whose reconcile would reach
/// it, held for them (`fetch::holding`). Returns the number of distinct keys.
/// `fresh_since` as in [`crate::fetch::Batcher::prefetch`].
pub(super) async fn read_ahead(
    ctx: &Context,
    store: &AnyStore,
    client: &Arc<StoreClient>,
    objects: &[&ExternalSecret],
    fresh_since: Option<Instant>,
) -> usize {
    let namespaces: BTreeSet<String> = objects.iter().map(|o| o.namespace().unwrap_or_default()).collect();
    let mut admitted = BTreeSet::new();
    for ns in namespaces.into_iter().take(MAX_PLANNED_NAMESPACES) {
        if reaches(ctx, store, client, &ns).await {
            admitted.insert(ns);
        }
    }
    let reads = count_reads(objects, &admitted, client.batcher.provider().applies_property(), MAX_PLANNED_KEYS);
    let keys = reads.len();
    client.batcher.prefetch(reads, fresh_since);
    keys
}

/// Whether a reconcile of an object in `namespace` would reach `client` through `store`: the
/// ClusterSecretStore's conditions admit the namespace, and the namespace's client is this one
/// (a referent store's other namespaces hold other credentials).
async fn reaches(ctx: &Context, store: &AnyStore, client: &Arc<StoreClient>, namespace: &str) -> bool {
    if let AnyStore::Cluster(css) = store
        && super::store::allowed_from(ctx, &css.spec.store.conditions, namespace).await.is_err()
    {
        return false;
    }
    ctx.clients.cached(store, namespace).is_some_and(|c| Arc::ptr_eq(&c, client))
}

/// The one store `es` reads from, if it reads plainly and only from it, so that its whole first
/// sync can be served by that store's wave. Cheap checks first: every plan's walk asks this of
/// every object.
fn wave_store(es: &ExternalSecret) -> Option<WaveStore> {
    let spec = &es.spec;
    let plain = es.meta().deletion_timestamp.is_none()
        && spec.target.manifest.is_none()
        && spec.data_from.iter().all(|d| d.find.is_none() && d.source_ref.as_ref().is_none_or(|s| s.generator_ref.is_none()));
    if !plain {
        return None;
    }
    let [key] = <[StoreKey; 1]>::try_from(es.store_refs()).ok()?;
    crate::pipeline::validate_spec(spec).ok()?;
    let namespace = (key.1 == StoreKind::SecretStore).then(|| es.namespace().unwrap_or_default());
    Some((namespace, key))
}

/// Each remote key the objects of `admitted` namespaces will read, with how many reads of it they
/// will make (one per entry), for at most `max_keys` distinct keys.
fn count_reads(
    objects: &[&ExternalSecret],
    admitted: &BTreeSet<String>,
    applies_property: bool,
    max_keys: usize,
) -> Vec<(RemoteKey, usize)> {
    let mut counts: HashMap<RemoteKey, usize> = HashMap::new();
    for es in objects.iter().filter(|o| admitted.contains(&o.namespace().unwrap_or_default())) {
        let data = es.spec.data.iter().map(|d| read_key(&d.remote_ref, applies_property));
        // An extract from a provider that applies `property` itself reads a map, outside the batcher.
        let extract = es.spec.data_from.iter().filter_map(|d| d.extract.as_ref()).filter(|_| !applies_property);
        let keys: Vec<RemoteKey> = data.chain(extract.map(|r| read_key(r, false))).collect();
        if keys.iter().any(|k| !counts.contains_key(k)) && counts.len() + keys.len() > max_keys {
            continue;
        }
        for k in keys {
            *counts.entry(k).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

#[cfg(test)]
#[path = "wave_tests.rs"]
mod tests;
