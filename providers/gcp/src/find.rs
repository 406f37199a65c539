//! `dataFrom.find`: ListSecrets with a server-side filter, then one read per match.
//!
//! ESO's filters: `name:{path}` for a path, `labels.{k}={v}` per tag (implicitly ANDed). The
//! path is also checked as a prefix client-side (the filter only says "contains"), and
//! `name.regexp` is matched client-side against the secret id.
use std::collections::BTreeMap;

use google_cloud_gax::paginator::ItemPaginator as _;
use sesame_provider_core::{FindQuery, ProviderError, RemoteKey, SecretProvider, SecretValue};

use crate::client::{GcpClient, PROVIDER_NAME};
use crate::errors::classify;

/// The ListSecrets filter ESO sends for a query.
pub(crate) fn filter(query: &FindQuery) -> String {
    let mut terms: Vec<String> = query.tags.iter().map(|(k, v)| format!("labels.{k}={v}")).collect();
    if let Some(path) = query.path.as_deref().filter(|p| !p.is_empty()) {
        terms.push(format!("name:{path}"));
    }
    terms.join(" ")
}

pub(crate) async fn find(client: &GcpClient, query: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    if query.name.is_none() && query.tags.is_empty() {
        return Err(ProviderError::Invalid("find needs name or tags".into()));
    }
    let matcher = match &query.name {
        Some(n) => Some(regex::Regex::new(&n.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
        None => None,
    };
    let parent = client.parent().to_string();
    let filter = filter(query);
    let ids = client
        .ctx()
        .timed(PROVIDER_NAME, "ListSecrets", async {
            let mut items = client.sm().list_secrets().set_parent(&parent).set_filter(&filter).by_item();
            let mut ids = Vec::new();
            while let Some(s) = items.next().await {
                let s = s.map_err(|e| classify(&e, &parent))?;
                ids.push(GcpClient::secret_id(&s.name).to_string());
            }
            Ok(ids)
        })
        .await?;
    let mut out = BTreeMap::new();
    for id in ids {
        if query.path.as_deref().is_some_and(|p| !id.starts_with(p)) {
            continue;
        }
        if matcher.as_ref().is_some_and(|m| !m.is_match(&id)) {
            continue;
        }
        let value = client.get_secret(&RemoteKey::new(id.clone())).await?;
        out.insert(id, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_ands_labels_and_the_path() {
        let q = FindQuery {
            path: Some("db-".into()),
            tags: [("env".to_string(), "prod".to_string()), ("team".to_string(), "a".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(filter(&q), "labels.env=prod labels.team=a name:db-");
        assert_eq!(filter(&FindQuery::default()), "");
    }
}
