//! `dataFrom.find` as ESO does it: LIST the tree under `find.path` (KV v2 metadata, or the KV v1
//! path), keep the names matching `name.regexp` or whose custom metadata carry every tag, and read
//! each match. Names are relative to the mount.
use std::collections::BTreeMap;

use sesame_provider_core::{FindQuery, FindScope, MetadataPolicy, ProviderError, RemoteKey, SecretProvider, SecretValue};

use crate::VaultKvVersion;
use crate::client::VaultStoreClient;

/// Upper bound on listed secrets, so a find over a huge tree fails instead of running forever.
const MAX_LISTED: usize = 10_000;

pub(crate) async fn find(
    client: &VaultStoreClient,
    query: &FindQuery,
    scope: &FindScope<'_>,
) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    let Some(mount) = client.mount.clone() else {
        return Err(ProviderError::Invalid("dataFrom.find needs the store's path (the KV mount)".into()));
    };
    if client.version == VaultKvVersion::V1 && !query.tags.is_empty() {
        return Err(ProviderError::Invalid("cannot perform find by tag operations with kv version v1".into()));
    }
    let matcher = match &query.name {
        Some(name) => Some(regex::Regex::new(&name.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
        None => None,
    };
    let root = query.path.as_deref().map(|p| p.trim_matches('/')).filter(|p| !p.is_empty());
    let names = list_tree(client, &mount, root, scope).await?;

    let names: Vec<String> = names.into_iter().filter(|n| matcher.as_ref().is_none_or(|m| m.is_match(n))).collect();
    // Without tags every name matches: fail before reading any. With tags the metadata reads decide.
    if query.tags.is_empty() {
        scope.check_matches(names.len())?;
    }
    let mut out = BTreeMap::new();
    for name in names {
        if !query.tags.is_empty() {
            scope.charge(1).await;
            let meta = client.get_secret(&RemoteKey::new(&name).with_metadata(MetadataPolicy::Fetch)).await?;
            let meta: BTreeMap<String, String> = serde_json::from_slice(meta.as_bytes()).unwrap_or_default();
            if !query.tags.iter().all(|(k, v)| meta.get(k) == Some(v)) {
                continue;
            }
        }
        scope.check_matches(out.len() + 1)?;
        scope.charge(1).await;
        match client.get_secret(&RemoteKey::new(&name)).await {
            Ok(value) => {
                scope.check_value(&name, &value)?;
                out.insert(name, value);
            }
            Err(e) if e.is_not_found() => continue, // deleted latest version
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Every secret name under `root`, depth first.
async fn list_tree(
    client: &VaultStoreClient,
    mount: &str,
    root: Option<&str>,
    scope: &FindScope<'_>,
) -> Result<Vec<String>, ProviderError> {
    let mut pending = vec![root.map(|r| format!("{r}/")).unwrap_or_default()];
    let mut names = Vec::new();
    while let Some(dir) = pending.pop() {
        scope.charge(1).await;
        let keys = match list(client, mount, &dir).await {
            Ok(keys) => keys,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        for key in keys {
            let full = format!("{dir}{key}");
            if key.ends_with('/') {
                pending.push(full);
            } else {
                names.push(full);
            }
        }
        if names.len() > MAX_LISTED {
            return Err(ProviderError::Invalid(format!("find under {mount}/{dir} lists more than {MAX_LISTED} secrets")));
        }
    }
    names.sort();
    Ok(names)
}

async fn list(client: &VaultStoreClient, mount: &str, dir: &str) -> Result<Vec<String>, ProviderError> {
    match client.version {
        VaultKvVersion::V2 => {
            let what = format!("list {mount}/metadata/{dir}");
            client.call("List", &what, |s| async move { vaultrs::kv2::list(&*s, mount, dir).await }).await
        }
        VaultKvVersion::V1 => {
            let what = format!("list {mount}/{dir}");
            client.call("List", &what, |s| async move { vaultrs::kv1::list(&*s, mount, dir).await }).await.map(|r| r.data.keys)
        }
    }
}
