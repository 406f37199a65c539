//! When each ExternalSecret is next looked at, kept compactly: one small entry per object instead
//! of kube-runtime's scheduler entry (two owned copies of the object's reference, four strings
//! each, plus a delay-queue slot: about 600 bytes per object at rest). The reconcile says what it
//! wants as a [`Next`]; the controller is told only "reconcile this now", through `reconcile_on`.
//!
//! Semantics are kube's: an object has at most one wake-up, and the last reconcile's decision
//! replaces the one before (the earlier wake-up was what ran it, or the watch did).
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;

use crate::by_namespace::ByNamespace;

/// What a reconcile wants next: look again after a while, or wait for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next(Option<Duration>);

impl Next {
    pub const fn requeue(after: Duration) -> Self {
        Next(Some(after))
    }
    pub const fn await_change() -> Self {
        Next(None)
    }
    pub fn requeue_after(self) -> Option<Duration> {
        self.0
    }
}

/// Wake-ups are kept to this resolution, rounded up: never early, and objects due at one instant
/// (a refresh group) share a bucket.
const TICK: Duration = Duration::from_millis(100);

/// A woken object: what the runner is asked to reconcile.
pub type Woken = super::es_cache::EsRef;

pub struct Wakeups {
    epoch: Instant,
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    /// Each object's one wake-up, in ticks since `epoch`.
    due: ByNamespace<u64>,
    /// Tick → objects to wake then. An entry whose object has since been re-scheduled or
    /// forgotten is stale, skipped when its tick comes.
    wheel: BTreeMap<u64, Vec<Woken>>,
    entries: usize,
    /// Each namespace's name once, shared by its wheel entries.
    namespaces: std::collections::HashSet<Arc<str>>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Wakeups { epoch: Instant::now(), state: Mutex::default(), changed: tokio::sync::Notify::new() }
    }
}

impl Wakeups {
    fn tick_of(&self, at: Instant) -> u64 {
        let ms = at.saturating_duration_since(self.epoch).as_millis();
        let tick = TICK.as_millis();
        u64::try_from(ms.div_ceil(tick)).unwrap_or(u64::MAX)
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.epoch + TICK * u32::try_from(tick).unwrap_or(u32::MAX)
    }

    /// Records what the last reconcile of `namespace/name` wants next.
    pub fn set(&self, namespace: &str, name: &str, next: Next) {
        let mut state = self.state.lock().expect("wakeups lock");
        let Some(after) = next.requeue_after() else {
            state.due.remove(namespace, name);
            return;
        };
        let tick = self.tick_of(Instant::now() + after);
        let due = state.due.entry(namespace, name);
        if *due == tick {
            return;
        }
        *due = tick;
        let ns = match state.namespaces.get(namespace) {
            Some(ns) => ns.clone(),
            None => {
                let ns: Arc<str> = namespace.into();
                state.namespaces.insert(ns.clone());
                ns
            }
        };
        // Most ticks wake one object (a refresh group shares one): no spare capacity up front.
        state.wheel.entry(tick).or_insert_with(|| Vec::with_capacity(1)).push(Woken { namespace: ns, name: name.into() });
        state.entries += 1;
        // Objects re-scheduled often (edits) leave stale entries behind: bounded by the live ones.
        if state.entries > 2 * state.due.len() + 1024 {
            state.compact();
        }
        drop(state);
        self.changed.notify_one();
    }

    /// Drops the wake-up of a deleted object.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.state.lock().expect("wakeups lock").due.remove(namespace, name);
    }

    /// How many objects have a wake-up (tests, debugging).
    pub fn len(&self) -> usize {
        self.state.lock().expect("wakeups lock").due.len()
    }

    /// The last tick that has begun by `at` (rounded down: a tick fires once its instant came).
    fn tick_reached(&self, at: Instant) -> u64 {
        let ms = at.saturating_duration_since(self.epoch).as_millis();
        u64::try_from(ms / TICK.as_millis()).unwrap_or(u64::MAX)
    }

    /// Moves every object due by `now` into `out`; returns when the next one is due.
    fn take_due(&self, now: Instant, out: &mut Vec<Woken>) -> Option<Instant> {
        // Rounded up, `now` would hand out a wake-up up to a tick early; its reconcile finds it
        // not yet due, asks for the few milliseconds left, which round to the same tick, and is
        // handed out again at once: a busy loop until the instant, whenever anything else wakes
        // this loop meanwhile (seen under CI's load as dozens of passes before one refresh).
        let now = self.tick_reached(now);
        let mut state = self.state.lock().expect("wakeups lock");
        while let Some(entry) = state.wheel.first_entry() {
            if *entry.key() > now {
                let next = *entry.key();
                return Some(self.instant_of(next));
            }
            let (tick, woken) = entry.remove_entry();
            state.entries -= woken.len();
            for w in woken {
                // Consumed as it fires: an object deleted while the watch was away leaves nothing.
                if state.due.get(&w.namespace, &w.name) == Some(&tick) {
                    state.due.remove(&w.namespace, &w.name);
                    out.push(w);
                }
            }
        }
        None
    }

    /// The objects as they come due, for ever.
    pub fn fired(self: Arc<Self>) -> impl Stream<Item = Woken> + Send + 'static {
        futures::stream::unfold((self, Vec::new()), |(wakeups, mut ready)| async move {
            loop {
                if let Some(woken) = ready.pop() {
                    return Some((woken, (wakeups, ready)));
                }
                let next = wakeups.take_due(Instant::now(), &mut ready);
                if !ready.is_empty() {
                    continue;
                }
                // `notify_one` keeps a permit when nobody waits: a wake-up set since `take_due` is
                // not missed.
                match next {
                    Some(at) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(at.into()) => {}
                            () = wakeups.changed.notified() => {}
                        }
                    }
                    None => wakeups.changed.notified().await,
                }
            }
        })
    }
}

impl State {
    fn compact(&mut self) {
        let mut wheel: BTreeMap<u64, Vec<Woken>> = BTreeMap::new();
        for (tick, woken) in std::mem::take(&mut self.wheel) {
            for w in woken {
                if self.due.get(&w.namespace, &w.name) == Some(&tick) {
                    wheel.entry(tick).or_default().push(w);
                }
            }
        }
        self.entries = wheel.values().map(Vec::len).sum();
        self.wheel = wheel;
        let live: std::collections::HashSet<&str> = self.due.iter().map(|(ns, _, _)| ns).collect();
        self.namespaces.retain(|ns| live.contains(&**ns));
    }
}

#[cfg(test)]
#[path = "wakeups_tests.rs"]
mod tests;
