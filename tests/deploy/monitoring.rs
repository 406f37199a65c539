//! Alerts and dashboard: promtool accepts the rules, Helm and Kustomize ship the same rules, and
//! every PromQL expression reads only series that src/metrics.rs exports.
use std::collections::BTreeSet;

use serde_json::Value;

use crate::promql::{exported_series, metric_names};
use crate::tools::{self, docs, one, repo};

const DASHBOARD: &str = "deploy/kustomize/overlays/monitoring/grafana-dashboard.json";
const HELM_RULES: &str = "deploy/helm/sesame/files/prometheus-rules.yaml";

fn kustomize_rule_spec() -> Value {
    let out = docs(&tools::kustomize("deploy/kustomize/overlays/monitoring"));
    one(&out, "PrometheusRule")["spec"].clone()
}

fn alert_exprs(spec: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in spec["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            let name = r["alert"].as_str().or(r["record"].as_str()).expect("alert or record").to_string();
            out.push((name, r["expr"].as_str().expect("expr").to_string()));
        }
    }
    out
}

#[test]
fn promtool_accepts_the_prometheus_rules() {
    let dir = tools::TempDir::new("rules");
    // The rule groups of the PrometheusRule, as a Prometheus rules file.
    let file = dir.file("sesame-rules.yaml", &serde_json::to_string_pretty(&kustomize_rule_spec()).unwrap());
    let out = tools::ok("promtool", &["check", "rules", &file.to_string_lossy()], None);
    assert!(out.contains("SUCCESS"), "promtool: {out}");
    let out = tools::ok("promtool", &["check", "rules", &repo().join(HELM_RULES).to_string_lossy()], None);
    assert!(out.contains("SUCCESS"), "promtool: {out}");
}

#[test]
fn helm_and_kustomize_ship_the_same_rules() {
    let helm_file = std::fs::read_to_string(repo().join(HELM_RULES)).expect("helm rules file");
    let from_file = &docs(&helm_file)[0];
    let kustomize = kustomize_rule_spec();
    assert_eq!(from_file, &kustomize, "{HELM_RULES} differs from the monitoring overlay's PrometheusRule spec");
    let rendered = docs(&tools::helm_template("sesame", "sesame-system", "v1.33.0", &["--set", "prometheusRule.enabled=true"]));
    assert_eq!(one(&rendered, "PrometheusRule")["spec"], kustomize, "the chart renders other rules");
    let alerts: BTreeSet<String> = alert_exprs(&kustomize).into_iter().map(|(n, _)| n).collect();
    for required in [
        "SesameExternalSecretNotReady",
        "SesameExternalSecretSyncErrors",
        "SesameExternalSecretStale",
        "SesameSecretStoreNotReady",
        "SesameClusterSecretStoreNotReady",
    ] {
        assert!(alerts.contains(required), "missing alert {required}");
    }
}

#[test]
fn alerts_read_only_exported_series() {
    let exported = exported_series();
    for (alert, expr) in alert_exprs(&kustomize_rule_spec()) {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "{alert}: no metric in {expr}");
        for n in names {
            assert!(exported.contains(&n), "{alert} reads {n}, which Sesame does not export (exported: {exported:?})");
        }
    }
}

/// Every PromQL string in the dashboard: panel target `expr`s and variable queries.
fn dashboard_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match (k.as_str(), val) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    ("query" | "definition", Value::String(s)) if s.contains('(') => out.push(s.clone()),
                    _ => dashboard_queries(val, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| dashboard_queries(i, out)),
        _ => {}
    }
}

#[test]
fn dashboard_reads_only_exported_series() {
    let text = std::fs::read_to_string(repo().join(DASHBOARD)).expect("dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "sesame-overview");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 15, "only {} queries found", queries.len());
    let exported = exported_series();
    let mut used = BTreeSet::new();
    // label_values(metric, label) is Grafana's, not PromQL: its first argument is a series.
    let label_values = regex::Regex::new(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)").unwrap();
    for q in &queries {
        let promql = label_values.replace_all(q, "$1");
        let names = metric_names(&promql);
        assert!(!names.is_empty(), "no metric in dashboard query {q}");
        for n in names {
            assert!(exported.contains(&n), "the dashboard reads {n}, which Sesame does not export:\n{q}\nexported: {exported:?}");
            used.insert(n);
        }
    }
    // What the dashboard is for: sync rate and errors, readiness, staleness, provider calls and
    // latency, reconcile duration, stores.
    for needed in [
        "externalsecret_sync_calls_total",
        "externalsecret_sync_calls_error",
        "externalsecret_status_condition",
        "sesame_externalsecret_sync_staleness_seconds",
        "externalsecret_provider_api_calls_count",
        "sesame_provider_call_duration_seconds_bucket",
        "externalsecret_reconcile_duration_seconds_bucket",
        "secretstore_status_condition",
        "clustersecretstore_status_condition",
        "sesame_store_provider_calls_total",
        "sesame_store_throttled_total",
        "sesame_store_call_rate_limit",
        "sesame_store_provider_call_duration_seconds_bucket",
        "sesame_store_queue_wait_seconds_bucket",
    ] {
        assert!(used.contains(needed), "the dashboard does not show {needed}");
    }
}
