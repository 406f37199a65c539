//! When an ExternalSecret must fetch from its provider again. Pure arithmetic, no I/O.
//!
//! Periodic refreshes are placed on a per-object slot: each object owns a fixed phase within its
//! interval (a hash of its identity), and its next refresh is pulled *earlier* onto that phase by
//! at most half an interval (or onto the phase half an interval later, when the slot is further). A thousand objects created in the same second therefore converge to
//! an even spread within two intervals, a restart changes nothing (the phase depends only on the
//! object, the last refresh time comes from its status), and no object is ever refreshed later
//! than its interval.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::sync_window::Windows;
use crate::api::RefreshPolicy;

/// The largest share of the interval a refresh may be pulled earlier to reach its slot.
pub const MAX_EARLY_FRACTION: f64 = 0.5;

/// The answer to "should this object fetch now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Fetch now.
    Now,
    /// Fetch at this time.
    At(DateTime<Utc>),
    /// Never on a timer (only when the target needs repair or the object changes).
    Never,
}

/// What the decision needs to know about the object.
#[derive(Debug, Clone)]
pub struct Schedule<'a> {
    pub policy: RefreshPolicy,
    pub interval: Duration,
    /// `status.refreshTime`: the last successful sync.
    pub last_refresh: Option<DateTime<Utc>>,
    /// `status.syncedResourceVersion` and the value the object has now.
    pub synced_version: Option<&'a str>,
    pub current_version: &'a str,
    /// Identity used for the slot: what the object reads, or namespace/name/uid (see `slot`).
    pub identity: &'a str,
    /// `spec.syncWindows`: when periodic refreshes may run.
    pub windows: Option<&'a Windows>,
}

pub fn due(s: &Schedule<'_>, now: DateTime<Utc>) -> Due {
    let Some(last) = s.last_refresh else { return Due::Now };
    let Some(synced) = s.synced_version.filter(|v| !v.is_empty()) else { return Due::Now };
    let changed = synced != s.current_version;
    match s.policy {
        RefreshPolicy::CreatedOnce => Due::Never,
        RefreshPolicy::OnChange if changed => Due::Now,
        RefreshPolicy::OnChange => Due::Never,
        RefreshPolicy::Periodic if changed => Due::Now,
        RefreshPolicy::Periodic if s.interval.is_zero() => Due::Never,
        RefreshPolicy::Periodic if last > now => Due::Now,
        RefreshPolicy::Periodic => {
            let at = next_slot(last, s.interval, s.identity);
            match s.windows {
                Some(w) => in_window(w, at.max(now), s.interval, s.identity, now),
                None if at <= now => Due::Now,
                None => Due::At(at),
            }
        }
    }
}

/// A periodic refresh due at `at` under sync windows: then if allowed, else at the object's own
/// place in the next allowed stretch (its phase over the first interval of it, at most), so
/// objects blocked together do not all refresh when a window opens.
fn in_window(w: &Windows, at: DateTime<Utc>, interval: Duration, identity: &str, now: DateTime<Utc>) -> Due {
    if w.allowed(at) {
        return if at <= now { Due::Now } else { Due::At(at) };
    }
    let Some((start, end)) = w.next_allowed(at) else {
        // No allowed time within the horizon: ask again an interval later.
        return Due::At(at + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::hours(1)));
    };
    let span_ms = (end - start).num_milliseconds().min(interval.as_millis() as i64).max(1);
    let offset = (stable_hash(identity) % span_ms as u64) as i64;
    Due::At(start + chrono::Duration::milliseconds(offset))
}

/// The refresh time after `last`: `last + interval`, pulled earlier onto the object's slot when
/// the slot is within `MAX_EARLY_FRACTION` of the interval, else pulled the full allowance.
pub fn next_slot(last: DateTime<Utc>, interval: Duration, identity: &str) -> DateTime<Utc> {
    let interval_ms = interval.as_millis().max(1) as i64;
    let latest = last.timestamp_millis() + interval_ms;
    let phase = (stable_hash(identity) % interval_ms as u64) as i64;
    let past_slot = (latest - phase).rem_euclid(interval_ms);
    let slot = latest - past_slot;
    // `status.refreshTime` keeps whole seconds: an object refreshed on its slot reads back as up
    // to a second before it, so its slot seems almost a whole interval away and the next refresh
    // would be pulled the full allowance early (a burst after every restart). A slot less than a
    // second after `latest` counts as reached: it is within the interval of the refresh itself.
    let tolerance = (interval_ms / 4).min(1000);
    if past_slot > 0 && interval_ms - past_slot < tolerance {
        return DateTime::from_timestamp_millis(slot + interval_ms).unwrap_or(last);
    }
    let allowance = (interval_ms as f64 * MAX_EARLY_FRACTION) as i64;
    // Within the allowance (give or take the same second of rounding: an object on its half-phase,
    // below, finds its slot exactly half an interval away and returns to it in one step). Beyond
    // it, the object's half-phase (its slot plus half an interval), which lies between `last` +
    // half an interval and `latest`. Both depend on the identity alone, so objects sharing one
    // whose last refreshes lie milliseconds apart (a burst of spec edits) still refresh together,
    // where `last + allowance` would split them.
    let at = if past_slot <= allowance + tolerance { slot } else { slot + interval_ms / 2 };
    DateTime::from_timestamp_millis(at).unwrap_or(last)
}

/// The interval an object runs at: its own, raised to the controller's minimum. Zero stays zero
/// ("sync once"): it costs nothing to honour.
pub fn effective_interval(requested: Duration, minimum: Duration) -> Duration {
    if requested.is_zero() { requested } else { requested.max(minimum) }
}

/// Exponential backoff after consecutive failures: 1 s doubling, capped.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    Duration::from_secs(1u64 << exp).min(cap)
}

pub(super) fn stable_hash(s: &str) -> u64 {
    // A fixed hash (not std's, which may change between Rust releases): the same slot on every
    // replica, every restart and every upgrade.
    let digest = Sha256::digest(s.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn sched<'a>(policy: RefreshPolicy, last: Option<i64>, synced: Option<&'a str>, current: &'a str) -> Schedule<'a> {
        Schedule {
            policy,
            interval: HOUR,
            last_refresh: last.map(t),
            synced_version: synced,
            current_version: current,
            identity: "ns/name/uid",
            windows: None,
        }
    }

    #[test]
    fn a_never_synced_object_is_due_now_whatever_its_policy() {
        for p in [RefreshPolicy::Periodic, RefreshPolicy::OnChange, RefreshPolicy::CreatedOnce] {
            assert_eq!(due(&sched(p, None, None, "1-a"), t(0)), Due::Now);
            assert_eq!(due(&sched(p, Some(0), None, "1-a"), t(0)), Due::Now);
        }
    }

    #[test]
    fn created_once_never_syncs_again_even_after_a_change() {
        assert_eq!(due(&sched(RefreshPolicy::CreatedOnce, Some(0), Some("1-a"), "2-b"), t(9999)), Due::Never);
    }

    #[test]
    fn on_change_syncs_only_when_spec_or_metadata_changed() {
        assert_eq!(due(&sched(RefreshPolicy::OnChange, Some(0), Some("1-a"), "1-a"), t(99_999)), Due::Never);
        assert_eq!(due(&sched(RefreshPolicy::OnChange, Some(0), Some("1-a"), "1-b"), t(1)), Due::Now);
    }

    #[test]
    fn periodic_syncs_on_change_and_when_the_interval_has_passed() {
        let s = sched(RefreshPolicy::Periodic, Some(0), Some("1-a"), "1-a");
        let Due::At(at) = due(&s, t(1)) else { panic!("expected a time") };
        assert!(at <= t(3600) && at >= t(1800), "within the allowed early window: {at}");
        assert_eq!(due(&s, t(3600)), Due::Now);
        assert_eq!(due(&sched(RefreshPolicy::Periodic, Some(0), Some("1-a"), "2-a"), t(1)), Due::Now);
    }

    #[test]
    fn interval_zero_syncs_once_then_only_on_change() {
        let mut s = sched(RefreshPolicy::Periodic, Some(0), Some("1-a"), "1-a");
        s.interval = Duration::ZERO;
        assert_eq!(due(&s, t(10_000_000)), Due::Never);
        s.current_version = "2-a";
        assert_eq!(due(&s, t(1)), Due::Now);
    }

    #[test]
    fn a_refresh_time_in_the_future_means_now() {
        assert_eq!(due(&sched(RefreshPolicy::Periodic, Some(100), Some("1-a"), "1-a"), t(0)), Due::Now);
    }

    #[test]
    fn slots_never_exceed_the_interval_and_are_stable_across_restarts() {
        for i in 0..500 {
            let id = format!("ns/es-{i}/uid");
            let at = next_slot(t(0), HOUR, &id);
            // Within the interval and half an interval early at most, give or take the second
            // `refreshTime` rounds off.
            assert!(at <= t(3601) && at >= t(1799));
            assert_eq!(at, next_slot(t(0), HOUR, &id), "deterministic");
        }
    }

    #[test]
    fn objects_sharing_a_slot_but_synced_milliseconds_apart_refresh_at_the_same_instant() {
        // A burst of edits re-syncs a key set's objects a few hundred milliseconds apart; wherever
        // their slot lies, their next refresh is one instant (one coalescing window), within the
        // interval and no earlier than half of it.
        for i in 0..2_000 {
            let id = format!("SecretStore/ns/vault|path-{i}|");
            let first = t(0) + chrono::Duration::milliseconds(i * 7 % 1000);
            let at = next_slot(first, HOUR, &id);
            for lag in [1, 150, 420] {
                let later = first + chrono::Duration::milliseconds(lag);
                assert_eq!(next_slot(later, HOUR, &id), at, "{id}: {lag} ms later");
                let (interval, half, rounding) = (chrono::Duration::hours(1), chrono::Duration::minutes(30), chrono::Duration::seconds(1));
                assert!(at <= first + interval + rounding && at >= later + half - rounding, "{id}");
            }
        }
    }

    #[test]
    fn objects_synced_together_spread_evenly_within_two_intervals() {
        // 10,000 objects all synced at t=0; follow each through three refreshes.
        let n = 10_000;
        let mut per_minute = vec![0u32; 60];
        for i in 0..n {
            let id = format!("ns/es-{i}/uid");
            let mut last = t(0);
            for _ in 0..3 {
                last = next_slot(last, HOUR, &id);
            }
            // Third refresh lands on the object's own slot: bucket it by minute of the hour.
            let minute = ((last.timestamp() - t(0).timestamp()).rem_euclid(3600) / 60) as usize;
            per_minute[minute] += 1;
        }
        let mean = n as f64 / 60.0;
        let max = *per_minute.iter().max().unwrap() as f64;
        assert!(max / mean < 1.3, "storm factor {} too high: {per_minute:?}", max / mean);
    }

    #[test]
    fn an_object_on_its_slot_keeps_a_full_interval_although_refresh_time_drops_the_milliseconds() {
        let interval = Duration::from_secs(240);
        for i in 0..2_000 {
            let id = format!("ns/es-{i}/uid");
            // Refreshes start 0-900 ms after they are due; status records the start to the second.
            let mut last = t(0);
            let mut previous_start: Option<DateTime<Utc>> = None;
            for round in 0..6 {
                let at = next_slot(last, interval, &id);
                let start = at + chrono::Duration::milliseconds((i * 37 + round * 101) % 900);
                if let Some(prev) = previous_start.filter(|_| round >= 3) {
                    // Once on its slot, an object refreshes once per interval (give or take the
                    // start delay), never half an interval early, as after a restart.
                    let gap = (start - prev).num_milliseconds();
                    assert!((239_000..=241_000).contains(&gap), "{id}: round {round} came {gap} ms after the previous");
                }
                // `last` is the start rounded down to the second: the interval counts from the start.
                assert!(
                    at <= last + chrono::Duration::from_std(interval).unwrap() + chrono::Duration::seconds(1),
                    "{id}: later than the interval"
                );
                previous_start = Some(start);
                last = DateTime::from_timestamp(start.timestamp(), 0).unwrap();
            }
        }
    }

    #[test]
    fn intervals_below_the_minimum_run_at_the_minimum_and_zero_still_means_once() {
        let min = Duration::from_secs(10);
        assert_eq!(effective_interval(Duration::from_millis(1), min), min);
        assert_eq!(effective_interval(Duration::from_secs(30), min), Duration::from_secs(30));
        assert_eq!(effective_interval(Duration::ZERO, min), Duration::ZERO);
        assert_eq!(effective_interval(Duration::from_millis(1), Duration::ZERO), Duration::from_millis(1), "no minimum");
    }

    #[test]
    fn backoff_doubles_from_one_second_and_is_capped() {
        let cap = Duration::from_secs(300);
        assert_eq!(backoff(1, cap), Duration::from_secs(1));
        assert_eq!(backoff(2, cap), Duration::from_secs(2));
        assert_eq!(backoff(5, cap), Duration::from_secs(16));
        assert_eq!(backoff(20, cap), cap);
        assert_eq!(backoff(u32::MAX, cap), cap);
    }

    #[test]
    fn a_refresh_blocked_by_a_window_waits_for_it_and_objects_spread_inside_it() {
        let spec = serde_json::json!({"kind": "allow", "windows": [{"schedule": "0 22 * * *", "duration": "2h"}]});
        let w = Windows::parse(&serde_json::from_value(spec).unwrap()).unwrap();
        let day = |h: u32, m: u32| chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap().and_hms_opt(h, m, 0).unwrap().and_utc();
        let (open, close) = (day(22, 0), day(22, 0) + chrono::Duration::hours(2));
        let mut per_minute = vec![0u32; 120];
        for i in 0..12_000 {
            let id = format!("ns/es-{i}/uid");
            // Synced at noon: due within the hour, while the window is shut.
            let s = Schedule { identity: &id, windows: Some(&w), ..sched(RefreshPolicy::Periodic, None, Some("1-a"), "1-a") };
            let s = Schedule { last_refresh: Some(day(12, 0)), ..s };
            let Due::At(at) = due(&s, day(13, 0)) else { panic!("{id}: expected a time") };
            assert!(at >= open && at < close, "{id}: {at} is outside the window");
            per_minute[((at - open).num_minutes()) as usize] += 1;
            assert_eq!(due(&s, at), Due::Now, "{id}: due when its time inside the window comes");
        }
        // A 1h interval spreads them over the window's first hour, evenly.
        assert!(per_minute[60..].iter().all(|n| *n == 0), "placed within one interval of the opening");
        let (max, mean) = (*per_minute[..60].iter().max().unwrap() as f64, 12_000.0 / 60.0);
        assert!(max / mean < 1.3, "storm factor {}: {per_minute:?}", max / mean);
        // Inside the window an object refreshes on its slot as usual, and a change is never held back.
        let inside =
            Schedule { last_refresh: Some(day(22, 0)), windows: Some(&w), ..sched(RefreshPolicy::Periodic, None, Some("1-a"), "1-a") };
        let Due::At(at) = due(&inside, day(22, 1)) else { panic!("expected a time") };
        assert!(at <= day(23, 0));
        let changed = Schedule { windows: Some(&w), ..sched(RefreshPolicy::Periodic, Some(0), Some("1-a"), "2-a") };
        assert_eq!(due(&changed, day(13, 0)), Due::Now);
    }
}
