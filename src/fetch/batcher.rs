//! Coalescing and batching of reads against one store client.
//!
//! Requests that arrive within `window` are sent as one `get_secrets` call (which a provider
//! with a batch API answers with one remote call per batch); a request for a key that is already
//! pending or in flight waits for that call instead of making its own. Results are never kept
//! after the call returns, so a later refresh always reads fresh values.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_provider_core::{ProviderError, RemoteKey, SecretProvider, SecretValue};
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<SecretValue, ProviderError>>;

/// Waiters per key. A key is in `pending` until its batch leaves, then in `in_flight`.
#[derive(Default)]
struct Queues {
    pending: HashMap<RemoteKey, Vec<Reply>>,
    in_flight: HashMap<RemoteKey, Vec<Reply>>,
    timer_armed: bool,
}

pub struct Batcher {
    provider: Arc<dyn SecretProvider>,
    window: Duration,
    max_batch: usize,
    queues: Arc<Mutex<Queues>>,
}

impl Batcher {
    pub fn new(provider: Arc<dyn SecretProvider>, window: Duration, max_batch: usize) -> Self {
        Batcher { provider, window, max_batch: max_batch.max(1), queues: Default::default() }
    }

    pub fn provider(&self) -> &Arc<dyn SecretProvider> {
        &self.provider
    }

    /// Read one key, sharing the remote call with every concurrent reader of the same key.
    pub async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError> {
        let (tx, rx) = oneshot::channel();
        let flush_now = {
            let mut q = self.queues.lock().expect("batcher lock");
            if let Some(waiters) = q.in_flight.get_mut(&key) {
                waiters.push(tx);
                None
            } else {
                q.pending.entry(key).or_default().push(tx);
                if q.pending.len() >= self.max_batch {
                    Some(true)
                } else if !q.timer_armed {
                    q.timer_armed = true;
                    Some(false)
                } else {
                    None
                }
            }
        };
        match flush_now {
            Some(true) => self.spawn_flush(Duration::ZERO),
            Some(false) => self.spawn_flush(self.window),
            None => {}
        }
        rx.await.unwrap_or_else(|_| Err(ProviderError::Transient("provider call was cancelled".into())))
    }

    fn spawn_flush(&self, after: Duration) {
        let provider = self.provider.clone();
        let queues = self.queues.clone();
        let max_batch = self.max_batch;
        tokio::spawn(async move {
            if !after.is_zero() {
                tokio::time::sleep(after).await;
            }
            loop {
                let keys: Vec<RemoteKey> = {
                    let mut q = queues.lock().expect("batcher lock");
                    let keys: Vec<RemoteKey> = q.pending.keys().take(max_batch).cloned().collect();
                    for k in &keys {
                        let waiters = q.pending.remove(k).unwrap_or_default();
                        q.in_flight.entry(k.clone()).or_default().extend(waiters);
                    }
                    if q.pending.is_empty() {
                        q.timer_armed = false;
                    }
                    keys
                };
                if keys.is_empty() {
                    return;
                }
                let results = provider.get_secrets(&keys).await;
                let mut q = queues.lock().expect("batcher lock");
                for (i, key) in keys.iter().enumerate() {
                    let result = results.get(i).cloned().unwrap_or_else(|| {
                        Err(ProviderError::Transient(format!("provider returned no result for {}", key.key)))
                    });
                    for reply in q.in_flight.remove(key).unwrap_or_default() {
                        let _ = reply.send(result.clone());
                    }
                }
                if q.pending.is_empty() {
                    return;
                }
                // More arrived while we were out: they ride the next batch right away.
                q.timer_armed = true;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts batches and echoes the key as the value.
    #[derive(Default)]
    struct Echo {
        batches: AtomicUsize,
        keys: AtomicUsize,
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

    #[tokio::test]
    async fn concurrent_reads_of_many_keys_cost_one_batch_per_max_batch() {
        let echo = Arc::new(Echo::default());
        let b = Arc::new(Batcher::new(echo.clone(), Duration::from_millis(10), 20));
        let reads = (0..100).map(|i| {
            let b = b.clone();
            tokio::spawn(async move { b.get(RemoteKey::new(format!("k{}", i % 40))).await })
        });
        for (i, r) in futures::future::join_all(reads).await.into_iter().enumerate() {
            let v = r.unwrap().unwrap();
            assert_eq!(v.as_bytes(), format!("k{}", i % 40).as_bytes());
        }
        assert_eq!(echo.keys.load(Ordering::SeqCst), 40, "each distinct key read once");
        assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "40 keys in batches of 20");
    }

    #[tokio::test]
    async fn one_keys_error_reaches_only_its_readers() {
        let b = Arc::new(Batcher::new(Arc::new(Echo::default()), Duration::from_millis(5), 20));
        let (ok, missing) = tokio::join!(b.get(RemoteKey::new("a")), b.get(RemoteKey::new("missing")));
        assert_eq!(ok.unwrap().as_bytes(), b"a");
        assert!(missing.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn reads_after_a_call_returns_go_to_the_provider_again() {
        let echo = Arc::new(Echo::default());
        let b = Batcher::new(echo.clone(), Duration::from_millis(1), 20);
        b.get(RemoteKey::new("a")).await.unwrap();
        b.get(RemoteKey::new("a")).await.unwrap();
        assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "no value is cached after its call");
    }
}
