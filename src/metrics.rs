//! Prometheus metrics with ESO's series names and labels, plus Sesame's own.
//!
//! ESO's `externalsecret_sync_calls_error` and `externalsecret_provider_api_calls_count` are Go
//! counters without a `_total` suffix. OpenMetrics would expose a counter only as `<name>_total`,
//! which would break every existing dashboard and alert, so both are exported as monotonically
//! increasing gauges under their exact ESO names (`rate()` works the same on them).
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sesame_provider_core::{CallRecorder, ProviderError};

mod external_secrets;
use external_secrets::ExternalSecretSeries;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub name: String,
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub name: String,
    pub namespace: String,
    pub condition: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub provider: String,
    pub call: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub provider: String,
    pub call: String,
}

/// One store, for the per-store budget series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub kind: String,
    pub namespace: String,
    pub store: String,
}

/// One write call through a store, for the per-store write counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub kind: String,
    pub namespace: String,
    pub store: String,
    /// `push`, `delete` or `exists`.
    pub call: String,
    /// `success` or `error`.
    pub status: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    pub registry: Registry,
    /// Every per-ExternalSecret series, one record per object (external_secrets.rs).
    external_secrets: Arc<ExternalSecretSeries>,
    reconcile_seconds: Histogram,
    provider_calls: Family<CallLabels, Gauge>,
    provider_latency: Family<LatencyLabels, Histogram>,
    store_condition: Family<ConditionLabels, Gauge>,
    cluster_store_condition: Family<ConditionLabels, Gauge>,
    ces_condition: Family<ConditionLabels, Gauge>,
    ces_reconcile_ns: Family<ObjectLabels, FloatGauge>,
    ps_condition: Family<ConditionLabels, Gauge>,
    ps_reconcile_ns: Family<ObjectLabels, FloatGauge>,
    cps_condition: Family<ConditionLabels, Gauge>,
    cps_reconcile_ns: Family<ObjectLabels, FloatGauge>,
    store_writes: Family<WriteLabels, Counter>,
    store_calls: Family<StoreLabels, Counter>,
    store_throttles: Family<StoreLabels, Counter>,
    store_rate: Family<StoreLabels, Gauge>,
    store_queue_wait: Family<StoreLabels, Histogram>,
    store_call_latency: Family<StoreLabels, Histogram>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 12))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            external_secrets: Arc::new(ExternalSecretSeries::new(unix_now)),
            reconcile_seconds: latency_histogram(),
            provider_calls: Family::default(),
            provider_latency: Family::new_with_constructor(latency_histogram),
            store_condition: Family::default(),
            cluster_store_condition: Family::default(),
            ces_condition: Family::default(),
            ces_reconcile_ns: Family::default(),
            ps_condition: Family::default(),
            ps_reconcile_ns: Family::default(),
            cps_condition: Family::default(),
            cps_reconcile_ns: Family::default(),
            store_writes: Family::default(),
            store_calls: Family::default(),
            store_throttles: Family::default(),
            store_rate: Family::default(),
            store_queue_wait: Family::new_with_constructor(latency_histogram),
            store_call_latency: Family::new_with_constructor(latency_histogram),
            registry: Registry::default(),
        };
        registry.register_collector(Box::new(m.external_secrets.clone()));
        registry.register(
            "clusterexternalsecret_status_condition",
            "The status condition of a ClusterExternalSecret",
            m.ces_condition.clone(),
        );
        registry.register(
            "clusterexternalsecret_reconcile_duration",
            "Duration of the last reconcile of a ClusterExternalSecret, in nanoseconds (as ESO)",
            m.ces_reconcile_ns.clone(),
        );
        registry.register("pushsecret_status_condition", "The status condition of a PushSecret", m.ps_condition.clone());
        registry.register(
            "pushsecret_reconcile_duration",
            "Duration of the last reconcile of a PushSecret, in nanoseconds (as ESO)",
            m.ps_reconcile_ns.clone(),
        );
        registry.register("clusterpushsecret_status_condition", "The status condition of a ClusterPushSecret", m.cps_condition.clone());
        registry.register(
            "clusterpushsecret_reconcile_duration",
            "Duration of the last reconcile of a ClusterPushSecret, in nanoseconds (as ESO)",
            m.cps_reconcile_ns.clone(),
        );
        registry.register(
            "sesame_store_push_calls",
            "Writes (push, delete, exists) a PushSecret made through a store, by outcome",
            m.store_writes.clone(),
        );
        registry.register("externalsecret_reconcile_duration_seconds", "ExternalSecret reconcile duration", m.reconcile_seconds.clone());
        registry.register("externalsecret_provider_api_calls_count", "Number of API calls made to a provider", m.provider_calls.clone());
        registry.register("sesame_provider_call_duration_seconds", "Latency of provider API calls", m.provider_latency.clone());
        registry.register("secretstore_status_condition", "The status condition of a SecretStore", m.store_condition.clone());
        registry.register(
            "clustersecretstore_status_condition",
            "The status condition of a ClusterSecretStore",
            m.cluster_store_condition.clone(),
        );
        registry.register("sesame_store_provider_calls", "Remote provider calls charged to a store's budget", m.store_calls.clone());
        registry.register("sesame_store_throttled", "Batches a provider throttled, per store", m.store_throttles.clone());
        registry.register(
            "sesame_store_call_rate_limit",
            "Provider calls per second a store's budget allows now (its ceiling, or less while the provider throttles)",
            m.store_rate.clone(),
        );
        registry.register("sesame_store_queue_wait_seconds", "Time reads waited for a store's budget", m.store_queue_wait.clone());
        registry.register(
            "sesame_store_provider_call_duration_seconds",
            "Latency of provider API calls, per store",
            m.store_call_latency.clone(),
        );
        Metrics { registry, ..m }
    }
}

fn labels(name: &str, namespace: &str) -> ObjectLabels {
    ObjectLabels { name: name.to_string(), namespace: namespace.to_string() }
}

fn set_condition(family: &Family<ConditionLabels, Gauge>, name: &str, namespace: &str, ready: bool) {
    for (status, value) in [("True", ready), ("False", !ready)] {
        let l = ConditionLabels { name: name.into(), namespace: namespace.into(), condition: "Ready".into(), status: status.into() };
        family.get_or_create(&l).set(value as i64);
    }
}

fn remove_condition(family: &Family<ConditionLabels, Gauge>, name: &str, namespace: &str) {
    for status in ["True", "False"] {
        family.remove(&ConditionLabels {
            name: name.into(),
            namespace: namespace.into(),
            condition: "Ready".into(),
            status: status.into(),
        });
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Metrics {
    pub fn reconciled(&self, name: &str, namespace: &str, took: Duration) {
        self.external_secrets.update(name, namespace, |s| s.reconciled(took.as_nanos() as f64));
        self.reconcile_seconds.observe(took.as_secs_f64());
    }

    pub fn sync_failed(&self, name: &str, namespace: &str) {
        self.external_secrets.update(name, namespace, |s| s.sync_failed());
    }

    /// Record the Ready condition; `synced_at` is the last successful sync (unix seconds).
    pub fn es_status(&self, name: &str, namespace: &str, ready: bool, synced_at: Option<f64>) {
        self.external_secrets.update(name, namespace, |s| s.status(ready, synced_at));
    }

    /// The object's own refresh interval (None: it does not refresh periodically), so alerts can
    /// compare each object's staleness with its own interval.
    pub fn es_refresh_interval(&self, name: &str, namespace: &str, interval: Option<Duration>) {
        let seconds = interval.map_or(0.0, |i| i.as_secs_f64());
        self.external_secrets.update(name, namespace, |s| s.refresh_interval(seconds));
    }

    /// Forget an ExternalSecret that was deleted.
    pub fn es_deleted(&self, name: &str, namespace: &str) {
        self.external_secrets.remove(name, namespace);
    }

    pub fn store_status(&self, cluster: bool, name: &str, namespace: &str, ready: bool) {
        let family = if cluster { &self.cluster_store_condition } else { &self.store_condition };
        set_condition(family, name, namespace, ready);
    }

    /// A ClusterExternalSecret's Ready condition and how long its last reconcile took.
    pub fn ces_reconciled(&self, name: &str, ready: bool, took: std::time::Duration) {
        set_condition(&self.ces_condition, name, "", ready);
        self.ces_reconcile_ns.get_or_create(&labels(name, "")).set(took.as_nanos() as f64);
    }

    pub fn ces_deleted(&self, name: &str) {
        remove_condition(&self.ces_condition, name, "");
        self.ces_reconcile_ns.remove(&labels(name, ""));
    }

    /// A PushSecret's Ready condition (None: not decided, e.g. waiting for a store) and how long
    /// its last reconcile took.
    pub fn ps_reconciled(&self, name: &str, namespace: &str, ready: Option<bool>, took: Duration) {
        if let Some(ready) = ready {
            set_condition(&self.ps_condition, name, namespace, ready);
        }
        self.ps_reconcile_ns.get_or_create(&labels(name, namespace)).set(took.as_nanos() as f64);
    }

    pub fn ps_deleted(&self, name: &str, namespace: &str) {
        remove_condition(&self.ps_condition, name, namespace);
        self.ps_reconcile_ns.remove(&labels(name, namespace));
    }

    /// A ClusterPushSecret's Ready condition and how long its last reconcile took.
    pub fn cps_reconciled(&self, name: &str, ready: bool, took: Duration) {
        set_condition(&self.cps_condition, name, "", ready);
        self.cps_reconcile_ns.get_or_create(&labels(name, "")).set(took.as_nanos() as f64);
    }

    pub fn cps_deleted(&self, name: &str) {
        remove_condition(&self.cps_condition, name, "");
        self.cps_reconcile_ns.remove(&labels(name, ""));
    }

    /// One write call a PushSecret made through a store.
    pub fn store_write(&self, store: &StoreLabels, call: &str, ok: bool) {
        let l = WriteLabels {
            kind: store.kind.clone(),
            namespace: store.namespace.clone(),
            store: store.store.clone(),
            call: call.into(),
            status: if ok { "success" } else { "error" }.into(),
        };
        self.store_writes.get_or_create(&l).inc();
    }

    pub fn store_deleted(&self, cluster: bool, name: &str, namespace: &str) {
        let family = if cluster { &self.cluster_store_condition } else { &self.store_condition };
        remove_condition(family, name, namespace);
    }

    /// One batch went out for a store.
    /// The rate a store's budget runs at now.
    pub fn store_rate(&self, store: &StoreLabels, qps: u32) {
        self.store_rate.get_or_create(store).set(i64::from(qps));
    }

    pub fn store_batch(&self, store: &StoreLabels, calls: u64, throttled: bool, waited: Duration) {
        self.store_calls.get_or_create(store).inc_by(calls);
        if throttled {
            self.store_throttles.get_or_create(store).inc();
        }
        self.store_queue_wait.get_or_create(store).observe(waited.as_secs_f64());
    }

    /// The exposition, with staleness computed at scrape time.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("encoding to a String");
        to_prometheus_text(&out)
    }
}

/// OpenMetrics names a counter family without `_total` and its samples with it; the Prometheus
/// text format (what `promtool check metrics` and every Prometheus version read) names both with
/// it. Rewrite the counter families' HELP/TYPE lines so either reader sees one consistent name.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len() + counters.len() * 12);
    for line in openmetrics.lines() {
        let meta = line.strip_prefix("# HELP ").map(|r| ("# HELP ", r)).or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    out.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None if line == "# EOF" => continue,
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// One store's provider calls: the process-wide series plus the store's own latency.
pub struct StoreCalls {
    pub metrics: Arc<Metrics>,
    pub store: StoreLabels,
}

impl CallRecorder for StoreCalls {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, elapsed: Duration) {
        self.metrics.record(provider, call, outcome, elapsed);
        self.metrics.store_call_latency.get_or_create(&self.store).observe(elapsed.as_secs_f64());
    }
}

impl CallRecorder for Metrics {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, elapsed: Duration) {
        let status = if outcome.is_ok() { "success" } else { "error" };
        self.provider_calls.get_or_create(&CallLabels { provider: provider.into(), call: call.into(), status: status.into() }).inc();
        self.provider_latency.get_or_create(&LatencyLabels { provider: provider.into(), call: call.into() }).observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_esos_series_under_their_exact_names() {
        let m = Metrics::default();
        m.reconciled("db", "team-a", Duration::from_millis(5));
        m.sync_failed("db", "team-a");
        m.es_status("db", "team-a", true, Some(unix_now() - 10.0));
        m.record("AWS/SecretsManager", "GetSecretValue", Ok(()), Duration::from_millis(3));
        let text = m.encode();
        for series in [
            r#"externalsecret_sync_calls_total{name="db",namespace="team-a"} 1"#,
            r#"externalsecret_sync_calls_error{name="db",namespace="team-a"} 1"#,
            r#"externalsecret_status_condition{name="db",namespace="team-a",condition="Ready",status="True"} 1"#,
            r#"externalsecret_status_condition{name="db",namespace="team-a",condition="Ready",status="False"} 0"#,
            r#"externalsecret_provider_api_calls_count{provider="AWS/SecretsManager",call="GetSecretValue",status="success"} 1"#,
            "externalsecret_reconcile_duration_seconds_bucket",
            "sesame_provider_call_duration_seconds_bucket",
        ] {
            assert!(text.contains(series), "missing {series} in\n{text}");
        }
        assert!(text.contains("sesame_externalsecret_sync_staleness_seconds{name=\"db\",namespace=\"team-a\"} 1"));
    }

    #[test]
    fn a_deleted_object_leaves_no_series() {
        let m = Metrics::default();
        m.reconciled("gone", "ns", Duration::from_millis(1));
        m.es_status("gone", "ns", false, Some(1.0));
        m.es_refresh_interval("gone", "ns", Some(Duration::from_secs(60)));
        m.es_deleted("gone", "ns");
        assert!(!m.encode().contains("name=\"gone\""));
    }

    #[test]
    fn an_object_exports_only_the_series_it_has_a_value_for_and_its_record_stays_small() {
        let m = Metrics::default();
        m.es_refresh_interval("new", "ns", Some(Duration::from_secs(60)));
        let text = m.encode();
        for absent in ["sync_calls_total", "sync_calls_error", "reconcile_duration", "staleness_seconds", "status_condition"] {
            assert!(!text.lines().any(|l| l.contains(absent) && l.contains(r#"name="new""#)), "{absent} before any value:\n{text}");
        }
        m.es_status("new", "ns", false, None);
        assert!(!m.encode().contains(r#"staleness_seconds{name="new""#), "no successful sync yet");
        m.sync_failed("new", "ns");
        assert!(m.encode().contains(r#"externalsecret_sync_calls_error{name="new",namespace="ns"} 1"#));
        // One record per ExternalSecret: absent values are 0 or NaN, not options.
        assert!(std::mem::size_of::<external_secrets::Series>() <= 48);
    }

    #[test]
    fn each_object_exports_its_own_refresh_interval_and_zero_when_it_never_refreshes() {
        let m = Metrics::default();
        m.es_refresh_interval("hourly", "ns", Some(Duration::from_secs(3600)));
        m.es_refresh_interval("once", "ns", None);
        let text = m.encode();
        assert!(text.contains(r#"sesame_externalsecret_refresh_interval_seconds{name="hourly",namespace="ns"} 3600"#), "{text}");
        assert!(text.contains(r#"sesame_externalsecret_refresh_interval_seconds{name="once",namespace="ns"} 0"#), "{text}");
    }

    #[test]
    fn a_stores_calls_count_for_the_provider_and_time_the_store() {
        let m = Arc::new(Metrics::default());
        let store = StoreLabels { kind: "SecretStore".into(), namespace: "team-a".into(), store: "aws".into() };
        let calls = StoreCalls { metrics: m.clone(), store };
        calls.record("AWS/SecretsManager", "BatchGetSecretValue", Ok(()), Duration::from_millis(7));
        let text = m.encode();
        assert!(
            text.contains(
                r#"externalsecret_provider_api_calls_count{provider="AWS/SecretsManager",call="BatchGetSecretValue",status="success"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"sesame_store_provider_call_duration_seconds_count{kind="SecretStore",namespace="team-a",store="aws"} 1"#),
            "{text}"
        );
    }
}
