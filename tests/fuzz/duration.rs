//! `refreshInterval` and every duration flag go through `parse_go_duration`.
use std::time::Duration;

use proptest::prelude::*;
use sesame::api::{GoDuration, IntOrDuration};
use sesame::duration::{GO_DURATION_PATTERN, format_go_duration, parse_go_duration};

use crate::{bounded, fuzz, inputs};

/// Text shaped like durations, with the mistakes people make.
fn duration_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[0-9]{1,4}",
        "[0-9]{1,3}\\.[0-9]{0,3}",
        "\\.[0-9]{1,3}",
        prop::sample::select(&["ns", "us", "µs", "μs", "ms", "s", "m", "h", "d", "", "+", "-", ".", "e9", " "][..])
            .prop_map(str::to_string),
        "[0-9]{15,25}",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

#[test]
fn parse_go_duration_never_panics_and_refuses_negatives() {
    let strategy = prop_oneof![duration_like(), inputs::text()];
    fuzz("parse_go_duration", 3000, strategy, |s| {
        let parsed = bounded("parse_go_duration", || parse_go_duration(&s))?;
        if let Ok(d) = parsed {
            prop_assert!(!s.starts_with('-') || d.is_zero() && s == "-0", "negative accepted: {s:?} -> {d:?}");
            prop_assert!(!s.is_empty(), "the empty string is not a duration");
        }
        Ok(())
    });
}

#[test]
fn what_the_crd_pattern_admits_parses() {
    let re = regex::Regex::new(GO_DURATION_PATTERN).unwrap();
    let strategy = "(0|([0-9]{1,6}(\\.[0-9]{1,3})?(ns|us|µs|ms|s|m|h)){1,4})";
    fuzz("crd pattern => parse", 2000, strategy, |s| {
        prop_assert!(re.is_match(&s));
        prop_assert!(parse_go_duration(&s).is_ok(), "the apiserver admits {s:?} but sesame cannot parse it");
        Ok(())
    });
}

#[test]
fn formatted_durations_parse_back_to_the_same_value() {
    // Whole seconds up to 100 years: what status and flags carry.
    fuzz("format/parse round trip", 2000, 0u64..3_155_760_000, |secs| {
        let text = format_go_duration(Duration::from_secs(secs));
        let back = parse_go_duration(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(back, Duration::from_secs(secs), "{}", text);
        Ok(())
    });
}

#[test]
fn compound_durations_add_up_exactly() {
    // Below 2^53 ns (about 104 days) a float accumulator is still exact.
    let parts = (0u64..2400, 0u64..60, 0u64..60, 0u64..1000, 0u64..1000, 0u64..1000);
    fuzz("h/m/s/ms/us/ns sums", 2000, parts, |(h, m, s, ms, us, ns)| {
        let text = format!("{h}h{m}m{s}s{ms}ms{us}us{ns}ns");
        let want = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_nanos(ms * 1_000_000 + us * 1000 + ns);
        prop_assert_eq!(parse_go_duration(&text), Ok(want), "{}", text);
        Ok(())
    });
}

#[test]
fn api_duration_fields_parse_from_any_json() {
    fuzz("GoDuration/IntOrDuration from JSON", 2000, inputs::json(), |v| {
        if let Ok(d) = serde_json::from_value::<GoDuration>(v.clone()) {
            let _ = bounded("GoDuration::parse", || d.parse())?;
        }
        if let Ok(d) = serde_json::from_value::<IntOrDuration>(v) {
            let parsed = bounded("IntOrDuration::parse", || d.parse())?;
            if let (IntOrDuration::Seconds(n), Ok(_)) = (&d, &parsed) {
                prop_assert!(*n >= 0, "negative seconds accepted");
            }
        }
        Ok(())
    });
}

/// Go's `time.ParseDuration` refuses a sign with no number; sesame's parser reads `"+"` as zero.
/// Harmless for manifests (the CRD pattern refuses it), but a flag such as
/// `--default-refresh-interval=+` silently turns refreshing off.
#[test]
fn a_lone_sign_is_not_a_duration() {
    for bad in ["+", "-", "+-1s", "++1s"] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?} parsed as {:?}; Go refuses it", parse_go_duration(bad));
    }
}
