//! KV paths and payloads with ESO's semantics.
use std::collections::BTreeMap;

use serde_json::Value;
use sesame_provider_core::ProviderError;

use crate::VaultKvVersion;

/// A KV secret location: the engine's mount and the secret's path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvPath {
    pub mount: String,
    pub path: String,
}

impl KvPath {
    /// Where `key` lives, as ESO's `buildPath` derives it: with a store `path` (the mount) a key
    /// may repeat the mount and, on v2, the `data/` segment; without one the key's first segment
    /// is the mount, and on v2 a key already holding `/data/` is split there.
    pub(crate) fn resolve(mount: Option<&str>, version: VaultKvVersion, key: &str) -> Result<KvPath, ProviderError> {
        let key = key.trim_start_matches('/');
        let (mount, path) = match mount.map(|m| m.trim_matches('/')).filter(|m| !m.is_empty()) {
            Some(mount) => {
                let mut rest = key;
                if let Some(stripped) = key.strip_prefix(mount).and_then(|r| r.strip_prefix('/')) {
                    rest = stripped;
                    if version == VaultKvVersion::V2 {
                        rest = rest.strip_prefix("data/").unwrap_or(rest);
                    }
                }
                (mount.to_string(), rest.to_string())
            }
            None => match key.split_once("/data/").filter(|_| version == VaultKvVersion::V2) {
                Some((mount, path)) => (mount.to_string(), path.to_string()),
                None => {
                    let (mount, path) = key.split_once('/').unwrap_or((key, ""));
                    (mount.to_string(), path.to_string())
                }
            },
        };
        if mount.is_empty() || path.is_empty() {
            return Err(ProviderError::Invalid(format!(
                "vault key {key:?} names no secret (the store has no path, so the key must start with the mount)"
            )));
        }
        Ok(KvPath { mount, path })
    }

    /// The HTTP path of the data, for messages.
    pub(crate) fn data_path(&self, version: VaultKvVersion) -> String {
        match version {
            VaultKvVersion::V1 => format!("{}/{}", self.mount, self.path),
            VaultKvVersion::V2 => format!("{}/data/{}", self.mount, self.path),
        }
    }

    pub(crate) fn metadata_path(&self) -> String {
        format!("{}/metadata/{}", self.mount, self.path)
    }
}

/// A KV v2 version number from `remoteRef.version`.
pub(crate) fn parse_version(version: &str, key: &str) -> Result<u64, ProviderError> {
    version
        .trim()
        .parse::<u64>()
        .map_err(|_| ProviderError::Invalid(format!("version {version:?} of vault key {key} is not a KV v2 version number")))
}

/// The secret map as the controller receives it: JSON, keys sorted (as Go's encoder sorts them),
/// non-string values kept as JSON. A `null` payload (deleted or destroyed version) is not found.
pub(crate) fn encode_data(data: Value, what: &str) -> Result<Vec<u8>, ProviderError> {
    match data {
        Value::Null => Err(ProviderError::NotFound(format!("{what}: the secret has no data (deleted or destroyed)"))),
        other => serde_json::to_vec(&sorted(other)).map_err(|e| ProviderError::Invalid(format!("{what}: {e}"))),
    }
}

/// Object keys in sorted order at every level, whatever map serde_json was built with.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `metadataPolicy: Fetch` on KV v2: the custom metadata plus `created_time`, `current_version`
/// and `delete_version_after`, every value a string, as ESO returns them.
pub(crate) fn encode_metadata(meta: &vaultrs::api::kv2::responses::ReadSecretMetadataResponse) -> Result<Vec<u8>, ProviderError> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    out.insert("created_time".into(), meta.created_time.clone());
    out.insert("current_version".into(), meta.current_version.to_string());
    out.insert("delete_version_after".into(), meta.delete_version_after.clone());
    for (k, v) in meta.custom_metadata.iter().flatten() {
        out.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&out).map_err(|e| ProviderError::Invalid(format!("encoding metadata: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use VaultKvVersion::{V1, V2};

    fn p(mount: Option<&str>, v: VaultKvVersion, key: &str) -> String {
        KvPath::resolve(mount, v, key).unwrap().data_path(v)
    }

    #[test]
    fn v2_inserts_data_after_the_mount() {
        assert_eq!(p(Some("secret"), V2, "app/db"), "secret/data/app/db");
        assert_eq!(p(Some("secret/team"), V2, "db"), "secret/team/data/db");
    }

    #[test]
    fn keys_repeating_the_mount_or_data_are_normalised() {
        assert_eq!(p(Some("secret"), V2, "secret/app"), "secret/data/app");
        assert_eq!(p(Some("secret"), V2, "secret/data/app"), "secret/data/app");
        assert_eq!(p(Some("secret"), V1, "secret/app"), "secret/app");
        assert_eq!(p(Some("secret"), V2, "/app"), "secret/data/app");
    }

    #[test]
    fn without_a_store_path_the_first_segment_is_the_mount() {
        assert_eq!(p(None, V2, "secret/path/foo"), "secret/data/path/foo");
        assert_eq!(p(None, V2, "secret/path/data/foo"), "secret/path/data/foo");
        assert_eq!(p(None, V1, "kv/path/foo"), "kv/path/foo");
    }

    #[test]
    fn a_key_without_a_secret_is_invalid() {
        assert!(matches!(KvPath::resolve(None, V2, "secret"), Err(ProviderError::Invalid(_))));
        assert!(matches!(KvPath::resolve(Some("secret"), V2, ""), Err(ProviderError::Invalid(_))));
    }

    #[test]
    fn versions_are_numbers() {
        assert_eq!(parse_version("3", "k").unwrap(), 3);
        assert!(matches!(parse_version("AWSCURRENT", "k"), Err(ProviderError::Invalid(_))));
    }

    #[test]
    fn data_keeps_non_strings_as_json_and_null_is_not_found() {
        let v = serde_json::json!({"b": 1, "a": {"x": true}, "s": "str"});
        assert_eq!(encode_data(v, "k").unwrap(), br#"{"a":{"x":true},"b":1,"s":"str"}"#);
        assert!(encode_data(Value::Null, "k").unwrap_err().is_not_found());
    }
}
