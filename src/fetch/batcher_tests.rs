use super::*;
use sesame_provider_core::CallRate;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts batches, remembers their order, and echoes the key as the value.
#[derive(Default)]
struct Echo {
    batches: AtomicUsize,
    keys: AtomicUsize,
    order: Mutex<Vec<String>>,
}

#[async_trait]
impl SecretProvider for Echo {
    fn name(&self) -> &'static str {
        "Echo"
    }
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        if key.key == "missing" {
            return Err(ProviderError::NotFound("missing".into()));
        }
        if key.key == "throttled" {
            return Err(ProviderError::Throttled { message: "rate exceeded".into(), retry_after: Some(Duration::from_millis(1)) });
        }
        Ok(SecretValue::from(key.key.as_str()))
    }
    async fn get_secrets(&self, keys: &[RemoteKey]) -> Vec<Result<SecretValue, ProviderError>> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.keys.fetch_add(keys.len(), Ordering::SeqCst);
        self.order.lock().unwrap().extend(keys.iter().map(|k| k.key.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut out = Vec::new();
        for k in keys {
            out.push(self.get_secret(k).await);
        }
        out
    }
    /// Three list pages of 4 names, then one read per name.
    async fn find(&self, _: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let mut names = Vec::new();
        for page in 0..3 {
            scope.charge(1).await;
            names.extend((0..4).map(|i| format!("s{page}{i}")));
            scope.check_matches(names.len())?;
        }
        scope.charge(names.len()).await;
        let mut found = BTreeMap::new();
        for n in names {
            let v = SecretValue::from(n.as_str());
            scope.check_value(&n, &v)?;
            found.insert(n, v);
        }
        Ok(found)
    }
    async fn validate(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn batcher(echo: Arc<Echo>, max_batch: usize, qps: u32) -> Batcher {
    Batcher::new(echo, Duration::from_millis(10), max_batch, Budget::new(CallRate { qps, burst: qps }), None, HeldBytes::new(1 << 20))
}

#[tokio::test]
async fn concurrent_reads_of_many_keys_cost_one_batch_per_max_batch() {
    let echo = Arc::new(Echo::default());
    let b = Arc::new(batcher(echo.clone(), 20, 1000));
    let reads = (0..100).map(|i| {
        let b = b.clone();
        tokio::spawn(async move { b.get(RemoteKey::new(format!("k{}", i % 40)), ReadAs::routine()).await })
    });
    for (i, r) in futures::future::join_all(reads).await.into_iter().enumerate() {
        assert_eq!(r.unwrap().unwrap().as_bytes(), format!("k{}", i % 40).as_bytes());
    }
    assert_eq!(echo.keys.load(Ordering::SeqCst), 40, "each distinct key read once");
    assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "40 keys in batches of 20");
}

#[tokio::test]
async fn a_throttled_batch_halves_the_stores_rate_and_a_write_is_charged_to_the_same_budget() {
    let echo = Arc::new(Echo::default());
    let b = batcher(echo, 20, 400);
    assert!(matches!(b.get(RemoteKey::new("throttled"), ReadAs::routine()).await, Err(ProviderError::Throttled { .. })));
    assert_eq!(b.0.budget.current_qps(), 200);
    let _ = b
        .call(|_| async {
            Err::<(), _>(ProviderError::Throttled { message: "slow down".into(), retry_after: Some(Duration::from_millis(1)) })
        })
        .await;
    assert_eq!(b.0.budget.current_qps(), 200, "throttles within a second are one event");
    assert_eq!(b.get(RemoteKey::new("a"), ReadAs::routine()).await.unwrap().as_bytes(), b"a", "reads go on after the pause");
}

#[tokio::test]
async fn one_keys_error_reaches_only_its_readers() {
    let b = batcher(Arc::new(Echo::default()), 20, 1000);
    let (ok, missing) = tokio::join!(b.get(RemoteKey::new("a"), ReadAs::routine()), b.get(RemoteKey::new("missing"), ReadAs::routine()));
    assert_eq!(ok.unwrap().as_bytes(), b"a");
    assert!(missing.unwrap_err().is_not_found());
}

#[tokio::test]
async fn a_value_larger_than_a_secret_can_hold_is_refused() {
    let b = batcher(Arc::new(Echo::default()), 20, 1000);
    let huge = "h".repeat(MAX_VALUE_BYTES + 1);
    let err = b.get(RemoteKey::new(huge), ReadAs::routine()).await.unwrap_err();
    assert!(err.to_string().contains("over the 1048576 bytes"), "{}", &err.to_string()[..80]);
}

#[tokio::test]
async fn a_routine_refresh_takes_a_value_read_just_before_and_a_sync_asked_for_only_one_read_after_it_asked() {
    let echo = Arc::new(Echo::default());
    let b = batcher(echo.clone(), 20, 1000);
    let edited_before_the_read = Instant::now();
    b.get(RemoteKey::new("a"), ReadAs::routine()).await.unwrap();
    assert_eq!(b.get(RemoteKey::new("a"), ReadAs::routine()).await.unwrap().as_bytes(), b"a");
    assert_eq!(echo.batches.load(Ordering::SeqCst), 1, "the second refresh of the slot took the first one's value");
    b.get(RemoteKey::new("a"), ReadAs::asked_at(edited_before_the_read)).await.unwrap();
    assert_eq!(echo.batches.load(Ordering::SeqCst), 1, "an edit the read was sent after is served by it");
    b.get(RemoteKey::new("a"), ReadAs::asked_at(Instant::now())).await.unwrap();
    assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "an edit or a force-sync after the read reads afresh");
    b.get_planned(RemoteKey::new("a"), ReadAs::asked_at(Instant::now())).await.unwrap();
    assert_eq!(echo.batches.load(Ordering::SeqCst), 3, "so does a first sync beyond its wave's plan");
    b.get(RemoteKey::new("missing"), ReadAs::routine()).await.unwrap_err();
    b.get(RemoteKey::new("missing"), ReadAs::routine()).await.unwrap_err();
    assert_eq!(echo.batches.load(Ordering::SeqCst), 5, "an error is never shared: each refresh asks again");
}

#[tokio::test]
async fn a_planned_wave_is_read_in_full_batches_and_its_readers_take_it_without_a_call() {
    let echo = Arc::new(Echo::default());
    let b = batcher(echo.clone(), 20, 1000);
    b.prefetch((0..40).map(|i| (RemoteKey::new(format!("k{i}")), 2)).collect(), None);
    for round in 0..2 {
        for i in 0..40 {
            let key = RemoteKey::new(format!("k{i}"));
            assert_eq!(
                b.get_planned(key, ReadAs::asked_at(Instant::now())).await.unwrap().as_bytes(),
                format!("k{i}").as_bytes(),
                "round {round}"
            );
        }
    }
    assert_eq!(echo.batches.load(Ordering::SeqCst), 2, "40 planned keys in two full batches, 80 readers served from them");
    assert!(!b.0.queues.lock().unwrap().holding.is_holding(), "every share taken: nothing left held");
    b.get(RemoteKey::new("k0"), ReadAs::asked_at(Instant::now())).await.unwrap();
    b.get_planned(RemoteKey::new("k1"), ReadAs::asked_at(Instant::now())).await.unwrap();
    assert_eq!(echo.batches.load(Ordering::SeqCst), 4, "an edit, and a reader beyond the plan, read again");
}

#[tokio::test]
async fn a_first_sync_arriving_while_its_wave_is_planned_waits_for_the_plan_and_shares_its_read() {
    let echo = Arc::new(Echo::default());
    let b = Arc::new(batcher(echo.clone(), 20, 1000));
    let planning = b.begin_plan(Duration::from_secs(1)).await.expect("the first plan");
    // A second first sync of the same client, arriving mid-plan: it may not plan, and it may not
    // read until the plan has handed over its keys.
    let early = {
        let b = b.clone();
        tokio::spawn(async move {
            assert!(b.begin_plan(Duration::from_secs(1)).await.is_none(), "one plan per gap");
            b.get_planned(RemoteKey::new("k0"), ReadAs::asked_at(Instant::now())).await
        })
    };
    // Longer than the coalescing window: a read started meanwhile would have gone out and returned.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(echo.batches.load(Ordering::SeqCst), 0, "nothing read while the plan is being made");
    b.prefetch(vec![(RemoteKey::new("k0"), 2)], None);
    drop(planning);
    assert_eq!(early.await.unwrap().unwrap().as_bytes(), b"k0");
    assert_eq!(b.get_planned(RemoteKey::new("k0"), ReadAs::asked_at(Instant::now())).await.unwrap().as_bytes(), b"k0");
    assert_eq!(echo.keys.load(Ordering::SeqCst), 1, "the planner's and the early reader's share came from one read");
}

#[tokio::test]
async fn a_find_charges_each_list_page_and_read_to_the_store_budget() {
    let metrics = Arc::new(Metrics::default());
    let labels = StoreLabels { kind: "SecretStore".into(), namespace: "team-a".into(), store: "s".into() };
    let b = Batcher::new(
        Arc::new(Echo::default()),
        Duration::from_millis(10),
        20,
        Budget::new(CallRate { qps: 1000, burst: 1000 }),
        Some((metrics.clone(), labels)),
        HeldBytes::new(1 << 20),
    );
    let found = b.find(&FindQuery::default(), FindLimits::default()).await.unwrap();
    assert_eq!(found.len(), 12);
    let text = metrics.encode();
    let line = text.lines().find(|l| l.starts_with("sesame_store_provider_calls") && l.contains("team-a")).expect("a store call sample");
    assert!(line.ends_with(" 15"), "3 list pages + 12 reads charged: {line}");
}

#[tokio::test]
async fn a_find_over_its_limits_fails_naming_the_limit() {
    let b = batcher(Arc::new(Echo::default()), 20, 1000);
    let err = b.find(&FindQuery::default(), FindLimits { max_matches: 5, max_bytes: 1 << 20 }).await.unwrap_err();
    assert!(err.to_string().contains("more than 5 secrets"), "{err}");
    let err = b.find(&FindQuery::default(), FindLimits { max_matches: 100, max_bytes: 20 }).await.unwrap_err();
    assert!(err.to_string().contains("more than 20 bytes"), "{err}");
}

#[tokio::test]
async fn urgent_reads_overtake_routine_ones_when_the_budget_is_short() {
    let echo = Arc::new(Echo::default());
    let b = Arc::new(batcher(echo.clone(), 1, 5));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move { b.get(RemoteKey::new(format!("routine-{i}")), ReadAs::routine()).await }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let urgent = b.get(RemoteKey::new("urgent"), ReadAs::asked_at(Instant::now())).await.unwrap();
    assert_eq!(urgent.as_bytes(), b"urgent");
    let order = echo.order.lock().unwrap().clone();
    let pos = order.iter().position(|k| k == "urgent").unwrap();
    assert!(pos <= 2, "urgent read went out as batch {pos} of {order:?}");
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}
