//! Coalescing, batching, priority and budget for the reads against one store client.
//!
//! Requests arriving within `window` of the first pending one leave as one `get_secrets` call (a
//! provider with a batch API answers it with one remote call per `keys_per_call` keys); a request
//! for a key already pending or in flight waits for that call instead of making its own. Keys of
//! never-synced or changed ExternalSecrets (`Priority::Urgent`) go out before routine refreshes.
//! Each batch is charged to the store's budget first, and so is every list page and read of a
//! `dataFrom.find`. Results are kept after the call returns for the first syncs a wave plan
//! counted (`holding.rs`), and for two seconds for later syncs of the same keys (`recent.rs`):
//! a routine refresh takes any of them, a sync someone asked for only one read after it asked.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sesame_provider_core::{CallBudget, FindLimits, FindQuery, FindScope, ProviderError, RemoteKey, SecretProvider, SecretValue};
use tokio::sync::{Notify, oneshot};

use super::budget::Budget;
use super::holding::{self, HeldBytes, Holding};
use super::recent::{self, Recent};
use crate::metrics::{Metrics, StoreLabels};

type Reply = oneshot::Sender<Result<SecretValue, ProviderError>>;

/// The largest value one read may return: what a Kubernetes Secret holds. The provider SDKs have
/// no body-size option, so this is checked on what they read, before the value goes any further
/// (templates, decoding, the Secret).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

fn within_limit(key: &RemoteKey, result: Result<SecretValue, ProviderError>) -> Result<SecretValue, ProviderError> {
    match result {
        Ok(v) if v.len() > MAX_VALUE_BYTES => Err(ProviderError::Invalid(format!(
            "remote secret {} is {} bytes, over the {MAX_VALUE_BYTES} bytes a Secret can hold",
            key.key,
            v.len()
        ))),
        other => other,
    }
}

/// Which reads go first when a store's budget is the bottleneck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A routine periodic refresh.
    Routine,
    /// Never synced, changed, or repairing drift: someone is waiting for it.
    Urgent,
}

/// How one sync reads: its priority, and the moment from which a value its client already read
/// serves it as well as its own read would (`recent.rs`).
#[derive(Debug, Clone, Copy)]
pub struct ReadAs {
    pub priority: Priority,
    pub since: Instant,
    /// A plan read this sync's keys ahead (a first-sync wave, a refresh group): it takes its share
    /// of what the plan holds before anything else.
    pub planned: bool,
}

impl ReadAs {
    /// A routine refresh: any value read in the last [`recent::RECENT`] (as if its slot came that
    /// much earlier).
    pub fn routine() -> Self {
        let now = Instant::now();
        ReadAs { priority: Priority::Routine, since: now.checked_sub(recent::RECENT).unwrap_or(now), planned: false }
    }

    /// A sync asked for at `asked` (the watch delivered an edit, a force-sync, a new object): only
    /// a value whose call was sent after that.
    pub fn asked_at(asked: Instant) -> Self {
        ReadAs { priority: Priority::Urgent, since: asked, planned: false }
    }

    /// The same read, served first from what a plan read ahead for it.
    pub fn planned(self) -> Self {
        ReadAs { planned: true, ..self }
    }
}

struct Queues {
    pending: HashMap<RemoteKey, (Priority, Vec<Reply>)>,
    in_flight: HashMap<RemoteKey, Vec<Reply>>,
    flusher_running: bool,
    holding: Holding,
    recent: Recent,
    sweeper_running: bool,
}

impl Queues {
    fn new(process_held: Arc<HeldBytes>) -> Self {
        Queues {
            pending: HashMap::new(),
            in_flight: HashMap::new(),
            flusher_running: false,
            holding: Holding::new(holding::CLIENT_CAP, process_held.clone()),
            recent: Recent::new(recent::CLIENT_CAP, process_held),
            sweeper_running: false,
        }
    }
}

struct Shared {
    provider: Arc<dyn SecretProvider>,
    window: Duration,
    max_batch: usize,
    budget: Budget,
    metrics: Option<(Arc<Metrics>, StoreLabels)>,
    queues: Mutex<Queues>,
    full: Notify,
    /// When the last wave plan began; held while a plan is being made (see [`Batcher::begin_plan`]).
    planning: tokio::sync::Mutex<Option<Instant>>,
}

pub struct Batcher(Arc<Shared>);

impl Shared {
    fn report_rate(&self) {
        if let Some((m, labels)) = &self.metrics {
            m.store_rate(labels, self.budget.current_qps());
        }
    }
}

impl Batcher {
    pub fn new(
        provider: Arc<dyn SecretProvider>,
        window: Duration,
        max_batch: usize,
        budget: Budget,
        metrics: Option<(Arc<Metrics>, StoreLabels)>,
        held: Arc<HeldBytes>,
    ) -> Self {
        if let Some((m, labels)) = &metrics {
            m.store_rate(labels, budget.current_qps());
        }
        Batcher(Arc::new(Shared {
            provider,
            window,
            max_batch: max_batch.max(1),
            budget,
            metrics,
            queues: Mutex::new(Queues::new(held)),
            full: Notify::new(),
            planning: tokio::sync::Mutex::new(None),
        }))
    }

    pub fn provider(&self) -> &Arc<dyn SecretProvider> {
        &self.0.provider
    }

    /// One provider call outside the read path (PushSecret writes, deletes, existence checks),
    /// charged to the same budget as reads and feeding the same throttling backoff.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, ProviderError>
    where
        F: FnOnce(Arc<dyn SecretProvider>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let s = &self.0;
        s.budget.acquire(1).await;
        let result = call(s.provider.clone()).await;
        match &result {
            Err(ProviderError::Throttled { retry_after, .. }) => s.budget.throttled(*retry_after),
            _ => s.budget.succeeded(),
        }
        s.report_rate();
        result
    }

    /// Read one key, sharing the remote call with every concurrent reader of the same key.
    pub async fn get(&self, key: RemoteKey, read: ReadAs) -> Result<SecretValue, ProviderError> {
        self.read(key, read, false).await
    }

    /// [`get`](Self::get) for a first sync: takes its share of a value its wave's plan read.
    pub async fn get_planned(&self, key: RemoteKey, read: ReadAs) -> Result<SecretValue, ProviderError> {
        self.read(key, read, true).await
    }

    async fn read(&self, key: RemoteKey, read: ReadAs, planned: bool) -> Result<SecretValue, ProviderError> {
        let priority = read.priority;
        let (tx, rx) = oneshot::channel();
        let (start_flusher, full) = {
            let mut q = self.0.queues.lock().expect("batcher lock");
            if planned && let Some(value) = q.holding.take(&key, Instant::now()) {
                return Ok(value);
            }
            if let Some(value) = q.recent.get(&key, read.since, Instant::now()) {
                return Ok(value);
            }
            if let Some(waiters) = q.in_flight.get_mut(&key) {
                waiters.push(tx);
                if planned {
                    q.holding.joined(&key);
                }
                (false, false)
            } else {
                if planned && q.pending.contains_key(&key) {
                    q.holding.joined(&key);
                } else if planned {
                    // A planned reader the plan did not count, or one whose share was taken: the
                    // reason a first sync or grouped refresh costs more calls than its plan.
                    tracing::debug!(key = %key.key, "a planned read found nothing held or under way");
                }
                let entry = q.pending.entry(key).or_insert((priority, Vec::new()));
                entry.0 = entry.0.max(priority);
                entry.1.push(tx);
                let start = !q.flusher_running;
                q.flusher_running = true;
                (start, q.pending.len() >= self.0.max_batch)
            }
        };
        if start_flusher {
            tokio::spawn(flush_loop(self.0.clone()));
        }
        if full {
            self.0.full.notify_one();
        }
        rx.await.unwrap_or_else(|_| Err(ProviderError::Transient("provider call was cancelled".into())))
    }

    /// A wave plan for this client, unless one began within `gap` (a stream of new objects does
    /// not rescan the population for each one). While a plan is being made, every other first
    /// sync that asks waits here until it has been handed to [`prefetch`](Self::prefetch): a first
    /// sync reading on its own meanwhile would read, and finish reading, a key the plan is about to
    /// read again.
    pub async fn begin_plan(&self, gap: Duration) -> Option<tokio::sync::MutexGuard<'_, Option<Instant>>> {
        let mut last = self.0.planning.lock().await;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < gap) {
            return None;
        }
        *last = Some(now);
        Some(last)
    }

    /// Read `keys` ahead for the first syncs a plan counted (each key with its number of readers),
    /// at urgent priority and in full batches; the values are held for those readers.
    /// With `fresh_since` (a refresh plan), a held value read before it is read again.
    pub fn prefetch(&self, keys: Vec<(RemoteKey, usize)>, fresh_since: Option<Instant>) {
        let (start_flusher, full) = {
            let mut q = self.0.queues.lock().expect("batcher lock");
            let now = Instant::now();
            for (key, readers) in keys {
                if !q.holding.plan(&key, readers, now, fresh_since) || q.in_flight.contains_key(&key) {
                    continue;
                }
                q.pending.entry(key).or_insert((Priority::Urgent, Vec::new())).0 = Priority::Urgent;
            }
            if q.pending.is_empty() {
                return;
            }
            let start = !q.flusher_running;
            q.flusher_running = true;
            (start, q.pending.len() >= self.0.max_batch)
        };
        if start_flusher {
            tokio::spawn(flush_loop(self.0.clone()));
        }
        if full {
            self.0.full.notify_one();
        }
    }
}

impl Batcher {
    /// `dataFrom.extract` from a provider that applies `property` itself: one budgeted call, not
    /// coalesced (rare, and its answer is a map), each value held to the same size limit.
    pub async fn get_map(&self, key: RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let map = self.call(|p| async move { p.get_secret_map(&key).await.map(|m| (key, m)) }).await?;
        let (key, map) = map;
        let total: usize = map.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > MAX_VALUE_BYTES {
            return Err(ProviderError::Invalid(format!(
                "remote secret {} holds {total} bytes, over the {MAX_VALUE_BYTES} bytes a Secret can hold",
                key.key
            )));
        }
        Ok(map)
    }

    /// `dataFrom.find`: not coalesced (its answer depends on the whole account), but each of its
    /// remote calls waits for the store's budget like a batch, and it stops at `limits`.
    pub async fn find(&self, query: &FindQuery, limits: FindLimits) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let budget = StoreBudget(&self.0);
        let result = self.0.provider.find(query, &FindScope::new(&budget, limits)).await;
        match &result {
            Err(ProviderError::Throttled { retry_after, .. }) => self.0.budget.throttled(*retry_after),
            Ok(_) => self.0.budget.succeeded(),
            Err(_) => {}
        }
        self.0.report_rate();
        result
    }
}

/// The store's budget as a find is charged to it, counted in the store's call metrics.
struct StoreBudget<'a>(&'a Shared);

#[async_trait]
impl CallBudget for StoreBudget<'_> {
    async fn charge(&self, calls: usize) {
        let waited = self.0.budget.acquire(calls).await;
        if let Some((m, labels)) = &self.0.metrics {
            m.store_batch(labels, calls as u64, false, waited);
        }
    }
}

/// The one task per store that sends batches while there is anything pending.
async fn flush_loop(s: Arc<Shared>) {
    tokio::select! {
        _ = tokio::time::sleep(s.window) => {}
        _ = s.full.notified() => {}
    }
    loop {
        let keys = {
            let mut q = s.queues.lock().expect("batcher lock");
            if q.pending.is_empty() {
                q.flusher_running = false;
                return;
            }
            let mut keys: Vec<(Priority, RemoteKey)> = q.pending.iter().map(|(k, (p, _))| (*p, k.clone())).collect();
            keys.sort_by_key(|k| std::cmp::Reverse(k.0));
            keys.truncate(s.max_batch);
            let keys: Vec<RemoteKey> = keys.into_iter().map(|(_, k)| k).collect();
            for k in &keys {
                let (_, waiters) = q.pending.remove(k).unwrap_or((Priority::Routine, Vec::new()));
                q.in_flight.entry(k.clone()).or_default().extend(waiters);
            }
            keys
        };
        let calls = keys.len().div_ceil(s.provider.keys_per_call().max(1));
        let waited = s.budget.acquire(calls).await;
        let sent_at = Instant::now();
        let results = s.provider.get_secrets(&keys).await;
        let throttle = results.iter().find_map(|r| match r {
            Err(ProviderError::Throttled { retry_after, .. }) => Some(*retry_after),
            _ => None,
        });
        match throttle {
            Some(hint) => s.budget.throttled(hint),
            None => s.budget.succeeded(),
        }
        if let Some((m, labels)) = &s.metrics {
            m.store_batch(labels, calls as u64, throttle.is_some(), waited);
        }
        s.report_rate();
        let mut q = s.queues.lock().expect("batcher lock");
        let now = Instant::now();
        for (i, key) in keys.iter().enumerate() {
            let result = results
                .get(i)
                .cloned()
                .unwrap_or_else(|| Err(ProviderError::Transient(format!("provider returned no result for {}", key.key))));
            let result = within_limit(key, result);
            q.holding.settle(key, &result, now);
            q.recent.remember(key, &result, sent_at);
            for reply in q.in_flight.remove(key).unwrap_or_default() {
                let _ = reply.send(result.clone());
            }
        }
        super::spare::release_spare(&mut q.in_flight);
        super::spare::release_spare(&mut q.pending);
        if (q.holding.is_holding() || q.recent.is_keeping()) && !q.sweeper_running {
            q.sweeper_running = true;
            tokio::spawn(sweep_loop(s.clone()));
        }
    }
}

/// Drops held and recent values as they expire, while there are any.
async fn sweep_loop(s: Arc<Shared>) {
    loop {
        tokio::time::sleep(recent::RECENT).await;
        let mut q = s.queues.lock().expect("batcher lock");
        let now = Instant::now();
        let (held, kept) = (q.holding.sweep(now), q.recent.sweep(now));
        if !held && !kept {
            q.sweeper_running = false;
            return;
        }
    }
}

#[cfg(test)]
#[path = "batcher_tests.rs"]
mod tests;
