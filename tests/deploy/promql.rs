//! Metric names: the series src/metrics.rs exports, and the series a PromQL expression reads.
use std::collections::BTreeSet;

use regex::Regex;

/// The series names Sesame exposes, derived from src/metrics.rs: each `registry.register("name",
/// …, m.field.clone())` with the field's type (counters get `_total`, histograms
/// `_bucket`/`_sum`/`_count`, gauges keep the name), plus the families the custom collectors
/// under src/metrics/ describe (`"name", "help", [None,] MetricType::Kind`).
pub fn exported_series() -> BTreeSet<String> {
    let path = crate::tools::repo().join("src/metrics.rs");
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let strukt = src.split("pub struct Metrics {").nth(1).and_then(|s| s.split('}').next()).expect("struct Metrics in src/metrics.rs");
    let field = Regex::new(r"(?m)^\s*(?:pub\s+)?(\w+):\s*(.+?),?\s*$").unwrap();
    let types: Vec<(String, String)> = field.captures_iter(strukt).map(|c| (c[1].to_string(), c[2].to_string())).collect();
    let register = Regex::new(r#"registry\.register\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)",\s*"[^"]*",\s*m\.(\w+)\.clone\(\)"#).unwrap();
    let mut out = BTreeSet::new();
    for c in register.captures_iter(&src) {
        let (name, f) = (&c[1], &c[2]);
        let ty = &types.iter().find(|(n, _)| n == f).unwrap_or_else(|| panic!("no field {f} in struct Metrics")).1;
        if ty.contains("Histogram") {
            for s in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{name}{s}"));
            }
        } else if ty.contains("Counter") {
            out.insert(format!("{name}_total"));
        } else if ty.contains("Gauge") {
            out.insert(name.to_string());
        } else {
            panic!("src/metrics.rs: {name} has a type this test does not know: {ty}");
        }
    }
    let described = Regex::new(r#""([a-zA-Z_:][a-zA-Z0-9_:]*)",\s*"[^"]*",\s*(?:None,\s*)?MetricType::(\w+)"#).unwrap();
    let dir = crate::tools::repo().join("src/metrics");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for c in described.captures_iter(&src) {
            match &c[2] {
                "Counter" => out.insert(format!("{}_total", &c[1])),
                "Gauge" => out.insert(c[1].to_string()),
                other => panic!("src/metrics/: {} has a type this test does not know: {other}", &c[1]),
            };
        }
    }
    assert!(out.len() >= 10, "found too few metrics in src/metrics.rs ({out:?}); did registration change shape?");
    out
}

const KEYWORDS: &[&str] =
    &["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "Inf", "NaN"];

/// The metric names a PromQL expression (possibly with Grafana variables) selects.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut e = expr.to_string();
    for (re, with) in [
        (r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#, "\"\""),                      // string literals
        (r"\{[^}]*\}", " "),                                                     // label matchers
        (r"\[[^\]]*\]", " "),                                                    // ranges and subqueries
        (r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " "), // label lists
        (r"\$\{[^}]*\}|\$\w+", " "),                                             // Grafana variables
        (r"\b\d+(\.\d+)?([eE][+-]?\d+)?[a-z]*\b", " "),                          // numbers and durations
    ] {
        e = Regex::new(re).unwrap().replace_all(&e, with).into_owned();
    }
    let ident = Regex::new(r"[a-zA-Z_:][a-zA-Z0-9_:]*").unwrap();
    let mut out = BTreeSet::new();
    for m in ident.find_iter(&e) {
        let next = e[m.end()..].trim_start().chars().next();
        if next == Some('(') || KEYWORDS.contains(&m.as_str()) {
            continue; // a function or aggregation, or an operator keyword
        }
        out.insert(m.as_str().to_string());
    }
    out
}

#[test]
fn metric_names_are_parsed_out_of_promql() {
    let got = metric_names(
        r#"histogram_quantile(0.99, sum by (le, provider) (rate(sesame_provider_call_duration_seconds_bucket{provider=~"$provider"}[$__rate_interval]))) / 1e9 > bool on(x) group_left(y) other_series offset 5m"#,
    );
    assert_eq!(got, BTreeSet::from(["sesame_provider_call_duration_seconds_bucket".to_string(), "other_series".to_string()]));
    assert_eq!(metric_names(r#"sum(x{a="b(c)"}) without (d) and y"#), BTreeSet::from(["x".into(), "y".into()]));
}
