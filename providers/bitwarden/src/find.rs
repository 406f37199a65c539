//! `dataFrom.find`: the organization's secrets, keyed by secret id as in ESO (Bitwarden allows
//! two secrets with one name, so names could collide in the Secret). ESO 2.9 ignores the
//! selector and returns every secret (its issue #6550); Sesame honours `name.regexp` against the
//! secret names, as ESO's fix does, and refuses `tags` and `path`, which Bitwarden has no
//! notion of. Values are read in batches through `/secrets-by-ids`.
use std::collections::BTreeMap;

use regex::Regex;
use sesame_provider_core::{FindQuery, FindScope, ProviderError, SecretValue};

use crate::client::BitwardenClient;

/// Ids per `/secrets-by-ids` call: one login on the sdk-server reads this many.
pub(crate) const BATCH: usize = 100;

pub(crate) async fn find(
    client: &BitwardenClient,
    query: &FindQuery,
    scope: &FindScope<'_>,
) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    if !query.tags.is_empty() {
        return Err(ProviderError::Invalid("Bitwarden Secrets Manager secrets have no tags: find.tags is not supported".into()));
    }
    if query.path.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(ProviderError::Invalid("Bitwarden Secrets Manager secrets have no paths: find.path is not supported".into()));
    }
    let matcher = match query.name.as_ref().filter(|n| !n.regexp.is_empty()) {
        Some(n) => Some(Regex::new(&n.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
        None => None,
    };
    scope.charge(1).await;
    let listed = client.sdk.list(&client.organization_id).await?;
    let mut ids: Vec<&str> = Vec::new();
    for entry in listed.iter().filter(|e| matcher.as_ref().is_none_or(|m| m.is_match(&e.key))) {
        ids.push(&entry.id);
        scope.check_matches(ids.len())?;
    }
    let mut out = BTreeMap::new();
    for batch in ids.chunks(BATCH) {
        scope.charge(1).await;
        for secret in client.sdk.get_by_ids(batch).await? {
            // Only what was asked for: an answer never adds keys of its own.
            if !batch.contains(&secret.id.as_str()) {
                continue;
            }
            let value = SecretValue::from(secret.value);
            scope.check_value(&secret.id, &value)?;
            out.insert(secret.id, value);
        }
    }
    Ok(out)
}
