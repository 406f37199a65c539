//! Reading Prometheus text expositions: sesame's `/metrics` and the kube-apiserver's.
use std::collections::BTreeMap;

/// The labels and value of one sample line, or `None` for comments and blank lines.
pub fn parse_line(line: &str) -> Option<(&str, BTreeMap<&str, &str>, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)),
        None => (series, BTreeMap::new()),
    };
    Some((name, labels, value))
}

fn parse_labels(text: &str) -> BTreeMap<&str, &str> {
    // Label values here never contain `",` (names, verbs, namespaces), so a plain split is enough.
    text.split("\",").filter_map(|pair| pair.split_once("=\"")).map(|(k, v)| (k.trim_start_matches(','), v.trim_end_matches('"'))).collect()
}

/// Sum of every sample of `name` whose labels include all of `with`.
pub fn sum(text: &str, name: &str, with: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(parse_line)
        .filter(|(n, labels, _)| *n == name && with.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .map(|(_, _, v)| v)
        .sum()
}

/// Number of samples of `name` whose labels include all of `with` and whose value is `value`.
pub fn count_equal(text: &str, name: &str, with: &[(&str, &str)], value: f64) -> usize {
    text.lines()
        .filter_map(parse_line)
        .filter(|(n, labels, v)| *n == name && *v == value && with.iter().all(|(k, x)| labels.get(k) == Some(x)))
        .count()
}

/// `apiserver_request_total` by `VERB resource[/subresource]`, summed over codes and scopes.
pub fn apiserver_requests(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (name, labels, value) in text.lines().filter_map(parse_line) {
        if name != "apiserver_request_total" {
            continue;
        }
        let resource = labels.get("resource").copied().unwrap_or("");
        let sub = labels.get("subresource").copied().filter(|s| !s.is_empty());
        let key = match sub {
            Some(sub) => format!("{} {resource}/{sub}", labels.get("verb").copied().unwrap_or("")),
            None => format!("{} {resource}", labels.get("verb").copied().unwrap_or("")),
        };
        *out.entry(key).or_insert(0.0) += value;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE x counter
sesame_store_provider_calls_total{kind="SecretStore",namespace="a",store="s0"} 3
sesame_store_provider_calls_total{kind="SecretStore",namespace="a",store="s1"} 4
sesame_store_provider_calls_total{kind="SecretStore",namespace="b",store="s0"} 100
externalsecret_status_condition{name="e",namespace="a",condition="Ready",status="True"} 1
externalsecret_status_condition{name="e",namespace="a",condition="Ready",status="False"} 0
apiserver_request_total{code="201",component="apiserver",resource="secrets",scope="namespace",subresource="",verb="PATCH",version="v1"} 5
apiserver_request_total{code="409",component="apiserver",resource="secrets",scope="namespace",subresource="",verb="PATCH",version="v1"} 1
apiserver_request_total{code="200",resource="externalsecrets",subresource="status",verb="PATCH"} 7
"#;

    #[test]
    fn sums_only_the_samples_whose_labels_match() {
        assert_eq!(sum(TEXT, "sesame_store_provider_calls_total", &[("namespace", "a")]), 7.0);
        assert_eq!(sum(TEXT, "sesame_store_provider_calls_total", &[]), 107.0);
        assert_eq!(sum(TEXT, "absent", &[]), 0.0);
    }

    #[test]
    fn counts_ready_objects_by_value() {
        assert_eq!(count_equal(TEXT, "externalsecret_status_condition", &[("status", "True")], 1.0), 1);
        assert_eq!(count_equal(TEXT, "externalsecret_status_condition", &[("status", "False")], 1.0), 0);
    }

    #[test]
    fn apiserver_requests_group_by_verb_and_resource_across_codes() {
        let by = apiserver_requests(TEXT);
        assert_eq!(by["PATCH secrets"], 6.0);
        assert_eq!(by["PATCH externalsecrets/status"], 7.0);
    }
}
