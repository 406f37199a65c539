//! Fair shares of the reconcile workers between namespaces.
//!
//! kube-runtime's controller runs up to `--concurrency` reconciles at once from one queue, in the
//! order objects become due. One namespace with thousands of due or failing objects (or objects
//! whose store budget makes every reconcile wait) would hold every worker and starve the others.
//! So a namespace may hold at most `share` workers while the pool is busy: a reconcile over its
//! namespace's share does no provider or apiserver work and requeues itself a moment later.
//! The bound is work-conserving: while at least `share` workers stay free for other namespaces,
//! a namespace may use more than its share, so one busy namespace alone still gets most of the
//! pool. With `--namespace` (one namespace watched) there is nobody to share with: no bound.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The retry delay of a deferred reconcile: short (the worker frees up soon), spread by name so
/// deferred objects do not come back in lock-step.
const RETRY_BASE: Duration = Duration::from_millis(200);
const RETRY_SPREAD_MS: u64 = 800;

pub struct NamespaceShare {
    /// Workers one namespace may hold while others may need them; 0: no bound.
    share: usize,
    workers: usize,
    in_flight: Mutex<(usize, HashMap<String, usize>)>,
}

/// A worker held by a namespace; released on drop.
pub struct Turn<'a> {
    owner: &'a NamespaceShare,
    namespace: String,
}

impl NamespaceShare {
    pub fn new(workers: usize, share: usize) -> Self {
        NamespaceShare { share, workers, in_flight: Mutex::default() }
    }

    /// A worker for one reconcile in `namespace`, or None when the namespace is over its share.
    pub fn try_enter(&self, namespace: &str) -> Option<Turn<'_>> {
        let mut guard = self.in_flight.lock().expect("namespace share lock");
        let (total, per_namespace) = &mut *guard;
        let mine = per_namespace.get(namespace).copied().unwrap_or(0);
        let spare = *total < self.workers.saturating_sub(self.share);
        if self.share > 0 && mine >= self.share && !spare {
            return None;
        }
        *total += 1;
        *per_namespace.entry(namespace.to_string()).or_insert(0) += 1;
        Some(Turn { owner: self, namespace: namespace.to_string() })
    }

    /// When a deferred reconcile of `name` tries again.
    pub fn retry_after(name: &str) -> Duration {
        let spread = name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)) % RETRY_SPREAD_MS;
        RETRY_BASE + Duration::from_millis(spread)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut guard = self.owner.in_flight.lock().expect("namespace share lock");
        let (total, per_namespace) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(n) = per_namespace.get_mut(&self.namespace) {
            *n -= 1;
            if *n == 0 {
                per_namespace.remove(&self.namespace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_namespace_leaves_its_share_of_workers_to_the_others() {
        let pool = NamespaceShare::new(8, 2);
        // Alone, team-a may take every worker but the two kept for others.
        let held: Vec<_> = std::iter::from_fn(|| pool.try_enter("team-a")).take(100).collect();
        assert_eq!(held.len(), 6);
        // team-b still gets its share, not more.
        let b1 = pool.try_enter("team-b").expect("team-b's first worker");
        let b2 = pool.try_enter("team-b").expect("team-b's second worker");
        assert!(pool.try_enter("team-b").is_none(), "over its share while the pool is busy");
        assert!(pool.try_enter("team-a").is_none());
        drop((b1, b2));
        drop(held);
        assert_eq!(pool.in_flight.lock().unwrap().0, 0, "every turn released");
        assert!(pool.in_flight.lock().unwrap().1.is_empty(), "no namespace left behind");
    }

    #[test]
    fn share_zero_means_no_bound() {
        let pool = NamespaceShare::new(4, 0);
        let held: Vec<_> = std::iter::from_fn(|| pool.try_enter("team-a")).take(10).collect();
        assert_eq!(held.len(), 10, "the controller's own concurrency limit still applies outside");
    }

    #[test]
    fn deferred_reconciles_come_back_soon_and_spread_out() {
        let delays: std::collections::BTreeSet<_> = (0..50).map(|i| NamespaceShare::retry_after(&format!("es-{i}"))).collect();
        assert!(delays.len() > 10, "spread by name");
        assert!(delays.iter().all(|d| *d >= RETRY_BASE && *d < RETRY_BASE + Duration::from_millis(RETRY_SPREAD_MS)));
    }
}
