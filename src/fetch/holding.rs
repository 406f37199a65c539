//! Values read ahead for a wave of first syncs (`controller::wave` plans it), held for the
//! readers the plan counted and for nobody else's refresh.
//!
//! One holding per store client, so a value is only ever served through the client it was read
//! with: a reconcile reaches that client only after every tenancy check. An entry goes as soon as
//! its planned readers took it, when nobody took it for `IDLE_TTL`, or `MAX_AGE` after the read,
//! whichever is first; values count against a per-client and a process-wide byte cap, and a value
//! that does not fit is not held (its readers read it themselves). Only successful reads are held.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sesame_provider_core::{ProviderError, RemoteKey, SecretValue};

/// How long a held value waits for its next reader.
pub const IDLE_TTL: Duration = Duration::from_secs(5);
/// How long after its read a value is served at all: a first sync gets a value this fresh at worst.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// The bytes one client may hold.
pub const CLIENT_CAP: usize = 4 << 20;
/// The bytes every client together may hold.
pub const PROCESS_CAP: usize = 16 << 20;
/// What an entry costs beyond its key and value (maps, counters, timestamps).
const ENTRY_OVERHEAD: usize = 96;

/// The bytes held by every client of the process, against one cap.
#[derive(Debug)]
pub struct HeldBytes {
    used: AtomicUsize,
    cap: usize,
}

impl HeldBytes {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(HeldBytes { used: AtomicUsize::new(0), cap })
    }

    fn reserve(&self, bytes: usize) -> bool {
        self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| (u + bytes <= self.cap).then_some(u + bytes)).is_ok()
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}

/// One client's share of the process's held bytes: its own cap, and the process's.
pub struct ClientBytes {
    used: usize,
    cap: usize,
    process: Arc<HeldBytes>,
}

impl ClientBytes {
    pub fn new(cap: usize, process: Arc<HeldBytes>) -> Self {
        ClientBytes { used: 0, cap, process }
    }

    /// Count `bytes` against both caps; false, and nothing counted, when either would be exceeded.
    pub fn reserve(&mut self, bytes: usize) -> bool {
        if self.used + bytes > self.cap || !self.process.reserve(bytes) {
            return false;
        }
        self.used += bytes;
        true
    }

    pub fn release(&mut self, bytes: usize) {
        self.used -= bytes;
        self.process.release(bytes);
    }
}

impl Drop for ClientBytes {
    fn drop(&mut self) {
        self.process.release(self.used);
    }
}

struct Held {
    value: SecretValue,
    readers: usize,
    read_at: Instant,
    taken_at: Instant,
    bytes: usize,
}

/// One client's planned reads and held values.
pub struct Holding {
    /// Readers counted by a plan for keys whose read is pending or in flight.
    planned: HashMap<RemoteKey, usize>,
    held: HashMap<RemoteKey, Held>,
    bytes: ClientBytes,
}

impl Holding {
    pub fn new(client_cap: usize, process: Arc<HeldBytes>) -> Self {
        Holding { planned: HashMap::new(), held: HashMap::new(), bytes: ClientBytes::new(client_cap, process) }
    }

    /// A plan counts `readers` more readers of `key`. True when the key must be read; false when
    /// a live held value takes the new readers too. With `fresh_since`, a value read before it is
    /// dropped and read again (a refresh plan must not serve the last cycle's value).
    pub fn plan(&mut self, key: &RemoteKey, readers: usize, now: Instant, fresh_since: Option<Instant>) -> bool {
        if fresh_since.is_some_and(|since| self.held.get(key).is_some_and(|h| h.read_at < since)) {
            self.drop_entry(key);
        }
        if let Some(h) = self.held.get_mut(key)
            && now.duration_since(h.read_at) < MAX_AGE
        {
            h.readers += readers;
            h.taken_at = now;
            return false;
        }
        *self.planned.entry(key.clone()).or_default() += readers;
        true
    }

    /// A planned reader waits on the read itself (it came while the read was pending or in
    /// flight): one reader fewer to hold the value for.
    pub fn joined(&mut self, key: &RemoteKey) {
        if let Some(n) = self.planned.get_mut(key) {
            *n = n.saturating_sub(1);
        }
    }

    /// The read of `key` returned: hold a successful value for the readers still to come, if it fits.
    pub fn settle(&mut self, key: &RemoteKey, result: &Result<SecretValue, ProviderError>, now: Instant) {
        let planned = self.planned.remove(key);
        super::spare::release_spare(&mut self.planned);
        let Some(readers) = planned.filter(|n| *n > 0) else { return };
        let Ok(value) = result else { return };
        self.drop_entry(key);
        let bytes = key.key.len() + value.len() + ENTRY_OVERHEAD;
        if !self.bytes.reserve(bytes) {
            return;
        }
        self.held.insert(key.clone(), Held { value: value.clone(), readers, read_at: now, taken_at: now, bytes });
    }

    /// A wave reader takes its share of a held value, if one is live.
    pub fn take(&mut self, key: &RemoteKey, now: Instant) -> Option<SecretValue> {
        let h = self.held.get_mut(key)?;
        if expired(h, now) {
            self.drop_entry(key);
            return None;
        }
        h.readers -= 1;
        h.taken_at = now;
        let value = h.value.clone();
        if h.readers == 0 {
            self.drop_entry(key);
        }
        Some(value)
    }

    /// Drop what expired. True while anything is still held.
    pub fn sweep(&mut self, now: Instant) -> bool {
        let gone: Vec<RemoteKey> = self.held.iter().filter(|(_, h)| expired(h, now)).map(|(k, _)| k.clone()).collect();
        for k in &gone {
            self.drop_entry(k);
        }
        !self.held.is_empty()
    }

    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    fn drop_entry(&mut self, key: &RemoteKey) {
        if let Some(h) = self.held.remove(key) {
            self.bytes.release(h.bytes);
            super::spare::release_spare(&mut self.held);
        }
    }
}

fn expired(h: &Held, now: Instant) -> bool {
    now.duration_since(h.taken_at) >= IDLE_TTL || now.duration_since(h.read_at) >= MAX_AGE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(client_cap: usize, process: &Arc<HeldBytes>) -> Holding {
        Holding::new(client_cap, process.clone())
    }

    fn ok(v: &str) -> Result<SecretValue, ProviderError> {
        Ok(SecretValue::from(v))
    }

    #[test]
    fn a_value_is_held_for_exactly_its_planned_readers() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut h = holding(CLIENT_CAP, &process);
        let (k, t0) = (RemoteKey::new("db"), Instant::now());
        assert!(h.plan(&k, 3, t0, None), "a key nobody holds is read");
        h.joined(&k);
        h.settle(&k, &ok("v"), t0);
        assert_eq!(h.take(&k, t0).unwrap().as_bytes(), b"v");
        assert_eq!(h.take(&k, t0).unwrap().as_bytes(), b"v");
        assert!(h.take(&k, t0).is_none(), "three readers planned, one waited on the read itself: two shares");
        assert!(!h.is_holding());
        assert_eq!(process.used(), 0, "the bytes are released with the last share");
    }

    #[test]
    fn a_value_nobody_takes_goes_after_the_idle_ttl_and_any_value_after_the_max_age() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut h = holding(CLIENT_CAP, &process);
        let (k, t0) = (RemoteKey::new("db"), Instant::now());
        h.plan(&k, 1000, t0, None);
        h.settle(&k, &ok("v"), t0);
        assert!(h.sweep(t0 + IDLE_TTL - Duration::from_millis(1)));
        assert!(!h.sweep(t0 + IDLE_TTL), "not taken for the idle TTL: dropped");
        assert_eq!(process.used(), 0);

        h.plan(&k, 1000, t0, None);
        h.settle(&k, &ok("v"), t0);
        let mut t = t0;
        while t + IDLE_TTL / 2 < t0 + MAX_AGE {
            t += IDLE_TTL / 2;
            assert!(h.take(&k, t).is_some(), "taken often enough, it lives until the max age");
        }
        assert!(h.take(&k, t0 + MAX_AGE).is_none(), "never served past the max age");
    }

    #[test]
    fn values_beyond_the_client_or_process_cap_are_not_held() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut h = holding(1000, &process);
        let t0 = Instant::now();
        let (small, big) = (RemoteKey::new("small"), RemoteKey::new("big"));
        h.plan(&small, 2, t0, None);
        h.plan(&big, 2, t0, None);
        h.settle(&small, &ok("v"), t0);
        h.settle(&big, &ok(&"x".repeat(1000)), t0);
        assert!(h.take(&small, t0).is_some());
        assert!(h.take(&big, t0).is_none(), "over the client cap: its readers read it themselves");

        let tight = HeldBytes::new(150);
        let (mut a, mut b) = (holding(CLIENT_CAP, &tight), holding(CLIENT_CAP, &tight));
        let k = RemoteKey::new("k");
        a.plan(&k, 2, t0, None);
        b.plan(&k, 2, t0, None);
        a.settle(&k, &ok("v"), t0);
        b.settle(&k, &ok("v"), t0);
        assert!(a.take(&k, t0).is_some());
        assert!(b.take(&k, t0).is_none(), "the process cap is shared: one client's holding leaves no room for another's");
        drop(a);
        assert_eq!(tight.used(), 0, "a dropped client releases what it held");
    }

    #[test]
    fn errors_and_unplanned_reads_are_never_held() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut h = holding(CLIENT_CAP, &process);
        let t0 = Instant::now();
        let (missing, unplanned) = (RemoteKey::new("missing"), RemoteKey::new("unplanned"));
        h.plan(&missing, 2, t0, None);
        h.settle(&missing, &Err(ProviderError::NotFound("missing".into())), t0);
        h.settle(&unplanned, &ok("v"), t0);
        assert!(h.take(&missing, t0).is_none());
        assert!(h.take(&unplanned, t0).is_none(), "a read no plan asked for (a refresh) is not kept");
    }

    #[test]
    fn a_later_plan_shares_a_live_held_value_instead_of_reading_again() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut h = holding(CLIENT_CAP, &process);
        let (k, t0) = (RemoteKey::new("db"), Instant::now());
        h.plan(&k, 1, t0, None);
        h.settle(&k, &ok("v"), t0);
        assert!(!h.plan(&k, 1, t0 + Duration::from_secs(1), None), "held and live: no second read");
        assert!(h.take(&k, t0 + Duration::from_secs(1)).is_some());
        assert!(h.take(&k, t0 + Duration::from_secs(1)).is_some());
        assert!(h.take(&k, t0 + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn a_refresh_plan_reads_again_a_value_held_from_before_its_cycle() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut h = holding(CLIENT_CAP, &process);
        let (k, t0) = (RemoteKey::new("db"), Instant::now());
        h.plan(&k, 2, t0, None);
        h.settle(&k, &ok("old"), t0);
        let next_cycle = t0 + Duration::from_secs(3);
        assert!(h.plan(&k, 1, next_cycle, Some(t0 + Duration::from_secs(1))), "held before the cycle: read again");
        assert!(h.take(&k, next_cycle).is_none(), "and the old value is served to nobody meanwhile");
        h.settle(&k, &ok("new"), next_cycle);
        assert_eq!(h.take(&k, next_cycle).unwrap().as_bytes(), b"new");
    }
}
