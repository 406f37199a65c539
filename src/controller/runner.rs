//! Runs the ExternalSecret reconciles, as kube's controller would over its reflector, over
//! Sesame's own cache (`es_cache.rs`: kube's controller can only read objects from a reflector,
//! which holds each record with an inline `ObjectMeta`).
//!
//! The contract is kube's: each object is queued once however often it is asked for; at most
//! `concurrency` reconciles run at once (0: no bound), each a task of its own (passes use every
//! core, and one that blocks its thread — a render — holds up neither the others nor the
//! requests); an object is never reconciled twice at once — asked for while it runs, it runs
//! again after; nothing runs before the cache has listed (requests wait); a request for an object
//! the cache no longer holds is dropped. On shutdown no new pass starts, and the run ends when the
//! passes under way have; a dropped run aborts them. A pass that panics takes the run down with
//! it, as in kube (the process then exits: main.rs).
use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::pin::pin;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, Stream, StreamExt};
use tokio_util::task::AbortOnDropHandle;

/// A queue this short after a burst gives its memory back (a first sync queues every object).
const SPARE_QUEUE: usize = 64;

/// Reconcile, with `work`, what `requests` name and `lookup` finds, under the contract above;
/// passes wait for `ready`, and the run ends once `shutdown` resolves and running passes finish.
pub async fn run<K, V, Work>(
    requests: impl Stream<Item = K>,
    ready: impl Future<Output = ()>,
    shutdown: impl Future<Output = ()>,
    concurrency: usize,
    lookup: impl Fn(&K) -> Option<V>,
    mut work: impl FnMut(&K, V) -> Work,
) where
    K: Clone + Eq + Hash,
    Work: Future<Output = ()> + Send + 'static,
{
    let limit = if concurrency == 0 { usize::MAX } else { concurrency };
    let mut requests = pin!(requests.fuse());
    let mut ready = pin!(ready.fuse());
    let mut shutdown = pin!(shutdown.fuse());
    let (mut queue, mut queued) = (VecDeque::<K>::new(), HashSet::<K>::new());
    let (mut running, mut again) = (HashSet::<K>::new(), HashSet::<K>::new());
    let mut passes = FuturesUnordered::new();
    let (mut is_ready, mut stopping) = (false, false);
    loop {
        while is_ready && !stopping && passes.len() < limit {
            let Some(key) = queue.pop_front() else { break };
            queued.remove(&key);
            if let Some(value) = lookup(&key) {
                running.insert(key.clone());
                let pass = AbortOnDropHandle::new(tokio::spawn(work(&key, value)));
                passes.push(async move { (key, pass.await) });
            }
        }
        if queue.is_empty() && queue.capacity() > SPARE_QUEUE {
            queue.shrink_to(SPARE_QUEUE);
            queued.shrink_to(SPARE_QUEUE);
        }
        if stopping && passes.is_empty() {
            return;
        }
        futures::select_biased! {
            (done, outcome) = passes.select_next_some() => {
                if let Err(e) = outcome
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
                running.remove(&done);
                if again.remove(&done) && !stopping && queued.insert(done.clone()) {
                    queue.push_back(done);
                }
            }
            () = shutdown => stopping = true,
            () = ready => is_ready = true,
            request = requests.next() => match request {
                Some(key) if running.contains(&key) => {
                    again.insert(key);
                }
                Some(key) => {
                    if queued.insert(key.clone()) {
                        queue.push_back(key);
                    }
                }
                // The request streams never end on their own: the watches retry.
                None => stopping = true,
            },
        }
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
