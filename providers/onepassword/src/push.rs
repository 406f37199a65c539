//! PushSecret as ESO 2.9's onepassword provider does it: the value goes into the field labelled
//! `property` (default `password`) of the item titled `remoteKey`; a missing item is created as a
//! SERVER item with one concealed field in the metadata's vault (or the store's first), with the
//! metadata's tags. Connect applies writes asynchronously, so each write waits until a read shows it.
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use sesame_provider_core::push::metadata_spec;
use sesame_provider_core::{ProviderError, PushRef};

use crate::client::{DEFAULT_FIELD, OnePasswordClient};
use crate::connect::{Field, Item, VaultRef};

/// How long a write may take to show in reads, and how often it is checked.
const SETTLE_TRIES: u32 = 10;
const SETTLE_EVERY: Duration = Duration::from_millis(500);

/// ESO's `PushSecretMetadata` spec for 1Password.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    vault: Option<String>,
}

fn label(remote: &PushRef) -> &str {
    remote.property.as_deref().filter(|p| !p.is_empty()).unwrap_or(DEFAULT_FIELD)
}

pub(crate) async fn push(client: &OnePasswordClient, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
    let value = std::str::from_utf8(value)
        .map_err(|_| ProviderError::Invalid(format!("item {}: 1Password fields hold text, and the value is not UTF-8", remote.key)))?;
    let metadata: Metadata = metadata_spec(remote.metadata.as_ref(), &remote.key)?.unwrap_or_default();
    let label = label(remote);
    match client.find_item(&remote.key).await {
        Err(e) if e.is_not_found() => {
            create(client, remote, label, value, metadata).await?;
            settle(client, &remote.key, label, value).await
        }
        Err(e) => Err(e),
        Ok(mut item) => {
            let mut changed = false;
            if let Some(tags) = metadata.tags.filter(|t| *t != item.tags) {
                item.tags = tags;
                changed = true;
            }
            let mut matching = item.fields.iter_mut().filter(|f| f.label == label);
            match (matching.next(), matching.next()) {
                (Some(_), Some(_)) => {
                    return Err(ProviderError::Invalid(format!("item {}: more than one field is labelled {label:?}", remote.key)));
                }
                (Some(field), None) if field.value == value => {}
                (Some(field), None) => {
                    field.value = value.to_string();
                    changed = true;
                }
                (None, _) => {
                    item.fields.push(concealed(label, value));
                    changed = true;
                }
            }
            if !changed {
                return Ok(());
            }
            client.connect.update_item(&item).await?;
            settle(client, &remote.key, label, value).await
        }
    }
}

async fn create(client: &OnePasswordClient, remote: &PushRef, label: &str, value: &str, metadata: Metadata) -> Result<(), ProviderError> {
    let vault = match metadata.vault {
        Some(v) if !client.vaults.contains(&v) => {
            return Err(ProviderError::Invalid(format!("metadata vault {v:?} is not one of the store's vaults")));
        }
        Some(v) => v,
        None => client.vaults.first().cloned().ok_or_else(|| ProviderError::Invalid("the store names no vault".into()))?,
    };
    let vault_id = client.vault_id(&vault).await?;
    let item = Item {
        title: remote.key.clone(),
        category: "SERVER".into(),
        vault: VaultRef { id: vault_id.clone() },
        tags: metadata.tags.unwrap_or_default(),
        fields: vec![concealed(label, value)],
        ..Item::default()
    };
    client.connect.create_item(&vault_id, &item).await
}

fn concealed(label: &str, value: &str) -> Field {
    let mut rest = Map::new();
    rest.insert("type".into(), Value::String("CONCEALED".into()));
    Field { label: label.to_string(), value: value.to_string(), rest }
}

/// Wait until a read of the item shows `label` = `value`.
async fn settle(client: &OnePasswordClient, key: &str, label: &str, value: &str) -> Result<(), ProviderError> {
    for attempt in 0..SETTLE_TRIES {
        if attempt > 0 {
            tokio::time::sleep(SETTLE_EVERY).await;
        }
        match client.find_item(key).await {
            Ok(item) if item.fields.iter().any(|f| f.label == label && f.value == value) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Err(ProviderError::Transient(format!("item {key}: the write did not show in reads after {SETTLE_TRIES} tries")))
}

/// Remove the pushed field; the item goes when nothing is left in it. An item already gone is
/// not an error. Without a property the `password` field is removed (the field a push without one
/// wrote).
pub(crate) async fn delete(client: &OnePasswordClient, remote: &PushRef) -> Result<(), ProviderError> {
    let mut item = match client.find_item(&remote.key).await {
        Err(e) if e.is_not_found() => return Ok(()),
        other => other?,
    };
    let label = label(remote);
    let before = item.fields.len();
    item.fields.retain(|f| f.label != label);
    match before - item.fields.len() {
        0 => return Ok(()),
        1 => {}
        _ => return Err(ProviderError::Invalid(format!("item {}: more than one field is labelled {label:?}", remote.key))),
    }
    // Connect reports an item without sections as one empty section.
    if let [only] = item.sections.as_slice()
        && only.get("id").and_then(Value::as_str).unwrap_or_default().is_empty()
        && only.get("label").and_then(Value::as_str).unwrap_or_default().is_empty()
    {
        item.sections.clear();
    }
    if item.fields.is_empty() && item.files.is_empty() && item.sections.is_empty() {
        client.connect.delete_item(&item).await
    } else {
        client.connect.update_item(&item).await
    }
}

/// `updatePolicy: IfNotExists`: the item exists, and has the field when a property is named.
pub(crate) async fn exists(client: &OnePasswordClient, remote: &PushRef) -> Result<bool, ProviderError> {
    let item = match client.find_item(&remote.key).await {
        Err(e) if e.is_not_found() => return Ok(false),
        other => other?,
    };
    Ok(match remote.property.as_deref().filter(|p| !p.is_empty()) {
        None => true,
        Some(p) => item.fields.iter().any(|f| f.label == p),
    })
}
