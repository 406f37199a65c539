//! PushSecret on KV v2, with ESO's rules: a secret Sesame writes carries the custom metadata
//! `managed-by: external-secrets`, and a secret without it is never overwritten or deleted; a
//! property merges into the secret's map, a whole value must be a JSON object (the secret's map).
use std::collections::HashMap;

use serde_json::{Map, Value};
use sesame_provider_core::{ProviderError, PushRef};

use crate::VaultKvVersion;
use crate::client::VaultStoreClient;
use crate::kv::KvPath;

const MANAGED_BY: &str = "managed-by";
const MANAGED_BY_VALUE: &str = "external-secrets";

/// The secret as it is now: its map and whether Sesame (or ESO) manages it; None when absent.
async fn current(client: &VaultStoreClient, kv: &KvPath) -> Result<Option<(Map<String, Value>, bool)>, ProviderError> {
    let (mount, path) = (kv.mount.as_str(), kv.path.as_str());
    let what = format!("read metadata {}", kv.metadata_path());
    let meta = match client.call("ReadSecretMetadata", &what, |s| async move { vaultrs::kv2::read_metadata(&*s, mount, path).await }).await
    {
        Ok(meta) => meta,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let managed = meta.custom_metadata.as_ref().and_then(|m| m.get(MANAGED_BY)).map(String::as_str) == Some(MANAGED_BY_VALUE);
    let what = format!("read {}", kv.data_path(VaultKvVersion::V2));
    let data: Value = match client.call("ReadSecretData", &what, |s| async move { vaultrs::kv2::read(&*s, mount, path).await }).await {
        Ok(data) => data,
        // Metadata without a live version (deleted): an empty map, still owned as marked.
        Err(e) if e.is_not_found() => Value::Object(Map::new()),
        Err(e) => return Err(e),
    };
    Ok(Some((data.as_object().cloned().unwrap_or_default(), managed)))
}

fn kv_path(client: &VaultStoreClient, remote: &PushRef) -> Result<KvPath, ProviderError> {
    if client.version != VaultKvVersion::V2 {
        return Err(ProviderError::Invalid("pushing to a KV v1 mount is not supported yet".into()));
    }
    KvPath::resolve(client.mount.as_deref(), client.version, &remote.key)
}

fn not_managed(kv: &KvPath) -> ProviderError {
    ProviderError::Invalid(format!(
        "secret {} is not managed by external-secrets (no managed-by metadata): not overwritten",
        kv.metadata_path()
    ))
}

async fn write(client: &VaultStoreClient, kv: &KvPath, data: &Map<String, Value>) -> Result<(), ProviderError> {
    let (mount, path) = (kv.mount.as_str(), kv.path.as_str());
    let what = format!("write {}", kv.data_path(VaultKvVersion::V2));
    client.call("WriteSecretData", &what, |s| async move { vaultrs::kv2::set(&*s, mount, path, data).await.map(|_| ()) }).await?;
    let what = format!("write metadata {}", kv.metadata_path());
    let custom: HashMap<String, String> = [(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string())].into();
    client
        .call("WriteSecretMetadata", &what, |s| {
            let custom = custom.clone();
            async move {
                let mut opts = vaultrs::api::kv2::requests::SetSecretMetadataRequest::builder();
                vaultrs::kv2::set_metadata(&*s, mount, path, Some(opts.custom_metadata(custom))).await
            }
        })
        .await
}

pub(crate) async fn push(client: &VaultStoreClient, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
    let kv = kv_path(client, remote)?;
    let (mut data, managed) = current(client, &kv).await?.unwrap_or((Map::new(), true));
    if !managed {
        return Err(not_managed(&kv));
    }
    match &remote.property {
        Some(property) => {
            let text = String::from_utf8(value.to_vec())
                .map_err(|_| ProviderError::Invalid(format!("property {property} of {}: the value is not UTF-8", remote.key)))?;
            data.insert(property.clone(), Value::String(text));
        }
        None => match serde_json::from_slice(value) {
            Ok(Value::Object(map)) => data = map,
            _ => return Err(ProviderError::Invalid(format!("{}: without a property the value must be a JSON object", remote.key))),
        },
    }
    write(client, &kv, &data).await
}

pub(crate) async fn delete(client: &VaultStoreClient, remote: &PushRef) -> Result<(), ProviderError> {
    let kv = kv_path(client, remote)?;
    let Some((mut data, managed)) = current(client, &kv).await? else { return Ok(()) };
    if !managed {
        return Err(not_managed(&kv));
    }
    if let Some(property) = &remote.property {
        data.remove(property);
        if !data.is_empty() {
            return write(client, &kv, &data).await;
        }
    }
    let (mount, path) = (kv.mount.as_str(), kv.path.as_str());
    let what = format!("delete {}", kv.metadata_path());
    match client.call("DeleteSecretMetadata", &what, |s| async move { vaultrs::kv2::delete_metadata(&*s, mount, path).await }).await {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

pub(crate) async fn exists(client: &VaultStoreClient, remote: &PushRef) -> Result<bool, ProviderError> {
    let kv = kv_path(client, remote)?;
    Ok(match (current(client, &kv).await?, &remote.property) {
        (None, _) => false,
        (Some((data, _)), None) => !data.is_empty(),
        (Some((data, _)), Some(p)) => data.contains_key(p),
    })
}
