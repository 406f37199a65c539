//! The kube-apiserver's own request counters (`apiserver_request_total`), read from its /metrics
//! as cluster admin. They count every client: other work on a shared apiserver shows up too.
use std::collections::BTreeMap;

use kube::Client;

pub async fn requests(client: &Client) -> anyhow::Result<BTreeMap<String, f64>> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(req).await?;
    Ok(crate::prom::apiserver_requests(&text))
}

/// Requests between two readings, only those that changed, for the resources sesame touches.
pub fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
    const RESOURCES: [&str; 6] = ["externalsecrets", "secretstores", "secrets", "events", "configmaps", "leases"];
    after
        .iter()
        .filter(|(k, _)| k.split_whitespace().nth(1).is_some_and(|r| RESOURCES.iter().any(|x| r.split('/').next() == Some(*x))))
        .map(|(k, v)| (k.clone(), (v - before.get(k).copied().unwrap_or(0.0)).max(0.0) as u64))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delta_keeps_sesames_resources_that_moved() {
        let before = BTreeMap::from([("PATCH secrets".to_string(), 5.0), ("GET pods".to_string(), 1.0)]);
        let after = BTreeMap::from([
            ("PATCH secrets".to_string(), 5.0),
            ("PATCH externalsecrets/status".to_string(), 10.0),
            ("GET pods".to_string(), 9.0),
        ]);
        assert_eq!(delta(&before, &after), BTreeMap::from([("PATCH externalsecrets/status".to_string(), 10)]));
    }
}
