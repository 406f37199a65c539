use super::*;

const NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

fn annotations(qps: &str, burst: &str) -> BTreeMap<String, String> {
    [(QPS_ANNOTATION.to_string(), qps.to_string()), (BURST_ANNOTATION.to_string(), burst.to_string())].into()
}

#[test]
fn a_store_runs_at_its_providers_documented_quota_unless_told_otherwise() {
    let defaults = BudgetLimits::default();
    assert_eq!(defaults.for_store(CallQuota::per_second(400), &NO_ANNOTATIONS), CallRate { qps: 400, burst: 400 });
    assert_eq!(defaults.for_store(CallQuota::Unmetered, &NO_ANNOTATIONS), UNMETERED);
    assert_eq!(defaults.for_store(CallQuota::Unknown, &NO_ANNOTATIONS), UNKNOWN_QUOTA);
}

#[test]
fn flags_override_the_quota_and_annotations_override_the_flags() {
    let flags = BudgetLimits { qps: Some(20), burst: Some(30) };
    assert_eq!(flags.for_store(CallQuota::Unmetered, &NO_ANNOTATIONS), CallRate { qps: 20, burst: 30 });
    assert_eq!(
        flags.for_store(CallQuota::Unmetered, &annotations("5", "zero")),
        CallRate { qps: 5, burst: 30 },
        "an invalid burst falls back"
    );
    assert_eq!(BudgetLimits::default().for_store(CallQuota::Unmetered, &annotations("5", "")), CallRate { qps: 5, burst: 10 });
    assert_eq!(BudgetLimits { qps: Some(0), burst: None }.for_store(CallQuota::per_second(40), &NO_ANNOTATIONS).qps, 40);
}

#[test]
fn throttling_halves_the_rate_once_per_burst_and_quiet_spells_grow_it_back_to_the_ceiling() {
    let t0 = Instant::now();
    let mut rate = Adaptive::new(CallRate { qps: 400, burst: 400 }, t0);
    assert!(rate.cut(t0));
    assert_eq!(rate.qps, 200);
    assert!(!rate.cut(t0 + Duration::from_millis(100)), "the rest of that burst's throttles");
    assert!(rate.cut(t0 + CUT_SPACING));
    assert_eq!(rate.qps, 100);
    assert!(!rate.grow(t0 + CUT_SPACING + Duration::from_secs(1)), "too soon after a throttle");
    let mut t = t0 + CUT_SPACING;
    let mut steps = 0;
    while rate.qps < 400 {
        t += GROW_EVERY;
        assert!(rate.grow(t));
        steps += 1;
    }
    assert_eq!(rate.qps, 400, "never above the ceiling");
    assert_eq!(steps, 4, "100 → 150 → 225 → 337 → 400");
    assert!(!rate.grow(t + GROW_EVERY));
}

#[test]
fn the_rate_never_drops_below_one_call_a_second() {
    let t0 = Instant::now();
    let mut rate = Adaptive::new(CallRate { qps: 3, burst: 6 }, t0);
    for i in 1..10 {
        rate.cut(t0 + i * CUT_SPACING);
    }
    assert_eq!(rate.qps, 1);
    assert_eq!(rate.burst(), 1, "a cut rate bursts no more than its own rate");
}

#[tokio::test]
async fn calls_beyond_the_burst_wait_for_tokens() {
    let b = Budget::new(CallRate { qps: 20, burst: 5 });
    assert!(b.acquire(5).await < Duration::from_millis(20), "the burst is free");
    let waited = b.acquire(4).await;
    assert!(waited >= Duration::from_millis(150), "4 more at 20/s take ~200ms, took {waited:?}");
}

#[tokio::test]
async fn a_throttle_pauses_the_store_and_success_clears_it() {
    let b = Budget::new(CallRate { qps: 1000, burst: 1000 });
    b.throttled(Some(Duration::from_millis(300)));
    assert!(b.acquire(1).await >= Duration::from_millis(250));
    b.succeeded();
    assert!(b.acquire(1).await < Duration::from_millis(50));
}
