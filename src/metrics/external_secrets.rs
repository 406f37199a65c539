//! The per-ExternalSecret series (ESO's names and labels, plus Sesame's staleness and interval),
//! kept as one small record per object and written out at scrape time. As six label-keyed
//! families they cost seven hash entries, each with its own copies of the name and namespace
//! strings (the condition's two with four strings each): over 1 kB per object at 10,000 objects.
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::by_namespace::ByNamespace;

/// One ExternalSecret's series. A series not exported yet (as a label-keyed family would not
/// have it before its first value) is a count of 0 or a NaN, not an `Option`: 48 bytes a record
/// instead of 88, at one record per object.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    sync_calls: u64,
    sync_errors: u64,
    ready: Option<bool>,
    reconcile_ns: f64,
    /// Unix seconds of the last successful sync; staleness is computed from it at scrape time.
    last_success: f64,
    refresh_interval: f64,
}

impl Default for Series {
    fn default() -> Self {
        Series { sync_calls: 0, sync_errors: 0, ready: None, reconcile_ns: f64::NAN, last_success: f64::NAN, refresh_interval: f64::NAN }
    }
}

/// A measurement, if one was recorded.
fn measured(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

impl Series {
    pub fn reconciled(&mut self, took_ns: f64) {
        self.sync_calls = self.sync_calls.saturating_add(1);
        self.reconcile_ns = took_ns;
    }

    pub fn sync_failed(&mut self) {
        self.sync_errors = self.sync_errors.saturating_add(1);
    }

    /// The Ready condition, and the last successful sync (unix seconds) if this one was.
    pub fn status(&mut self, ready: bool, synced_at: Option<f64>) {
        self.ready = Some(ready);
        if let Some(at) = synced_at.filter(|t| !t.is_nan()) {
            self.last_success = at;
        }
    }

    pub fn refresh_interval(&mut self, seconds: f64) {
        self.refresh_interval = seconds;
    }
}

#[derive(Debug)]
pub struct ExternalSecretSeries {
    objects: Mutex<ByNamespace<Series>>,
    /// The scrape's clock (unix seconds); a parameter so tests can fix it.
    now: fn() -> f64,
}

impl std::fmt::Debug for ByNamespace<Series> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ExternalSecrets", self.len())
    }
}

impl ExternalSecretSeries {
    pub fn new(now: fn() -> f64) -> ExternalSecretSeries {
        ExternalSecretSeries { objects: Mutex::default(), now }
    }

    pub fn update(&self, name: &str, namespace: &str, change: impl FnOnce(&mut Series)) {
        self.objects.lock().expect("series lock").update(namespace, name, change, |_| true);
    }

    pub fn remove(&self, name: &str, namespace: &str) {
        self.objects.lock().expect("series lock").remove(namespace, name);
    }
}

type Labels<'a> = [(&'static str, &'a str); 2];

/// One family: its descriptor, then one sample per object that has the series.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    objects: &ByNamespace<Series>,
    (name, help, kind): (&str, &str, MetricType),
    value: impl Fn(&Series) -> Option<M>,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (namespace, object, series) in objects.iter() {
        if let Some(v) = value(series) {
            let labels: Labels = [("name", object), ("namespace", namespace)];
            v.encode(metric.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

impl Collector for ExternalSecretSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let objects = self.objects.lock().expect("series lock");
        let now = (self.now)();
        family(
            &mut encoder,
            &objects,
            ("externalsecret_sync_calls", "Total number of ExternalSecret reconciles.", MetricType::Counter),
            |s| (s.sync_calls > 0).then(|| ConstCounter::new(s.sync_calls)),
        )?;
        family(
            &mut encoder,
            &objects,
            ("externalsecret_sync_calls_error", "Total number of failed ExternalSecret syncs.", MetricType::Gauge),
            |s| (s.sync_errors > 0).then(|| ConstGauge::new(i64::try_from(s.sync_errors).unwrap_or(i64::MAX))),
        )?;
        let mut metric = encoder.encode_descriptor(
            "externalsecret_status_condition",
            "The status condition of an ExternalSecret.",
            None,
            MetricType::Gauge,
        )?;
        for (namespace, object, series) in objects.iter() {
            let Some(ready) = series.ready else { continue };
            for (status, value) in [("True", ready), ("False", !ready)] {
                let labels = [("name", object), ("namespace", namespace), ("condition", "Ready"), ("status", status)];
                ConstGauge::new(i64::from(value)).encode(metric.encode_family(&labels)?)?;
            }
        }
        family(
            &mut encoder,
            &objects,
            (
                "externalsecret_reconcile_duration",
                "Duration of the last reconcile of an ExternalSecret, in nanoseconds (as ESO).",
                MetricType::Gauge,
            ),
            |s| measured(s.reconcile_ns).map(ConstGauge::new),
        )?;
        family(
            &mut encoder,
            &objects,
            (
                "sesame_externalsecret_sync_staleness_seconds",
                "Seconds since the last successful sync of an ExternalSecret.",
                MetricType::Gauge,
            ),
            |s| measured(s.last_success).map(|t| ConstGauge::new((now - t).max(0.0))),
        )?;
        family(
            &mut encoder,
            &objects,
            (
                "sesame_externalsecret_refresh_interval_seconds",
                "How often an ExternalSecret refreshes on its own; 0 when it does not (refreshInterval 0, CreatedOnce, OnChange).",
                MetricType::Gauge,
            ),
            |s| measured(s.refresh_interval).map(ConstGauge::new),
        )
    }
}
