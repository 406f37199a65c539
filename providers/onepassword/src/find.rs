//! `dataFrom.find` as ESO's onepassword provider runs it: the fields of the items of each vault,
//! by priority (a label already found in an earlier item or vault is kept), filtered by item
//! title (`path`, exact), field label (`name.regexp`) and item tags. With tags, ESO searches only
//! the first vault, and only the tag names count (their values are ignored); Sesame does the same.
//! Connect lists items without their files, so a find returns fields only, as ESO's does.
use std::collections::BTreeMap;

use regex::Regex;
use sesame_provider_core::{FindQuery, FindScope, ProviderError, SecretValue};

use crate::client::OnePasswordClient;
use crate::connect::Item;

pub(crate) async fn find(
    client: &OnePasswordClient,
    query: &FindQuery,
    scope: &FindScope<'_>,
) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    let matcher = match &query.name {
        Some(n) => Some(Regex::new(&n.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
        None => None,
    };
    let mut out = BTreeMap::new();
    let mut items_read = 0;
    for vault in &client.vaults {
        scope.charge(1).await;
        let vault_id = client.vault_id(vault).await?;
        scope.charge(1).await;
        let listed = client.connect.items(&vault_id).await?;
        for summary in listed {
            let wanted = if query.tags.is_empty() {
                query.path.as_deref().is_none_or(|p| p == summary.title)
            } else {
                query.tags.keys().all(|t| summary.tags.contains(t))
            };
            if !wanted {
                continue;
            }
            items_read += 1;
            scope.check_matches(items_read)?;
            scope.charge(1).await;
            let item = client.connect.item(&summary.vault.id, &summary.id).await?;
            add_fields(&item, matcher.as_ref(), scope, &mut out)?;
        }
        if !query.tags.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// The item's fields whose label matches, unless an earlier item gave that label already. A
/// label twice in one item is refused, as ESO refuses it.
fn add_fields(
    item: &Item,
    matcher: Option<&Regex>,
    scope: &FindScope<'_>,
    out: &mut BTreeMap<String, SecretValue>,
) -> Result<(), ProviderError> {
    for field in &item.fields {
        let count = item.fields.iter().filter(|f| f.label == field.label).count();
        if count != 1 {
            return Err(ProviderError::Invalid(format!(
                "expected one field labelled {:?} in item {:?}, got {count}",
                field.label, item.title
            )));
        }
        if matcher.is_some_and(|m| !m.is_match(&field.label)) || out.contains_key(&field.label) {
            continue;
        }
        let value = SecretValue::from(field.value.as_str());
        scope.check_matches(out.len() + 1)?;
        scope.check_value(&field.label, &value)?;
        out.insert(field.label.clone(), value);
    }
    Ok(())
}
