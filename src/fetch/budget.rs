//! A store's call budget: a token bucket whose ceiling comes from the store's annotations, the
//! controller's flags or the provider's documented quota (in that order), which adapts below that
//! ceiling — halved when the provider throttles, grown back while nothing is throttled — plus a
//! penalty box that pauses only this store for the provider's hint.
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sesame_provider_core::{CallQuota, CallRate};

/// Store annotation: sustained provider calls per second.
pub const QPS_ANNOTATION: &str = "sesame.external-secrets.io/rate-limit-qps";
/// Store annotation: calls allowed in one burst.
pub const BURST_ANNOTATION: &str = "sesame.external-secrets.io/rate-limit-burst";

/// The ceiling of a provider whose quota is not documented: conservative, as before quotas.
pub const UNKNOWN_QUOTA: CallRate = CallRate { qps: 50, burst: 100 };
/// The ceiling of a backend with no quota (Vault, the fake): never the bottleneck of one
/// controller, but still a number the budget can halve from when the backend does throttle.
pub const UNMETERED: CallRate = CallRate { qps: 10_000, burst: 1_000 };

/// Controller-wide overrides from the flags; `None` leaves each provider's documented quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetLimits {
    pub qps: Option<u32>,
    pub burst: Option<u32>,
}

impl BudgetLimits {
    /// The store's ceiling: its annotations where valid, else the flags, else the quota its
    /// provider documents. A rate set without a burst bursts at most two seconds' worth.
    pub fn for_store(self, quota: CallQuota, annotations: &BTreeMap<String, String>) -> CallRate {
        let read = |key: &str| annotations.get(key).and_then(|v| v.trim().parse::<u32>().ok()).filter(|v| *v > 0);
        let base = match quota {
            CallQuota::Unknown => UNKNOWN_QUOTA,
            CallQuota::Unmetered => UNMETERED,
            CallQuota::Documented(rate) => rate,
        };
        let set_qps = read(QPS_ANNOTATION).or(self.qps.filter(|q| *q > 0));
        let qps = set_qps.unwrap_or(base.qps).max(1);
        let default_burst = if set_qps.is_some() { base.burst.min(qps.saturating_mul(2)) } else { base.burst };
        let burst = read(BURST_ANNOTATION).or(self.burst.filter(|b| *b > 0)).unwrap_or(default_burst).max(1);
        CallRate { qps, burst }
    }
}

const MAX_PENALTY: Duration = Duration::from_secs(60);
/// Throttles closer together than this are one event: the calls of one burst all fail at once.
const CUT_SPACING: Duration = Duration::from_secs(1);
/// How long the rate must go unthrottled before it grows again.
const GROW_EVERY: Duration = Duration::from_secs(5);

/// The rate the store runs at, between 1 call per second and its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Adaptive {
    ceiling: CallRate,
    qps: u32,
    /// When the rate last changed (growth waits for a quiet spell after it).
    changed: Instant,
    last_cut: Option<Instant>,
}

impl Adaptive {
    fn new(ceiling: CallRate, now: Instant) -> Self {
        Adaptive { ceiling, qps: ceiling.qps, changed: now, last_cut: None }
    }

    /// The provider throttled: halve, once per burst of throttles.
    fn cut(&mut self, now: Instant) -> bool {
        if self.last_cut.is_some_and(|at| now.duration_since(at) < CUT_SPACING) || self.qps == 1 {
            return false;
        }
        self.qps = (self.qps / 2).max(1);
        self.changed = now;
        self.last_cut = Some(now);
        true
    }

    /// A call went through: grow by half after a quiet spell, up to the ceiling.
    fn grow(&mut self, now: Instant) -> bool {
        if self.qps >= self.ceiling.qps || now.duration_since(self.changed) < GROW_EVERY {
            return false;
        }
        self.qps = self.qps.saturating_add((self.qps / 2).max(1)).min(self.ceiling.qps);
        self.changed = now;
        true
    }

    /// The ceiling's burst at full rate; a lowered rate bursts no more than one second's worth.
    fn burst(&self) -> u32 {
        if self.qps >= self.ceiling.qps { self.ceiling.burst.max(1) } else { self.ceiling.burst.min(self.qps).max(1) }
    }

    fn limiter(&self) -> Arc<(DefaultDirectRateLimiter, NonZeroU32)> {
        let qps = NonZeroU32::new(self.qps.max(1)).expect("non-zero");
        let burst = NonZeroU32::new(self.burst()).expect("non-zero");
        Arc::new((RateLimiter::direct(Quota::per_second(qps).allow_burst(burst)), burst))
    }
}

struct State {
    rate: Adaptive,
    limiter: Arc<(DefaultDirectRateLimiter, NonZeroU32)>,
    penalty_until: Option<Instant>,
    strikes: u32,
}

pub struct Budget {
    state: Mutex<State>,
}

impl Budget {
    pub fn new(ceiling: CallRate) -> Self {
        let rate = Adaptive::new(ceiling, Instant::now());
        Budget { state: Mutex::new(State { limiter: rate.limiter(), rate, penalty_until: None, strikes: 0 }) }
    }

    /// The calls per second the store runs at now.
    pub fn current_qps(&self) -> u32 {
        self.state.lock().expect("budget lock").rate.qps
    }

    /// Wait until `calls` remote calls may be made. Returns how long that took.
    pub async fn acquire(&self, calls: usize) -> Duration {
        let start = Instant::now();
        let (until, limiter) = {
            let s = self.state.lock().expect("budget lock");
            (s.penalty_until, s.limiter.clone())
        };
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
        let (limiter, burst) = &*limiter;
        let mut left = calls.max(1) as u32;
        while left > 0 {
            let n = left.min(burst.get());
            let _ = limiter.until_n_ready(NonZeroU32::new(n).expect("non-zero")).await;
            left -= n;
        }
        start.elapsed()
    }

    /// The provider throttled us: pause this store for its hint, else 1 s doubling up to a
    /// minute, and halve its rate.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let now = Instant::now();
        let mut s = self.state.lock().expect("budget lock");
        s.strikes = s.strikes.saturating_add(1);
        let backoff = Duration::from_secs(1u64 << (s.strikes - 1).min(6)).min(MAX_PENALTY);
        s.penalty_until = Some(now + retry_after.unwrap_or(backoff).min(MAX_PENALTY));
        if s.rate.cut(now) {
            s.limiter = s.rate.limiter();
        }
    }

    /// A call went through unthrottled.
    pub fn succeeded(&self) {
        let now = Instant::now();
        let mut s = self.state.lock().expect("budget lock");
        s.penalty_until = None;
        s.strikes = 0;
        if s.rate.grow(now) {
            s.limiter = s.rate.limiter();
        }
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
