//! Values a store client read in the last [`RECENT`], for later syncs of the same keys.
//!
//! Objects over the same keys share a refresh slot (`controller::slot`), so they fall due
//! together; but the workers take them a few at a time, and a group that arrives after the first
//! group's read returned would read the same keys again (at N = 10,000 over 100 keys: ≈ 7 reads
//! per key per cycle). A routine refresh takes a value this client read at most [`RECENT`] ago
//! instead: as fresh as if its slot had come that much earlier. A sync someone asked for (an
//! edit, a force-sync, a new object) takes only a value whose call was sent after the watch
//! delivered that change: the remote state it shows is younger than the request, as its own read
//! would be (48 objects over 4 paths edited while the controller was down: 15 reads without
//! this, 4 with; edits the workers keep up with read each, as each comes after the last read).
//! One map per store client, so a value is only served through the client it was read with
//! (every tenancy check is made before a reconcile reaches a client); values count against the
//! same process-wide byte cap as the wave's holding.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_provider_core::{ProviderError, RemoteKey, SecretValue};

use super::holding::{ClientBytes, HeldBytes};

/// How old, from the moment its call was sent, a value a routine refresh takes may be.
pub const RECENT: Duration = Duration::from_secs(2);
/// The bytes one client may keep.
pub const CLIENT_CAP: usize = 1 << 20;
const ENTRY_OVERHEAD: usize = 64;

struct Kept {
    value: SecretValue,
    sent_at: Instant,
    bytes: usize,
}

pub struct Recent {
    kept: HashMap<RemoteKey, Kept>,
    bytes: ClientBytes,
}

impl Recent {
    pub fn new(client_cap: usize, process: Arc<HeldBytes>) -> Self {
        Recent { kept: HashMap::new(), bytes: ClientBytes::new(client_cap, process) }
    }

    /// A call sent at `sent_at` returned `result` for `key`: keep a successful value, if it fits.
    pub fn remember(&mut self, key: &RemoteKey, result: &Result<SecretValue, ProviderError>, sent_at: Instant) {
        self.forget(key);
        let Ok(value) = result else { return };
        let bytes = key.key.len() + value.len() + ENTRY_OVERHEAD;
        if !self.bytes.reserve(bytes) {
            return;
        }
        self.kept.insert(key.clone(), Kept { value: value.clone(), sent_at, bytes });
    }

    /// The value of `key` whose call was sent at or after `since`, at most [`RECENT`] before `now`.
    pub fn get(&self, key: &RemoteKey, since: Instant, now: Instant) -> Option<SecretValue> {
        self.kept.get(key).filter(|k| k.sent_at >= since && fresh(k, now)).map(|k| k.value.clone())
    }

    pub fn is_keeping(&self) -> bool {
        !self.kept.is_empty()
    }

    /// Drop what is too old. True while anything is still kept.
    pub fn sweep(&mut self, now: Instant) -> bool {
        let old: Vec<RemoteKey> = self.kept.iter().filter(|(_, k)| !fresh(k, now)).map(|(key, _)| key.clone()).collect();
        for key in &old {
            self.forget(key);
        }
        !self.kept.is_empty()
    }

    fn forget(&mut self, key: &RemoteKey) {
        if let Some(k) = self.kept.remove(key) {
            self.bytes.release(k.bytes);
            super::spare::release_spare(&mut self.kept);
        }
    }
}

fn fresh(k: &Kept, now: Instant) -> bool {
    now.saturating_duration_since(k.sent_at) <= RECENT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::holding::PROCESS_CAP;

    #[test]
    fn a_value_is_served_for_two_seconds_from_when_its_call_was_sent_then_forgotten() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut r = Recent::new(CLIENT_CAP, process.clone());
        let (k, sent) = (RemoteKey::new("db"), Instant::now());
        r.remember(&k, &Ok(SecretValue::from("v")), sent);
        assert_eq!(r.get(&k, sent, sent + RECENT).unwrap().as_bytes(), b"v");
        assert!(r.get(&k, sent, sent + RECENT + Duration::from_millis(1)).is_none(), "older than RECENT: read again");
        assert!(r.get(&k, sent + Duration::from_millis(1), sent).is_none(), "sent before the sync was asked for");
        assert!(!r.sweep(sent + RECENT + Duration::from_millis(1)));
        assert_eq!(process.used(), 0, "the bytes go with the value");
    }

    #[test]
    fn an_error_replaces_what_was_kept_and_is_never_served() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut r = Recent::new(CLIENT_CAP, process.clone());
        let (k, sent) = (RemoteKey::new("db"), Instant::now());
        r.remember(&k, &Ok(SecretValue::from("v")), sent);
        r.remember(&k, &Err(ProviderError::NotFound("db".into())), sent);
        assert!(r.get(&k, sent, sent).is_none(), "the newest answer was an error: nothing to share");
        assert_eq!(process.used(), 0);
    }

    #[test]
    fn values_beyond_the_client_or_process_cap_are_not_kept() {
        let process = HeldBytes::new(PROCESS_CAP);
        let mut r = Recent::new(200, process.clone());
        let sent = Instant::now();
        r.remember(&RemoteKey::new("small"), &Ok(SecretValue::from("v")), sent);
        r.remember(&RemoteKey::new("big"), &Ok(SecretValue::from("x".repeat(200).as_str())), sent);
        assert!(r.get(&RemoteKey::new("small"), sent, sent).is_some());
        assert!(r.get(&RemoteKey::new("big"), sent, sent).is_none(), "over the client cap");

        let tight = HeldBytes::new(100);
        let (mut a, mut b) = (Recent::new(CLIENT_CAP, tight.clone()), Recent::new(CLIENT_CAP, tight.clone()));
        let k = RemoteKey::new("k");
        a.remember(&k, &Ok(SecretValue::from("v")), sent);
        b.remember(&k, &Ok(SecretValue::from("v")), sent);
        assert!(a.get(&k, sent, sent).is_some());
        assert!(b.get(&k, sent, sent).is_none(), "the process cap is shared with every other client");
        drop(a);
        assert_eq!(tight.used(), 0, "a dropped client releases what it kept");
    }
}
