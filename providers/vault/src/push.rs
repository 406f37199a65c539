//! PushSecret on KV v1 and v2, with ESO's rules: a secret Sesame writes carries the custom
//! metadata `managed-by: external-secrets` (on v1, which has no metadata, as ESO keeps it: a
//! `custom_metadata` object inside the secret's map), and a secret without it is never
//! overwritten or deleted; a property merges into the secret's map, a whole value must be a JSON
//! object (the secret's map); an unchanged map writes no new version; with
//! `checkAndSet.required` a v2 write sends `cas`, the version it replaces (0 for a new secret).
use std::collections::HashMap;

use serde_json::{Map, Value};
use sesame_provider_core::{ProviderError, PushRef};

use crate::VaultKvVersion;
use crate::client::VaultStoreClient;
use crate::kv::KvPath;

const MANAGED_BY: &str = "managed-by";
const MANAGED_BY_VALUE: &str = "external-secrets";

/// Where ESO keeps the managed-by marker on KV v1.
const V1_METADATA: &str = "custom_metadata";

/// The secret as it is now.
struct Current {
    data: Map<String, Value>,
    managed: bool,
    /// KV v2's current version (for `cas`); 0 on v1.
    version: u64,
}

/// The secret as it is now; None when absent.
async fn current(client: &VaultStoreClient, kv: &KvPath) -> Result<Option<Current>, ProviderError> {
    if client.version == VaultKvVersion::V1 {
        return current_v1(client, kv).await;
    }
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
    Ok(Some(Current { data: data.as_object().cloned().unwrap_or_default(), managed, version: meta.current_version }))
}

async fn current_v1(client: &VaultStoreClient, kv: &KvPath) -> Result<Option<Current>, ProviderError> {
    let (mount, path) = (kv.mount.as_str(), kv.path.as_str());
    let what = format!("read {}", kv.data_path(VaultKvVersion::V1));
    let mut data: Map<String, Value> =
        match client.call("ReadSecretData", &what, |s| async move { vaultrs::kv1::get(&*s, mount, path).await }).await {
            Ok(data) => data,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
    let marker = data.remove(V1_METADATA);
    let managed = marker.as_ref().and_then(|m| m.get(MANAGED_BY)).and_then(Value::as_str) == Some(MANAGED_BY_VALUE);
    Ok(Some(Current { data, managed, version: 0 }))
}

fn kv_path(client: &VaultStoreClient, remote: &PushRef) -> Result<KvPath, ProviderError> {
    KvPath::resolve(client.mount.as_deref(), client.version, &remote.key)
}

fn not_managed(kv: &KvPath) -> ProviderError {
    ProviderError::Invalid(format!(
        "secret {} is not managed by external-secrets (no managed-by metadata): not overwritten",
        kv.metadata_path()
    ))
}

/// Write the secret's map; `cas` is the version it replaces, sent when the store requires it.
async fn write(client: &VaultStoreClient, kv: &KvPath, data: &Map<String, Value>, cas: u64) -> Result<(), ProviderError> {
    let (mount, path) = (kv.mount.as_str(), kv.path.as_str());
    if client.version == VaultKvVersion::V1 {
        let marker = serde_json::json!({ MANAGED_BY: MANAGED_BY_VALUE });
        let mut body: HashMap<&str, &Value> = data.iter().map(|(k, v)| (k.as_str(), v)).collect();
        body.insert(V1_METADATA, &marker);
        let what = format!("write {}", kv.data_path(VaultKvVersion::V1));
        let body = &body;
        return client.call("WriteSecretData", &what, |s| async move { vaultrs::kv1::set(&*s, mount, path, body).await }).await;
    }
    let what = format!("write {}", kv.data_path(VaultKvVersion::V2));
    if client.cas {
        let cas = u32::try_from(cas).map_err(|_| ProviderError::Invalid(format!("{what}: version {cas} is beyond check-and-set")))?;
        client
            .call("WriteSecretData", &what, |s| async move {
                let options = vaultrs::api::kv2::requests::SetSecretRequestOptions { cas };
                vaultrs::kv2::set_with_options(&*s, mount, path, data, options).await.map(|_| ())
            })
            .await?;
    } else {
        client.call("WriteSecretData", &what, |s| async move { vaultrs::kv2::set(&*s, mount, path, data).await.map(|_| ()) }).await?;
    }
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
    let now = current(client, &kv).await?;
    let existed = now.is_some();
    let Current { mut data, managed, version } = now.unwrap_or(Current { data: Map::new(), managed: true, version: 0 });
    if !managed {
        return Err(not_managed(&kv));
    }
    let before = data.clone();
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
    if existed && data == before {
        return Ok(()); // unchanged: no new version
    }
    write(client, &kv, &data, version).await
}

pub(crate) async fn delete(client: &VaultStoreClient, remote: &PushRef) -> Result<(), ProviderError> {
    let kv = kv_path(client, remote)?;
    let Some(Current { mut data, managed, version }) = current(client, &kv).await? else { return Ok(()) };
    if !managed {
        return Err(not_managed(&kv));
    }
    if let Some(property) = &remote.property {
        data.remove(property);
        if !data.is_empty() {
            return write(client, &kv, &data, version).await;
        }
    }
    let (mount, path) = (kv.mount.as_str(), kv.path.as_str());
    if client.version == VaultKvVersion::V1 {
        let what = format!("delete {}", kv.data_path(VaultKvVersion::V1));
        return match client.call("DeleteSecret", &what, |s| async move { vaultrs::kv1::delete(&*s, mount, path).await }).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        };
    }
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
        (Some(c), None) => !c.data.is_empty(),
        (Some(c), Some(p)) => c.data.contains_key(p),
    })
}
