//! Refresh plans (issue #20). On a batching store, a group of key sets shares one slot
//! (`slot.rs`), so its objects fall due together; the workers still take them sixteen at a time,
//! and each sixteen would read the keys it happens to need in a batch of its own. Instead the
//! first of them to reach the store's client reads the keys of every due object of the group
//! ahead, in full batches, and the others take their share from the client's holding, as a
//! first-sync wave does (`wave.rs`). A cycle then costs about one call per group.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kube::Resource;

use super::slot::{Slot, slot_of};
use super::wave::{PLAN_GAP, read_ahead};
use super::{Context, PackedExternalSecret};
use crate::api::{AnyStore, ExternalSecret, StoreKey};
use crate::fetch::{ReadAs, StoreClient};

/// The longest a group waits before it is planned again (its members pass through the workers
/// well within it; a longer interval still re-plans each cycle).
const MAX_REPLAN: Duration = Duration::from_secs(30);

/// The members of each grouped slot, by slot identity.
type Members = HashMap<String, Vec<Arc<PackedExternalSecret>>>;

/// The objects of every grouped slot, from one walk of the population per [`PLAN_GAP`], and
/// when each slot was last planned.
#[derive(Default)]
pub struct Grouped(Mutex<Groups>);

#[derive(Default)]
struct Groups {
    walk: Option<(Instant, Members)>,
    planned: HashMap<String, Instant>,
}

impl Grouped {
    /// The members of slot `identity` to plan for, unless `claim` (the slot through one client)
    /// was planned less than `again` ago (its members stream through the workers for seconds
    /// after their first: they share that plan's reads instead of planning again).
    fn claim(&self, ctx: &Context, identity: &str, claim: &str, again: Duration) -> Option<Vec<Arc<PackedExternalSecret>>> {
        let mut groups = self.0.lock().expect("refresh plan lock");
        let now = Instant::now();
        if groups.planned.get(claim).is_some_and(|at| now.duration_since(*at) < again) {
            return None;
        }
        groups.planned.retain(|_, at| now.duration_since(*at) < MAX_REPLAN);
        groups.planned.insert(claim.to_string(), now);
        if groups.walk.as_ref().is_none_or(|(at, _)| now.duration_since(*at) >= PLAN_GAP) {
            let counts = ctx.groups.counts(ctx);
            let mut by_slot = Members::new();
            // Members stay packed: only the claimed group's are unpacked again, by `plan`.
            for packed in ctx.external_secrets.state() {
                let Some(slot) = packed.unpack().map(|es| slot_of(&es, &counts)) else { continue };
                if slot.grouped {
                    by_slot.entry(slot.identity).or_default().push(packed);
                }
            }
            groups.walk = Some((now, by_slot));
        }
        Some(groups.walk.as_ref().and_then(|(_, by_slot)| by_slot.get(identity).cloned()).unwrap_or_default())
    }
}

/// Plan the reads of `slot`'s group for a routine refresh of one of its objects, refreshing every
/// `interval` (after every check passed; `stores` and `clients` are what its reconcile resolved).
/// True when the object's reads are the plan's to serve: its slot is a group's and its one client
/// batches.
pub async fn plan(
    ctx: &Context,
    slot: &Slot,
    interval: Duration,
    stores: &[(StoreKey, AnyStore)],
    clients: &[(StoreKey, Arc<StoreClient>)],
) -> bool {
    let ([(key, store)], [(_, client)]) = (stores, clients) else { return false };
    if !slot.grouped || client.batcher.provider().keys_per_call() <= 1 {
        return false;
    }
    // About once per group and cycle. Not for a quarter interval: a group whose members synced on
    // either side of its half-phase falls due at two instants half an interval apart, each planned.
    // Per client: a ClusterSecretStore with referent credentials reads a namespace's members
    // through that namespace's client, and each client plans its share.
    let claim = format!("{}@{:p}", slot.identity, Arc::as_ptr(client));
    let Some(members) = ctx.grouped.claim(ctx, &slot.identity, &claim, (interval / 4).min(MAX_REPLAN)) else { return true };
    let now = Utc::now();
    let members: Vec<ExternalSecret> = members.iter().filter_map(|p| p.unpack()).collect();
    let due: Vec<&ExternalSecret> = members.iter().filter(|o| refresh_due(ctx, o, &slot.identity, now)).collect();
    // As fresh as a routine refresh's own read: a value held from the group's last cycle is read again.
    let keys = read_ahead(ctx, store, client, &due, Some(ReadAs::routine().since)).await;
    tracing::debug!(store = %key.0, objects = due.len(), keys, "refresh group planned");
    true
}

/// Whether `es`, a member of slot `identity`, refreshes within a couple of seconds: its next slot
/// after its last refresh has come (`due::next_slot`, as its reconcile decides). A member that
/// refreshed since (e.g. after an edit) is not counted, so no value is held for it.
fn refresh_due(ctx: &Context, es: &ExternalSecret, identity: &str, now: DateTime<Utc>) -> bool {
    if es.meta().deletion_timestamp.is_some() {
        return false;
    }
    let Some(interval) = es.periodic_interval(ctx.config.default_refresh_interval) else { return false };
    let interval = super::due::effective_interval(interval, ctx.config.min_refresh_interval);
    let status = es.status.as_ref().and_then(|s| s.refresh_time.as_deref()).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let remembered = ctx.last_sync(es).and_then(|s| DateTime::parse_from_rfc3339(&s.at).ok());
    let Some(last) = status.into_iter().chain(remembered).map(|t| t.with_timezone(&Utc)).max() else { return false };
    super::due::next_slot(last, interval, identity) <= now + chrono::Duration::seconds(2)
}
