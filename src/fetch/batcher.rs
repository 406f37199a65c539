//! Coalescing, batching, priority and budget for the reads against one store client.
//!
//! Requests arriving within `window` of the first pending one leave as one `get_secrets` call (a
//! provider with a batch API answers it with one remote call per `keys_per_call` keys); a request
//! for a key already pending or in flight waits for that call instead of making its own. Keys of
//! never-synced or changed ExternalSecrets (`Priority::Urgent`) go out before routine refreshes.
//! Each batch is charged to the store's budget first, and so is every list page and read of a
//! `dataFrom.find`. Results are kept after the call returns only for the first syncs a wave plan
//! counted (`holding.rs`), so every refresh reads fresh values.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sesame_provider_core::{CallBudget, FindLimits, FindQuery, FindScope, ProviderError, RemoteKey, SecretProvider, SecretValue};
use tokio::sync::{Notify, oneshot};

use super::budget::Budget;
use super::holding::{self, HeldBytes, Holding};
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

struct Queues {
    pending: HashMap<RemoteKey, (Priority, Vec<Reply>)>,
    in_flight: HashMap<RemoteKey, Vec<Reply>>,
    flusher_running: bool,
    holding: Holding,
    sweeper_running: bool,
    last_plan: Option<Instant>,
}

impl Queues {
    fn new(process_held: Arc<HeldBytes>) -> Self {
        Queues {
            pending: HashMap::new(),
            in_flight: HashMap::new(),
            flusher_running: false,
            holding: Holding::new(holding::CLIENT_CAP, process_held),
            sweeper_running: false,
            last_plan: None,
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
    pub async fn get(&self, key: RemoteKey, priority: Priority) -> Result<SecretValue, ProviderError> {
        self.read(key, priority, false).await
    }

    /// [`get`](Self::get) for a first sync: takes its share of a value its wave's plan read.
    pub async fn get_planned(&self, key: RemoteKey, priority: Priority) -> Result<SecretValue, ProviderError> {
        self.read(key, priority, true).await
    }

    async fn read(&self, key: RemoteKey, priority: Priority, planned: bool) -> Result<SecretValue, ProviderError> {
        let (tx, rx) = oneshot::channel();
        let (start_flusher, full) = {
            let mut q = self.0.queues.lock().expect("batcher lock");
            if planned && let Some(value) = q.holding.take(&key, Instant::now()) {
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

    /// Whether a wave may be planned for this client now: at most one plan per `gap`, so a
    /// stream of new objects does not rescan the population for each one.
    pub fn may_plan(&self, gap: Duration) -> bool {
        let mut q = self.0.queues.lock().expect("batcher lock");
        let now = Instant::now();
        if q.last_plan.is_some_and(|at| now.duration_since(at) < gap) {
            return false;
        }
        q.last_plan = Some(now);
        true
    }

    /// Read `keys` ahead for the first syncs a plan counted (each key with its number of readers),
    /// at urgent priority and in full batches; the values are held for those readers.
    pub fn prefetch(&self, keys: Vec<(RemoteKey, usize)>) {
        let (start_flusher, full) = {
            let mut q = self.0.queues.lock().expect("batcher lock");
            let now = Instant::now();
            for (key, readers) in keys {
                if !q.holding.plan(&key, readers, now) || q.in_flight.contains_key(&key) {
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
            for reply in q.in_flight.remove(key).unwrap_or_default() {
                let _ = reply.send(result.clone());
            }
        }
        if q.holding.is_holding() && !q.sweeper_running {
            q.sweeper_running = true;
            tokio::spawn(sweep_loop(s.clone()));
        }
    }
}

/// Drops held values as they expire, while there are any.
async fn sweep_loop(s: Arc<Shared>) {
    loop {
        tokio::time::sleep(holding::IDLE_TTL).await;
        let mut q = s.queues.lock().expect("batcher lock");
        if !q.holding.sweep(Instant::now()) {
            q.sweeper_running = false;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_provider_core::CallRate;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts batches, remembers their order, and echoes the key as the value.
    #[derive(Default)]
    struct Echo {
        batches: AtomicUsize,
        keys: AtomicUsize,
        order: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl SecretProvider for Echo {
        fn name(&self) -> &'static str {
            "Echo"
        }
        async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
            if key.key == "missing" {
                return Err(ProviderError::NotFound("missing".into()));
            }
            if key.key == "throttled" {
                return Err(ProviderError::Throttled { message: "rate exceeded".into(), retry_after: Some(Duration::from_millis(1)) });
            }
            Ok(SecretValue::from(key.key.as_str()))
        }
        async fn get_secrets(&self, keys: &[RemoteKey]) -> Vec<Result<SecretValue, ProviderError>> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.keys.fetch_add(keys.len(), Ordering::SeqCst);
            self.order.lock().unwrap().extend(keys.iter().map(|k| k.key.clone()));
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut out = Vec::new();
            for k in keys {
                out.push(self.get_secret(k).await);
            }
            out
        }
        /// Three list pages of 4 names, then one read per name.
        async fn find(&self, _: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
            let mut names = Vec::new();
            for page in 0..3 {
                scope.charge(1).await;
                names.extend((0..4).map(|i| format!("s{page}{i}")));
                scope.check_matches(names.len())?;
            }
            scope.charge(names.len()).await;
            let mut found = BTreeMap::new();
            for n in names {
                let v = SecretValue::from(n.as_str());
                scope.check_value(&n, &v)?;
                found.insert(n, v);
            }
            Ok(found)
        }
        async fn validate(&self) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    fn batcher(echo: Arc<Echo>, max_batch: usize, qps: u32) -> Batcher {
        Batcher::new(echo, Duration::from_millis(10), max_batch, Budget::new(CallRate { qps, burst: qps }), None, HeldBytes::new(1 << 20))
    }

    #[tokio::test]
    async fn concurrent_reads_of_many_keys_cost_one_batch_per_max_batch() {
        let echo = Arc::new(Echo::default());
        let b = Arc::new(batcher(echo.clone(), 20, 1000));
        let reads = (0..100).map(|i| {
            let b = b.clone();
            tokio::spawn(async move { b.get(RemoteKey::new(format!("k{}", i % 40)), Priority::Routine).await })
        });
        for (i, r) in futures::future::join_all(reads).await.into_iter().enumerate() {
            assert_eq!(r.unwrap().unwrap().as_bytes(), format!("k{}", i % 40).as_bytes());
        }
        assert_eq!(echo.keys.load(Ordering::SeqCst), 40, "each distinct key read once");
        assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "40 keys in batches of 20");
    }

    #[tokio::test]
    async fn a_throttled_batch_halves_the_stores_rate_and_a_write_is_charged_to_the_same_budget() {
        let echo = Arc::new(Echo::default());
        let b = batcher(echo, 20, 400);
        assert!(matches!(b.get(RemoteKey::new("throttled"), Priority::Routine).await, Err(ProviderError::Throttled { .. })));
        assert_eq!(b.0.budget.current_qps(), 200);
        let _ = b
            .call(|_| async {
                Err::<(), _>(ProviderError::Throttled { message: "slow down".into(), retry_after: Some(Duration::from_millis(1)) })
            })
            .await;
        assert_eq!(b.0.budget.current_qps(), 200, "throttles within a second are one event");
        assert_eq!(b.get(RemoteKey::new("a"), Priority::Routine).await.unwrap().as_bytes(), b"a", "reads go on after the pause");
    }

    #[tokio::test]
    async fn one_keys_error_reaches_only_its_readers() {
        let b = batcher(Arc::new(Echo::default()), 20, 1000);
        let (ok, missing) =
            tokio::join!(b.get(RemoteKey::new("a"), Priority::Routine), b.get(RemoteKey::new("missing"), Priority::Routine));
        assert_eq!(ok.unwrap().as_bytes(), b"a");
        assert!(missing.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn a_value_larger_than_a_secret_can_hold_is_refused() {
        let b = batcher(Arc::new(Echo::default()), 20, 1000);
        let huge = "h".repeat(MAX_VALUE_BYTES + 1);
        let err = b.get(RemoteKey::new(huge), Priority::Routine).await.unwrap_err();
        assert!(err.to_string().contains("over the 1048576 bytes"), "{}", &err.to_string()[..80]);
    }

    #[tokio::test]
    async fn reads_after_a_call_returns_go_to_the_provider_again() {
        let echo = Arc::new(Echo::default());
        let b = batcher(echo.clone(), 20, 1000);
        b.get(RemoteKey::new("a"), Priority::Routine).await.unwrap();
        b.get(RemoteKey::new("a"), Priority::Routine).await.unwrap();
        assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "no value is cached after its call");
    }

    #[tokio::test]
    async fn a_planned_wave_is_read_in_full_batches_and_its_readers_take_it_without_a_call() {
        let echo = Arc::new(Echo::default());
        let b = batcher(echo.clone(), 20, 1000);
        b.prefetch((0..40).map(|i| (RemoteKey::new(format!("k{i}")), 2)).collect());
        for round in 0..2 {
            for i in 0..40 {
                let key = RemoteKey::new(format!("k{i}"));
                assert_eq!(b.get_planned(key, Priority::Urgent).await.unwrap().as_bytes(), format!("k{i}").as_bytes(), "round {round}");
            }
        }
        assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "40 planned keys in two full batches, 80 readers served from them");
        assert!(!b.0.queues.lock().unwrap().holding.is_holding(), "every share taken: nothing left held");
        b.get(RemoteKey::new("k0"), Priority::Routine).await.unwrap();
        b.get_planned(RemoteKey::new("k1"), Priority::Urgent).await.unwrap();
        assert_eq!(echo.batches.load(Ordering::SeqCst), 4, "a refresh, and a reader beyond the plan, read again");
    }

    #[tokio::test]
    async fn a_find_charges_each_list_page_and_read_to_the_store_budget() {
        let metrics = Arc::new(Metrics::default());
        let labels = StoreLabels { kind: "SecretStore".into(), namespace: "team-a".into(), store: "s".into() };
        let b = Batcher::new(
            Arc::new(Echo::default()),
            Duration::from_millis(10),
            20,
            Budget::new(CallRate { qps: 1000, burst: 1000 }),
            Some((metrics.clone(), labels)),
            HeldBytes::new(1 << 20),
        );
        let found = b.find(&FindQuery::default(), FindLimits::default()).await.unwrap();
        assert_eq!(found.len(), 12);
        let text = metrics.encode();
        let line =
            text.lines().find(|l| l.starts_with("sesame_store_provider_calls") && l.contains("team-a")).expect("a store call sample");
        assert!(line.ends_with(" 15"), "3 list pages + 12 reads charged: {line}");
    }

    #[tokio::test]
    async fn a_find_over_its_limits_fails_naming_the_limit() {
        let b = batcher(Arc::new(Echo::default()), 20, 1000);
        let err = b.find(&FindQuery::default(), FindLimits { max_matches: 5, max_bytes: 1 << 20 }).await.unwrap_err();
        assert!(err.to_string().contains("more than 5 secrets"), "{err}");
        let err = b.find(&FindQuery::default(), FindLimits { max_matches: 100, max_bytes: 20 }).await.unwrap_err();
        assert!(err.to_string().contains("more than 20 bytes"), "{err}");
    }

    #[tokio::test]
    async fn urgent_reads_overtake_routine_ones_when_the_budget_is_short() {
        let echo = Arc::new(Echo::default());
        let b = Arc::new(batcher(echo.clone(), 1, 5));
        let mut tasks = Vec::new();
        for i in 0..10 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { b.get(RemoteKey::new(format!("routine-{i}")), Priority::Routine).await }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let urgent = b.get(RemoteKey::new("urgent"), Priority::Urgent).await.unwrap();
        assert_eq!(urgent.as_bytes(), b"urgent");
        let order = echo.order.lock().unwrap().clone();
        let pos = order.iter().position(|k| k == "urgent").unwrap();
        assert!(pos <= 2, "urgent read went out as batch {pos} of {order:?}");
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }
}
