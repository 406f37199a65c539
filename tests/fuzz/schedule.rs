//! Refresh scheduling reads `status.refreshTime` (writable by anyone who may write the status) and
//! `refreshInterval` (any duration the parser accepts): it must never panic, and a periodic
//! refresh is never later than its interval, nor earlier than half of it.
use std::time::Duration;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use sesame::api::RefreshPolicy;
use sesame::controller::{Due, Schedule, backoff, due, next_slot};

use crate::{bounded, fuzz, inputs};

/// Any time RFC 3339 can spell (years 0000 to 9999), as a parsed `status.refreshTime`.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    let min = DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z").unwrap().timestamp();
    let max = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").unwrap().timestamp();
    prop_oneof![
        1 => min..=max,
        3 => 1_600_000_000i64..2_000_000_000,
    ]
    .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

/// Any interval `parse_go_duration` can return (it caps at u64::MAX nanoseconds).
fn interval() -> impl Strategy<Value = Duration> {
    prop_oneof![
        1 => any::<u64>().prop_map(Duration::from_nanos),
        3 => (1u64..400 * 24 * 3600).prop_map(Duration::from_secs),
        1 => Just(Duration::ZERO),
    ]
}

fn policy() -> impl Strategy<Value = RefreshPolicy> {
    prop_oneof![Just(RefreshPolicy::Periodic), Just(RefreshPolicy::OnChange), Just(RefreshPolicy::CreatedOnce)]
}

#[test]
fn due_never_panics_and_periodic_refreshes_stay_in_their_window() {
    let strategy = (policy(), interval(), prop::option::of(time()), time(), any::<bool>(), inputs::text());
    fuzz("controller::due", 3000, strategy, |(policy, interval, last, now, changed, identity)| {
        let s = Schedule {
            policy,
            interval,
            last_refresh: last,
            synced_version: Some("1-a"),
            current_version: if changed { "2-a" } else { "1-a" },
            identity: &identity,
            windows: None,
        };
        let when = bounded("due", || due(&s, now))?;
        if let (Due::At(at), Some(last)) = (when, last) {
            prop_assert!(at > now, "a future refresh in the past: {at} <= {now}");
            let millis = interval.as_millis().max(1) as i64;
            let gap = (at - last).num_milliseconds();
            prop_assert!(gap <= millis, "refresh at {at} is later than last {last} + {interval:?}");
            prop_assert!(gap >= millis / 2, "refresh at {at} is earlier than half the interval {interval:?}");
        }
        if last.is_none() {
            prop_assert_eq!(when, Due::Now);
        }
        Ok(())
    });
}

#[test]
fn slots_are_deterministic_and_never_past_the_interval() {
    fuzz("controller::next_slot", 3000, (time(), interval(), inputs::text()), |(last, interval, identity)| {
        let at = bounded("next_slot", || next_slot(last, interval, &identity))?;
        prop_assert_eq!(at, next_slot(last, interval, &identity));
        prop_assert!(at >= last);
        prop_assert!((at - last).num_milliseconds() <= interval.as_millis().max(1) as i64);
        Ok(())
    });
}

#[test]
fn backoff_is_capped_and_monotonic() {
    fuzz("controller::backoff", 2000, (any::<u32>(), interval()), |(failures, cap)| {
        let b = bounded("backoff", || backoff(failures, cap))?;
        prop_assert!(b <= cap);
        prop_assert!(backoff(failures.saturating_add(1), cap) >= b);
        Ok(())
    });
}
