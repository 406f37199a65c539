//! A store's call budget: a token bucket (QPS and burst, from the store's annotations or the
//! controller-wide default) and a penalty box that slows only this store down after the provider
//! throttled it.
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Store annotation: sustained provider calls per second.
pub const QPS_ANNOTATION: &str = "sesame.external-secrets.io/rate-limit-qps";
/// Store annotation: calls allowed in one burst.
pub const BURST_ANNOTATION: &str = "sesame.external-secrets.io/rate-limit-burst";

/// Limits from flags, overridden per store by annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    pub qps: u32,
    pub burst: u32,
}

impl BudgetLimits {
    /// The store's own limits where its annotations set valid ones.
    pub fn for_store(self, annotations: &BTreeMap<String, String>) -> BudgetLimits {
        let read = |key: &str| annotations.get(key).and_then(|v| v.trim().parse::<u32>().ok()).filter(|v| *v > 0);
        BudgetLimits { qps: read(QPS_ANNOTATION).unwrap_or(self.qps), burst: read(BURST_ANNOTATION).unwrap_or(self.burst) }
    }
}

const MAX_PENALTY: Duration = Duration::from_secs(60);

pub struct Budget {
    limiter: DefaultDirectRateLimiter,
    burst: NonZeroU32,
    penalty: Mutex<(Option<Instant>, u32)>,
}

impl Budget {
    pub fn new(limits: BudgetLimits) -> Self {
        let qps = NonZeroU32::new(limits.qps.max(1)).expect("non-zero");
        let burst = NonZeroU32::new(limits.burst.max(1)).expect("non-zero");
        Budget { limiter: RateLimiter::direct(Quota::per_second(qps).allow_burst(burst)), burst, penalty: Mutex::new((None, 0)) }
    }

    /// Wait until `calls` remote calls may be made. Returns how long that took.
    pub async fn acquire(&self, calls: usize) -> Duration {
        let start = Instant::now();
        let until = self.penalty.lock().expect("penalty lock").0;
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
        let mut left = calls.max(1) as u32;
        while left > 0 {
            let n = left.min(self.burst.get());
            let _ = self.limiter.until_n_ready(NonZeroU32::new(n).expect("non-zero")).await;
            left -= n;
        }
        start.elapsed()
    }

    /// The provider throttled us: pause this store for its hint, else 1 s doubling up to a minute.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let mut p = self.penalty.lock().expect("penalty lock");
        p.1 = p.1.saturating_add(1);
        let backoff = Duration::from_secs(1u64 << (p.1 - 1).min(6)).min(MAX_PENALTY);
        p.0 = Some(Instant::now() + retry_after.unwrap_or(backoff).min(MAX_PENALTY));
    }

    /// A call went through unthrottled.
    pub fn succeeded(&self) {
        let mut p = self.penalty.lock().expect("penalty lock");
        *p = (None, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_override_the_default_when_valid() {
        let base = BudgetLimits { qps: 50, burst: 100 };
        let ann: BTreeMap<String, String> =
            [(QPS_ANNOTATION.to_string(), "5".to_string()), (BURST_ANNOTATION.to_string(), "zero".to_string())].into();
        assert_eq!(base.for_store(&ann), BudgetLimits { qps: 5, burst: 100 });
        assert_eq!(base.for_store(&BTreeMap::new()), base);
    }

    #[tokio::test]
    async fn calls_beyond_the_burst_wait_for_tokens() {
        let b = Budget::new(BudgetLimits { qps: 20, burst: 5 });
        assert!(b.acquire(5).await < Duration::from_millis(20), "the burst is free");
        let waited = b.acquire(4).await;
        assert!(waited >= Duration::from_millis(150), "4 more at 20/s take ~200ms, took {waited:?}");
    }

    #[tokio::test]
    async fn a_throttle_pauses_the_store_and_success_clears_it() {
        let b = Budget::new(BudgetLimits { qps: 1000, burst: 1000 });
        b.throttled(Some(Duration::from_millis(300)));
        assert!(b.acquire(1).await >= Duration::from_millis(250));
        b.succeeded();
        assert!(b.acquire(1).await < Duration::from_millis(50));
    }
}
