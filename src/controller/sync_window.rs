//! `spec.syncWindows` as time arithmetic, no I/O: whether a periodic refresh may run at an
//! instant, and the next stretch of time when it may. Cron in UTC with croner (5 fields, ESO's
//! shorthands); `@every <d>` fires at whole multiples of `d` since the Unix epoch, so a window's
//! place does not depend on when it is asked (ESO measures it from the moment of the check).
use chrono::{DateTime, Duration, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::api::{SyncWindowKind, SyncWindows};

/// Windows per object: each is evaluated on every decision.
pub const MAX_WINDOWS: usize = 32;
/// How far ahead an open stretch is looked for; past it the object is asked again later.
const HORIZON: Duration = Duration::days(400);
/// Bounds the walk over overlapping windows (a deny window that never closes, say).
const MAX_STEPS: usize = 2_000;

enum Firing {
    Cron(Box<Cron>),
    Every(Duration),
}

pub struct Windows {
    allow: bool,
    entries: Vec<(Firing, Duration)>,
}

impl std::fmt::Debug for Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Windows({}, {} entries)", if self.allow { "allow" } else { "deny" }, self.entries.len())
    }
}

impl Windows {
    /// Errors name the window, e.g. `syncWindows.windows[1].schedule: …`.
    pub fn parse(spec: &SyncWindows) -> Result<Windows, String> {
        if spec.windows.is_empty() {
            return Err("syncWindows.windows must list at least one window".into());
        }
        if spec.windows.len() > MAX_WINDOWS {
            return Err(format!("syncWindows: at most {MAX_WINDOWS} windows, not {}", spec.windows.len()));
        }
        let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
        let mut entries = Vec::with_capacity(spec.windows.len());
        for (i, w) in spec.windows.iter().enumerate() {
            let at = |field: &str, e: String| format!("syncWindows.windows[{i}].{field}: {e}");
            let duration = w.duration.parse().map_err(|e| at("duration", e))?;
            let duration = Duration::from_std(duration).map_err(|e| at("duration", e.to_string()))?;
            if duration <= Duration::zero() {
                return Err(at("duration", "must be positive".into()));
            }
            let schedule = w.schedule.trim();
            let firing = if let Some(every) = schedule.strip_prefix("@every ") {
                let every = crate::duration::parse_go_duration(every.trim()).map_err(|e| at("schedule", e))?;
                let every = Duration::from_std(every).map_err(|e| at("schedule", e.to_string()))?;
                if every < Duration::seconds(1) {
                    return Err(at("schedule", "@every needs at least 1s".into()));
                }
                Firing::Every(every)
            } else {
                let pattern = if schedule.eq_ignore_ascii_case("@midnight") { "@daily" } else { schedule };
                if !pattern.starts_with('@') && pattern.split_whitespace().count() != 5 {
                    return Err(at("schedule", format!("{schedule:?} is not a 5-field cron expression")));
                }
                let cron = parser.parse(pattern).map_err(|e| at("schedule", format!("{schedule:?}: {e}")))?;
                Firing::Cron(Box::new(cron))
            };
            entries.push((firing, duration));
        }
        Ok(Windows { allow: spec.kind == SyncWindowKind::Allow, entries })
    }

    /// Whether a periodic refresh may run at `at`.
    pub fn allowed(&self, at: DateTime<Utc>) -> bool {
        self.open_until(at).is_some() == self.allow
    }

    /// When the stretch of allowed time at or after `from` begins and ends; `None` when there is
    /// none within the horizon (an allow window that never fires, a deny window never closing).
    pub fn next_allowed(&self, from: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let limit = from + HORIZON;
        let start =
            if self.allow { if self.open_until(from).is_some() { from } else { self.next_firing(from)? } } else { self.closed_from(from)? };
        if start > limit {
            return None;
        }
        let end = if self.allow { self.closed_from(start)? } else { self.next_firing(start).unwrap_or(limit) };
        Some((start, end.min(limit).max(start)))
    }

    /// The first instant at or after `t` when no window is open, following overlapping windows.
    fn closed_from(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = t;
        for _ in 0..MAX_STEPS {
            match self.open_until(t) {
                None => return Some(t),
                Some(end) => t = end,
            }
        }
        None
    }

    /// If a window is open at `t`, when the latest-closing one of those open closes.
    fn open_until(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries.iter().filter_map(|(firing, duration)| last_firing(firing, t).map(|o| o + *duration).filter(|end| *end > t)).max()
    }

    /// The first firing of any window strictly after `t`.
    fn next_firing(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .filter_map(|(firing, _)| match firing {
                Firing::Cron(c) => c.find_next_occurrence(&t, false).ok(),
                Firing::Every(every) => Some(epoch_multiple(t, *every) + *every),
            })
            .min()
    }
}

/// The latest firing at or before `t`.
fn last_firing(firing: &Firing, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match firing {
        Firing::Cron(c) => c.find_previous_occurrence(&t, true).ok(),
        Firing::Every(every) => Some(epoch_multiple(t, *every)),
    }
}

fn epoch_multiple(t: DateTime<Utc>, every: Duration) -> DateTime<Utc> {
    let every_ms = every.num_milliseconds().max(1);
    let ms = t.timestamp_millis();
    DateTime::from_timestamp_millis(ms - ms.rem_euclid(every_ms)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kind;schedule=duration;…`
    fn windows(s: &str) -> Windows {
        let mut parts = s.split(';');
        let kind = parts.next().unwrap_or_default();
        let list: Vec<_> = parts
            .map(|w| {
                let (schedule, duration) = w.rsplit_once('=').unwrap();
                serde_json::json!({"schedule": schedule, "duration": duration})
            })
            .collect();
        Windows::parse(&serde_json::from_value(serde_json::json!({"kind": kind, "windows": list})).unwrap()).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_allow_window_admits_refreshes_only_while_open() {
        // Weekdays 22:00 for 8 hours. 2026-12-04 is a Friday.
        let w = windows("allow;0 22 * * 1-5=8h");
        assert!(!w.allowed(utc("2026-12-04T21:59:59Z")));
        assert!(w.allowed(utc("2026-12-04T22:00:00Z")));
        assert!(w.allowed(utc("2026-12-05T05:59:59Z")), "still open past midnight into Saturday");
        assert!(!w.allowed(utc("2026-12-05T06:00:00Z")), "closes after its duration");
        assert!(!w.allowed(utc("2026-12-05T23:00:00Z")), "no window opens on Saturday");
        assert_eq!(w.next_allowed(utc("2026-12-05T07:00:00Z")), Some((utc("2026-12-07T22:00:00Z"), utc("2026-12-08T06:00:00Z"))));
        assert_eq!(w.next_allowed(utc("2026-12-04T23:00:00Z")), Some((utc("2026-12-04T23:00:00Z"), utc("2026-12-05T06:00:00Z"))));
    }

    #[test]
    fn a_deny_window_blocks_while_open_and_overlapping_windows_chain() {
        let w = windows("deny;@daily=2h;0 1 * * *=3h");
        assert!(!w.allowed(utc("2026-12-04T00:30:00Z")));
        assert!(!w.allowed(utc("2026-12-04T03:59:00Z")), "the second window overlaps the first");
        assert!(w.allowed(utc("2026-12-04T04:00:00Z")));
        assert_eq!(w.next_allowed(utc("2026-12-04T00:30:00Z")), Some((utc("2026-12-04T04:00:00Z"), utc("2026-12-05T00:00:00Z"))));
    }

    #[test]
    fn every_fires_at_multiples_of_its_duration_since_the_epoch() {
        let w = windows("allow;@every 6h=1h");
        assert!(w.allowed(utc("2026-12-04T06:30:00Z")));
        assert!(!w.allowed(utc("2026-12-04T07:30:00Z")));
        assert_eq!(w.next_allowed(utc("2026-12-04T07:30:00Z")).unwrap().0, utc("2026-12-04T12:00:00Z"));
    }

    #[test]
    fn shorthands_are_eso_s_set() {
        for s in ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"] {
            windows(&format!("allow;{s}=1m"));
        }
        assert!(windows("allow;@weekly=1h").allowed(utc("2026-12-06T00:30:00Z")), "weeks start on Sunday");
    }

    #[test]
    fn a_window_that_never_closes_or_never_opens_has_no_next_stretch() {
        assert_eq!(windows("deny;* * * * *=2m").next_allowed(utc("2026-12-04T00:00:00Z")), None);
        assert_eq!(windows("allow;0 0 30 2 *=1h").next_allowed(utc("2026-12-04T00:00:00Z")), None, "February 30th");
    }

    #[test]
    fn bad_windows_are_named_errors() {
        let parse = |schedule: &str, duration: &str| {
            let spec = serde_json::from_value(
                serde_json::json!({"kind": "allow", "windows": [{"schedule": "@daily", "duration": "1h"}, {"schedule": schedule, "duration": duration}]}),
            );
            Windows::parse(&spec.unwrap()).err().unwrap_or_default()
        };
        assert!(parse("61 * * * *", "1h").starts_with("syncWindows.windows[1].schedule: \"61 * * * *\""));
        assert!(parse("0 0 * * * *", "1h").contains("not a 5-field cron expression"));
        assert!(parse("@every 0s", "1h").contains("at least 1s"));
        assert!(parse("@daily", "-1h").starts_with("syncWindows.windows[1].duration"));
        assert_eq!(parse("@daily", "1h"), "");
    }
}
