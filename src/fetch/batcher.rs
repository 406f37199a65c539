//! Coalescing, batching, priority and budget for the reads against one store client.
//!
//! Requests arriving within `window` of the first pending one leave as one `get_secrets` call (a
//! provider with a batch API answers it with one remote call per `keys_per_call` keys); a request
//! for a key already pending or in flight waits for that call instead of making its own. Keys of
//! never-synced or changed ExternalSecrets (`Priority::Urgent`) go out before routine refreshes.
//! Each batch is charged to the store's budget first. Results are never kept after the call
//! returns, so every refresh reads fresh values.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_provider_core::{ProviderError, RemoteKey, SecretProvider, SecretValue};
use tokio::sync::{Notify, oneshot};

use super::budget::Budget;
use crate::metrics::{Metrics, StoreLabels};

type Reply = oneshot::Sender<Result<SecretValue, ProviderError>>;

/// Which reads go first when a store's budget is the bottleneck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A routine periodic refresh.
    Routine,
    /// Never synced, changed, or repairing drift: someone is waiting for it.
    Urgent,
}

#[derive(Default)]
struct Queues {
    pending: HashMap<RemoteKey, (Priority, Vec<Reply>)>,
    in_flight: HashMap<RemoteKey, Vec<Reply>>,
    flusher_running: bool,
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

impl Batcher {
    pub fn new(
        provider: Arc<dyn SecretProvider>,
        window: Duration,
        max_batch: usize,
        budget: Budget,
        metrics: Option<(Arc<Metrics>, StoreLabels)>,
    ) -> Self {
        Batcher(Arc::new(Shared {
            provider,
            window,
            max_batch: max_batch.max(1),
            budget,
            metrics,
            queues: Mutex::default(),
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
        result
    }

    /// Read one key, sharing the remote call with every concurrent reader of the same key.
    pub async fn get(&self, key: RemoteKey, priority: Priority) -> Result<SecretValue, ProviderError> {
        let (tx, rx) = oneshot::channel();
        let (start_flusher, full) = {
            let mut q = self.0.queues.lock().expect("batcher lock");
            if let Some(waiters) = q.in_flight.get_mut(&key) {
                waiters.push(tx);
                (false, false)
            } else {
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
        let mut q = s.queues.lock().expect("batcher lock");
        for (i, key) in keys.iter().enumerate() {
            let result = results
                .get(i)
                .cloned()
                .unwrap_or_else(|| Err(ProviderError::Transient(format!("provider returned no result for {}", key.key))));
            for reply in q.in_flight.remove(key).unwrap_or_default() {
                let _ = reply.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::budget::BudgetLimits;
    use async_trait::async_trait;
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
        async fn validate(&self) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    fn batcher(echo: Arc<Echo>, max_batch: usize, qps: u32) -> Batcher {
        Batcher::new(echo, Duration::from_millis(10), max_batch, Budget::new(BudgetLimits { qps, burst: qps }), None)
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
    async fn one_keys_error_reaches_only_its_readers() {
        let b = batcher(Arc::new(Echo::default()), 20, 1000);
        let (ok, missing) =
            tokio::join!(b.get(RemoteKey::new("a"), Priority::Routine), b.get(RemoteKey::new("missing"), Priority::Routine));
        assert_eq!(ok.unwrap().as_bytes(), b"a");
        assert!(missing.unwrap_err().is_not_found());
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
