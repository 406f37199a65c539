//! `dataFrom.find`: ListSecrets with a server-side filter, then one read per match.
//!
//! ESO's filters: `name:{path}` for a path, `labels.{k}={v}` per tag (implicitly ANDed). The
//! path is also checked as a prefix client-side (the filter only says "contains"), and
//! `name.regexp` is matched client-side against the secret id.
use std::collections::BTreeMap;

use sesame_provider_core::{FindQuery, FindScope, ProviderError, RemoteKey, SecretProvider, SecretValue};

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

pub(crate) async fn find(
    client: &GcpClient,
    query: &FindQuery,
    scope: &FindScope<'_>,
) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    if query.name.is_none() && query.tags.is_empty() {
        return Err(ProviderError::Invalid("find needs name or tags".into()));
    }
    let matcher = match &query.name {
        Some(n) => Some(regex::Regex::new(&n.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
        None => None,
    };
    let parent = client.parent().to_string();
    let filter = filter(query);
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let request = client.sm().list_secrets().set_parent(&parent).set_filter(&filter).set_page_token(&token);
        scope.charge(1).await;
        let page =
            client.ctx().timed(PROVIDER_NAME, "ListSecrets", async { request.send().await.map_err(|e| classify(&e, &parent)) }).await?;
        for s in page.secrets {
            let id = GcpClient::secret_id(&s.name).to_string();
            if query.path.as_deref().is_some_and(|p| !id.starts_with(p)) || matcher.as_ref().is_some_and(|m| !m.is_match(&id)) {
                continue;
            }
            ids.push(id);
            scope.check_matches(ids.len())?;
        }
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    scope.charge(ids.len()).await;
    let mut out = BTreeMap::new();
    for id in ids {
        let value = client.get_secret(&RemoteKey::new(id.clone())).await?;
        scope.check_value(&id, &value)?;
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
