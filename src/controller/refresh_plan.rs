//! Refresh plans (issue #20). On a batching store, a group of key sets shares one slot
//! (`slot.rs`), so its objects fall due together; the workers still take them sixteen at a time,
//! and each sixteen would read the keys it happens to need in a batch of its own. Instead the
//! first of them to reach the store's client reads the keys of every due object of the group
//! ahead, in full batches, and the others take their share from the client's holding, as a
//! first-sync wave does (`wave.rs`). A cycle then costs about one call per group.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use kube::Resource;

use super::Context;
use super::slot::{Slot, slot_of};
use super::wave::{PLAN_GAP, read_ahead};
use crate::api::{AnyStore, ExternalSecret, StoreKey};
use crate::fetch::StoreClient;

/// The members of each grouped slot, by slot identity.
type Members = HashMap<String, Vec<Arc<ExternalSecret>>>;

/// The objects of every grouped slot, from one walk of the population per [`PLAN_GAP`].
#[derive(Default)]
pub struct Grouped(Mutex<Option<(Instant, Members)>>);

impl Grouped {
    /// The objects sharing the slot `identity`, from a walk at most [`PLAN_GAP`] old.
    fn members(&self, ctx: &Context, identity: &str) -> Vec<Arc<ExternalSecret>> {
        let mut walk = self.0.lock().expect("refresh plan lock");
        if walk.as_ref().is_none_or(|(at, _)| at.elapsed() >= PLAN_GAP) {
            let counts = ctx.groups.counts(ctx);
            let mut by_slot = Members::new();
            for es in ctx.external_secrets.state() {
                let slot = slot_of(&es, &counts);
                if slot.grouped {
                    by_slot.entry(slot.identity).or_default().push(es);
                }
            }
            *walk = Some((Instant::now(), by_slot));
        }
        walk.as_ref().and_then(|(_, by_slot)| by_slot.get(identity).cloned()).unwrap_or_default()
    }
}

/// Plan the reads of `slot`'s group for a routine refresh of one of its objects (after every
/// check passed; `stores` and `clients` are what its reconcile resolved). True when the object's
/// reads are the plan's to serve: its slot is a group's and its one client batches.
pub async fn plan(ctx: &Context, slot: &Slot, stores: &[(StoreKey, AnyStore)], clients: &[(StoreKey, Arc<StoreClient>)]) -> bool {
    let ([(key, store)], [(_, client)]) = (stores, clients) else { return false };
    if !slot.grouped || client.batcher.provider().keys_per_call() <= 1 {
        return false;
    }
    // One plan per client per gap; later members within it share its reads or read as usual.
    let Some(_planning) = client.batcher.begin_plan(PLAN_GAP).await else { return true };
    let members = ctx.grouped.members(ctx, &slot.identity);
    let now = Utc::now();
    let due: Vec<&ExternalSecret> = members.iter().map(|o| &**o).filter(|o| refresh_due(ctx, o, now)).collect();
    let keys = read_ahead(ctx, store, client, &due).await;
    tracing::debug!(store = %key.0, objects = due.len(), keys, "refresh group planned");
    true
}

/// Whether `es` is about to refresh: periodic, and its last refresh more than half its interval
/// ago (a group's members fall due together; one that refreshed since, e.g. after an edit, is not
/// counted, so no value is held for it).
fn refresh_due(ctx: &Context, es: &ExternalSecret, now: DateTime<Utc>) -> bool {
    if es.meta().deletion_timestamp.is_some() {
        return false;
    }
    let Some(interval) = es.periodic_interval(ctx.config.default_refresh_interval) else { return false };
    let interval = super::due::effective_interval(interval, ctx.config.min_refresh_interval);
    let status = es.status.as_ref().and_then(|s| s.refresh_time.as_deref()).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let remembered = ctx.last_sync(es).and_then(|s| DateTime::parse_from_rfc3339(&s.at).ok());
    let last = status.into_iter().chain(remembered).map(|t| t.with_timezone(&Utc)).max();
    last.is_none_or(|t| now - t > chrono::Duration::from_std(interval / 2).unwrap_or_default())
}
