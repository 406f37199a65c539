//! Secondary watches started on demand. A PushSecret's watches of every Secret and ConfigMap, and
//! a ClusterExternalSecret's or ClusterPushSecret's of every Namespace and child, start once the
//! first object of that kind is seen, not at start-up: most clusters have none of these kinds, and
//! each such watch is a cluster-wide list at start-up, an event for every change of what it
//! watches, and an apiserver connection held.
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio::sync::watch;

/// Whether the first object of a controller's kind has been seen.
#[derive(Clone)]
pub struct Demand(Arc<watch::Sender<bool>>);

impl Default for Demand {
    fn default() -> Self {
        Demand(Arc::new(watch::channel(false).0))
    }
}

impl Demand {
    /// An object of the kind was seen: the watches waiting on it start (once).
    pub fn signal(&self) {
        self.0.send_if_modified(|seen| !std::mem::replace(seen, true));
    }

    /// Whether an object of the kind was seen.
    pub fn seen(&self) -> bool {
        *self.0.borrow()
    }

    /// The stream `start` makes, made and run only once [`Demand::signal`] was called.
    pub fn start<S, F>(&self, start: F) -> impl Stream<Item = S::Item> + Send + use<S, F>
    where
        S: Stream + Send + 'static,
        F: FnOnce() -> S + Send + 'static,
    {
        let mut seen = self.0.subscribe();
        futures::stream::once(async move {
            // Err only when every sender is gone, i.e. the controller is stopping.
            let _ = seen.wait_for(|seen| *seen).await;
            start()
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_watch_waiting_on_demand_starts_only_once_its_kind_is_seen() {
        let demand = Demand::default();
        let made = Arc::new(AtomicBool::new(false));
        let flag = made.clone();
        let mut events = std::pin::pin!(demand.start(move || {
            flag.store(true, Ordering::SeqCst);
            futures::stream::iter([1, 2])
        }));
        let before = tokio::time::timeout(Duration::from_millis(50), events.next()).await;
        assert!(before.is_err(), "nothing flows before the kind is seen");
        assert!(!made.load(Ordering::SeqCst), "the watch is not even made");

        demand.signal();
        demand.signal();
        assert_eq!(events.next().await, Some(1));
        assert_eq!(events.next().await, Some(2));
        assert_eq!(events.next().await, None);
    }

    #[tokio::test]
    async fn a_kind_seen_before_the_watch_is_polled_starts_it_at_once() {
        let demand = Demand::default();
        let events = demand.start(|| futures::stream::iter(["listed"]));
        demand.signal();
        assert_eq!(events.collect::<Vec<_>>().await, ["listed"]);
    }
}
