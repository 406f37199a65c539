//! Several reads at once. Every sdk-server call is a full Bitwarden login, so a batch lists the
//! organization once for all its names and reads every candidate secret through
//! `/secrets-by-ids`, instead of a list and a read per key. The answer for each key is the one a
//! single read gives: a chunk the server refuses (one id gone fails it whole) is read again id by
//! id, so one key's failure never fails another.
use std::collections::HashMap;

use sesame_provider_core::{MetadataPolicy, ProviderError, RemoteKey, SecretValue};
use sesame_provider_http::prefixed;

use crate::client::BitwardenClient;
use crate::find::BATCH;
use crate::is_uuid;
use crate::sdk::{Identifier, Secret};

pub(crate) async fn get_secrets(client: &BitwardenClient, keys: &[RemoteKey]) -> Vec<Result<SecretValue, ProviderError>> {
    let plain = |k: &RemoteKey| k.version.is_none() && k.metadata_policy == MetadataPolicy::None;
    let names: Vec<&str> = keys.iter().filter(|k| plain(k) && !is_uuid(&k.key)).map(|k| k.key.as_str()).collect();
    let listed: Result<Vec<Identifier>, ProviderError> = match names.is_empty() {
        true => Ok(Vec::new()),
        false => client.sdk.list(&client.organization_id).await,
    };
    // Every id a key may need, lowercase (Bitwarden answers ids so; ESO's UUID test takes either case).
    let mut ids: Vec<String> = keys.iter().filter(|k| plain(k) && is_uuid(&k.key)).map(|k| k.key.to_ascii_lowercase()).collect();
    if let Ok(listed) = &listed {
        ids.extend(listed.iter().filter(|e| names.contains(&e.key.as_str())).map(|e| e.id.to_ascii_lowercase()));
    }
    ids.sort();
    ids.dedup();
    let read = read_ids(client, &ids).await;

    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(match () {
            _ if !plain(key) => client_single(client, key).await,
            _ if is_uuid(&key.key) => match read.get(&key.key.to_ascii_lowercase()) {
                Some(r) => r.clone().map(|s| SecretValue::from(s.value)).map_err(|e| prefixed(e, &format!("secret {}", key.key))),
                None => client_single(client, key).await,
            },
            _ => match &listed {
                Err(e) => Err(e.clone()),
                Ok(listed) => by_name(client, &key.key, listed, &read),
            },
        });
    }
    out
}

async fn client_single(client: &BitwardenClient, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
    use sesame_provider_core::SecretProvider;
    client.get_secret(key).await
}

/// Each id's secret, or the error reading it: batches first, one by one for a refused batch.
async fn read_ids(client: &BitwardenClient, ids: &[String]) -> HashMap<String, Result<Secret, ProviderError>> {
    let mut read = HashMap::new();
    for chunk in ids.chunks(BATCH) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        if chunk.len() > 1
            && let Ok(secrets) = client.sdk.get_by_ids(&refs).await
            && secrets.len() == chunk.len()
        {
            for s in secrets {
                read.insert(s.id.to_ascii_lowercase(), Ok(s));
            }
            if chunk.iter().all(|id| read.contains_key(id)) {
                continue;
            }
        }
        for id in chunk {
            read.insert(id.clone(), client.sdk.get(id).await);
        }
    }
    read
}

/// The one secret named `name` in the store's project, from what the batch read.
fn by_name(
    client: &BitwardenClient,
    name: &str,
    listed: &[Identifier],
    read: &HashMap<String, Result<Secret, ProviderError>>,
) -> Result<SecretValue, ProviderError> {
    let mut found: Option<&Secret> = None;
    for entry in listed.iter().filter(|e| e.key == name) {
        let secret = match read.get(&entry.id.to_ascii_lowercase()) {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(ProviderError::Transient(format!("secret {}: not read in this batch", entry.id))),
        };
        if !client.in_project(secret) {
            continue;
        }
        if found.is_some() {
            return Err(client.duplicate(name));
        }
        found = Some(secret);
    }
    found.map(|s| SecretValue::from(s.value.clone())).ok_or_else(|| client.not_found(name))
}
