//! The population under a short refresh interval: new objects while N refresh, the apiserver's
//! requests over one idle refresh cycle, and the per-minute provider calls after a restart.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::apiserver;
use super::fake::{Population, provider_calls};
use crate::{ApiserverCycle, NewObjects, Storm, cluster};

/// Patch every object to `interval` and wait until each has synced again (a spec change is due
/// at once). Returns when the last one did: slots converge one interval later.
pub async fn switch_interval(pop: &Population, interval: Duration, concurrency: usize) -> anyhow::Result<Instant> {
    // refreshTime has one-second resolution: a re-sync within the same second would not show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: HashMap<String, u32> = pop.tracker.snapshot().into_iter().map(|(k, s)| (k, s.refreshes)).collect();
    cluster::set_interval(&pop.api, &pop.names, interval, concurrency).await?;
    let timeout = Duration::from_secs(600 + pop.names.len() as u64 / 5);
    pop.tracker
        .wait("re-sync after the interval change", timeout, |objs| {
            pop.names.iter().all(|n| objs.get(n).is_some_and(|s| s.refreshes > before.get(n).copied().unwrap_or(0)))
        })
        .await?;
    Ok(Instant::now())
}

/// Create `count` ExternalSecrets while the population refreshes; each one's time from its
/// create call returning to Ready on the watch.
pub async fn new_objects(pop: &Population, count: usize, interval: Duration, concurrency: usize) -> anyhow::Result<NewObjects> {
    let created: Mutex<HashMap<String, Instant>> = Mutex::default();
    let started = Instant::now();
    cluster::for_each(count, concurrency, |i| {
        let created = &created;
        async move {
            let name = format!("new-{i}");
            let remote = format!("es-{}", i % pop.names.len().max(1));
            let store = format!("fake-{}", (i % pop.names.len().max(1)) / cluster::KEYS_PER_FAKE_STORE);
            cluster::create_es(&pop.api, &cluster::external_secret(&name, &store, &remote, interval)?).await?;
            created.lock().expect("lock").insert(name, Instant::now());
            Ok(())
        }
    })
    .await?;
    pop.tracker
        .wait("new objects Ready", Duration::from_secs(300), |objs| {
            (0..count).all(|i| objs.get(&format!("new-{i}")).is_some_and(|s| s.ready_at.is_some()))
        })
        .await?;
    let seen = pop.tracker.snapshot();
    let created = created.into_inner().expect("lock");
    let mut latencies: Vec<f64> =
        created.iter().filter_map(|(name, at)| seen.get(name)?.ready_at.map(|r| r.saturating_duration_since(*at).as_secs_f64())).collect();
    latencies.sort_by(f64::total_cmp);
    let last = seen.iter().filter(|(n, _)| n.starts_with("new-")).filter_map(|(_, s)| s.ready_at).max().unwrap_or(started);
    Ok(NewObjects {
        count,
        p50_secs: latencies.get(latencies.len() / 2).copied().unwrap_or(0.0),
        p100_secs: latencies.last().copied().unwrap_or(0.0),
        all_ready_secs: last.duration_since(started).as_secs_f64(),
    })
}

/// The apiserver's requests for resources sesame touches over one refresh interval in which
/// nothing changed remotely.
pub async fn apiserver_cycle(pop: &Population, interval: Duration) -> anyhow::Result<(ApiserverCycle, usize)> {
    let before = apiserver::requests(&pop.client).await?;
    let from = Instant::now();
    tokio::time::sleep(interval).await;
    let after = apiserver::requests(&pop.client).await?;
    let refreshed = pop.tracker.refreshes_between(from, Instant::now());
    Ok((ApiserverCycle { interval_secs: interval.as_secs_f64(), requests: apiserver::delta(&before, &after) }, refreshed))
}

/// Restart and count provider calls per minute over one interval; storm factor = the busiest
/// minute over the mean minute.
pub async fn storm(pop: &mut Population, interval: Duration) -> anyhow::Result<Storm> {
    let ready = pop.restart().await?;
    let minutes = (interval.as_secs() / 60).max(1) as usize;
    let mut per_minute = Vec::with_capacity(minutes);
    let mut last = 0;
    for m in 1..=minutes {
        tokio::time::sleep_until((ready + Duration::from_secs(60 * m as u64)).into()).await;
        let total = provider_calls(&pop.sesame.metrics().await?, &pop.ns);
        per_minute.push(total - last);
        last = total;
    }
    let mean = per_minute.iter().sum::<u64>() as f64 / minutes as f64;
    let max = per_minute.iter().copied().max().unwrap_or(0) as f64;
    Ok(Storm {
        interval_secs: interval.as_secs_f64(),
        first_minute_calls: per_minute.first().copied().unwrap_or(0),
        storm_factor: if mean > 0.0 { max / mean } else { 0.0 },
        calls_per_minute: per_minute,
    })
}
