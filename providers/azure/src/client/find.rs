//! `dataFrom.find`: list the vault's secrets page by page (following `nextLink`), keep the
//! enabled ones whose name and tags match, then read each match. As ESO, only secrets are
//! searched (not keys or certificates); `find.path` is a name prefix.
use std::collections::BTreeMap;
use std::time::Instant;

use futures::{StreamExt, stream};
use sesame_provider_core::{DEFAULT_BATCH_CONCURRENCY, FindQuery, FindScope, ProviderError, SecretValue};

use super::{AzureKvClient, PROVIDER, map_error};

pub(crate) async fn find(
    client: &AzureKvClient,
    query: &FindQuery,
    scope: &FindScope<'_>,
) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    let matcher = match query.name.as_ref().filter(|n| !n.regexp.is_empty()) {
        Some(name) => Some(regex::Regex::new(&name.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
        None => None,
    };
    let what = "secrets";
    let mut pages = client.secrets.list_secret_properties(None).map_err(|e| map_error("GetSecrets", what, e))?.into_pages();
    let mut names = Vec::new();
    loop {
        // One page is one call; the end of the stream makes none, so it is not recorded.
        scope.charge(1).await;
        let start = Instant::now();
        let Some(page) = pages.next().await else {
            break;
        };
        let page = page.and_then(|p| p.into_model()).map_err(|e| map_error("GetSecrets", what, e));
        client.ctx.calls.record(PROVIDER, "GetSecrets", page.as_ref().map(|_| ()), start.elapsed());
        for item in page?.value {
            let Some(name) = item.id.as_deref().and_then(|id| id.trim_end_matches('/').rsplit('/').next()) else {
                continue;
            };
            let enabled = item.attributes.as_ref().and_then(|a| a.enabled).unwrap_or(false);
            let tags_match = query.tags.iter().all(|(k, v)| item.tags.as_ref().and_then(|t| t.get(k)).is_some_and(|found| found == v));
            let name_matches = matcher.as_ref().is_none_or(|m| m.is_match(name));
            let path_matches = query.path.as_deref().is_none_or(|p| name.starts_with(p));
            if enabled && tags_match && name_matches && path_matches {
                names.push(name.to_string());
                scope.check_matches(names.len())?;
            }
        }
    }
    scope.charge(names.len()).await;
    let reads: Vec<_> = names.iter().map(|n| client.read_secret(n, None, false)).collect();
    let values: Vec<_> = stream::iter(reads).buffered(DEFAULT_BATCH_CONCURRENCY).collect().await;
    let mut found = BTreeMap::new();
    for (name, value) in names.into_iter().zip(values) {
        match value {
            Ok(v) => {
                scope.check_value(&name, &v)?;
                found.insert(name, v);
            }
            // Deleted or disabled between the listing and the read.
            Err(e) if e.is_not_found() => {}
            Err(ProviderError::Invalid(m)) if m.contains("is disabled") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}
