use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use sesame_provider_core::{
    CallQuota, Capabilities, FindQuery, FindScope, MetadataPolicy, ProviderError, PushRef, RemoteKey, SecretProvider, SecretValue,
};

use crate::FakeProvider;

/// Serves a fake store's data. Keyed by (key, version) exactly as ESO's fake provider. Pushed
/// values live in memory beside the spec's data, for as long as the client (one store
/// generation), and are read back before it; the spec's own entries are not Sesame's to change.
#[derive(Debug)]
pub struct FakeClient {
    entries: BTreeMap<(String, String), String>,
    pushed: Mutex<BTreeMap<String, Vec<u8>>>,
    validation_fails: bool,
    validation_unknown: bool,
}

impl FakeClient {
    pub fn new(spec: &FakeProvider) -> Self {
        let entries = spec.data.iter().map(|d| ((d.key.clone(), d.version.clone().unwrap_or_default()), d.value.clone())).collect();
        FakeClient {
            entries,
            pushed: Mutex::default(),
            validation_fails: spec.validation_result == Some(2),
            validation_unknown: spec.validation_result == Some(1),
        }
    }

    fn pushed(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.pushed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The JSON object a property push merges into (an empty one for a new secret).
fn object(current: Option<&Vec<u8>>, key: &str) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
    match current {
        None => Ok(Default::default()),
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(ProviderError::Invalid(format!("secret {key} is not a JSON object: a property cannot be pushed into it"))),
        },
    }
}

#[async_trait]
impl SecretProvider for FakeClient {
    fn name(&self) -> &'static str {
        "Fake"
    }

    fn call_quota(&self) -> CallQuota {
        CallQuota::Unmetered
    }

    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        if key.metadata_policy == MetadataPolicy::Fetch {
            return Err(ProviderError::Invalid("the fake provider has no metadata".into()));
        }
        let version = key.version.clone().unwrap_or_default();
        if version.is_empty()
            && let Some(value) = self.pushed().get(&key.key)
        {
            return Ok(SecretValue::new(value.clone()));
        }
        self.entries
            .get(&(key.key.clone(), version))
            .map(|v| SecretValue::from(v.as_str()))
            .ok_or_else(|| ProviderError::NotFound(format!("secret {} does not exist", key.key)))
    }

    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        if !query.tags.is_empty() {
            return Err(ProviderError::Invalid("the fake provider has no tags to find by".into()));
        }
        let matcher = match &query.name {
            Some(name) => {
                Some(regex::Regex::new(&name.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?)
            }
            None => None,
        };
        // The whole store is one "call": charged like a remote listing, so the limits act the same.
        scope.charge(1).await;
        let mut found = BTreeMap::new();
        let matches = self
            .entries
            .iter()
            .filter(|((_, version), _)| version.is_empty())
            .filter(|((key, _), _)| query.path.as_deref().is_none_or(|p| key.starts_with(p)))
            .filter(|((key, _), _)| matcher.as_ref().is_none_or(|m| m.is_match(key)));
        for ((key, _), value) in matches {
            let value = SecretValue::from(value.as_str());
            scope.check_matches(found.len() + 1)?;
            scope.check_value(key, &value)?;
            found.insert(key.clone(), value);
        }
        Ok(found)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        if self.entries.keys().any(|(k, _)| *k == remote.key) {
            return Err(ProviderError::Invalid(format!("secret {} is the store's own data, not managed by Sesame", remote.key)));
        }
        let mut pushed = self.pushed();
        let new = match &remote.property {
            None => value.to_vec(),
            Some(property) => {
                let mut map = object(pushed.get(&remote.key), &remote.key)?;
                let text = String::from_utf8(value.to_vec())
                    .map_err(|_| ProviderError::Invalid(format!("property {property} of {}: not UTF-8", remote.key)))?;
                map.insert(property.clone(), serde_json::Value::String(text));
                serde_json::to_vec(&map).map_err(|e| ProviderError::Invalid(e.to_string()))?
            }
        };
        pushed.insert(remote.key.clone(), new);
        Ok(())
    }

    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let mut pushed = self.pushed();
        let Some(property) = &remote.property else {
            pushed.remove(&remote.key);
            return Ok(());
        };
        let Ok(mut map) = object(pushed.get(&remote.key), &remote.key) else { return Ok(()) };
        map.remove(property);
        if map.is_empty() {
            pushed.remove(&remote.key);
        } else {
            pushed.insert(remote.key.clone(), serde_json::to_vec(&map).map_err(|e| ProviderError::Invalid(e.to_string()))?);
        }
        Ok(())
    }

    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        if self.entries.keys().any(|(k, _)| *k == remote.key) {
            return Ok(true);
        }
        let pushed = self.pushed();
        Ok(match (&remote.property, pushed.get(&remote.key)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(p), Some(bytes)) => object(Some(bytes), &remote.key).is_ok_and(|m| m.contains_key(p)),
        })
    }

    async fn validate(&self) -> Result<(), ProviderError> {
        if self.validation_fails {
            return Err(ProviderError::Invalid("the store's validationResult is Error".into()));
        }
        Ok(())
    }

    fn undecidable_validation(&self) -> Option<String> {
        self.validation_unknown.then(|| "the store's validationResult is Unknown".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeProviderData;
    use sesame_provider_core::{FindLimits, FindName};

    fn store() -> FakeClient {
        let d = |key: &str, value: &str, version: Option<&str>| FakeProviderData {
            key: key.into(),
            value: value.into(),
            version: version.map(Into::into),
        };
        FakeClient::new(&FakeProvider {
            data: vec![
                d("/db/user", "admin", None),
                d("/db/pass", "p1", None),
                d("/db/pass", "p0", Some("v0")),
                d("/api/token", "t", None),
            ],
            validation_result: None,
        })
    }

    fn text(v: SecretValue) -> String {
        String::from_utf8(v.into_bytes()).unwrap()
    }

    #[tokio::test]
    async fn reads_the_unversioned_entry_by_default_and_a_version_when_named() {
        let s = store();
        assert_eq!(text(s.get_secret(&RemoteKey::new("/db/pass")).await.unwrap()), "p1");
        let v0 = RemoteKey::new("/db/pass").with_version(Some("v0".into()));
        assert_eq!(text(s.get_secret(&v0).await.unwrap()), "p0");
    }

    #[tokio::test]
    async fn a_missing_key_or_version_is_not_found() {
        let s = store();
        assert!(s.get_secret(&RemoteKey::new("/nope")).await.unwrap_err().is_not_found());
        let v9 = RemoteKey::new("/db/pass").with_version(Some("v9".into()));
        assert!(s.get_secret(&v9).await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn find_filters_by_path_and_name() {
        let s = store();
        let q = FindQuery { path: Some("/db".into()), name: Some(FindName { regexp: "pass$".into() }), ..Default::default() };
        let found = s.find(&q, &FindScope::unmetered()).await.unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["/db/pass"]);
    }

    #[tokio::test]
    async fn pushed_values_are_read_back_merged_by_property_and_deleted_exactly() {
        let s = store();
        s.push_secret(&PushRef::new("/pushed/db", Some("user".into())), b"app").await.unwrap();
        s.push_secret(&PushRef::new("/pushed/db", Some("password".into())), b"pw").await.unwrap();
        assert_eq!(text(s.get_secret(&RemoteKey::new("/pushed/db")).await.unwrap()), r#"{"password":"pw","user":"app"}"#);
        assert!(s.secret_exists(&PushRef::new("/pushed/db", Some("user".into()))).await.unwrap());
        s.delete_secret(&PushRef::new("/pushed/db", Some("user".into()))).await.unwrap();
        assert_eq!(text(s.get_secret(&RemoteKey::new("/pushed/db")).await.unwrap()), r#"{"password":"pw"}"#);
        s.delete_secret(&PushRef::new("/pushed/db", Some("password".into()))).await.unwrap();
        assert!(s.get_secret(&RemoteKey::new("/pushed/db")).await.unwrap_err().is_not_found());
        assert!(!s.secret_exists(&PushRef::new("/pushed/db", None)).await.unwrap());
    }

    #[tokio::test]
    async fn the_stores_own_data_is_never_overwritten() {
        let s = store();
        let err = s.push_secret(&PushRef::new("/db/pass", None), b"x").await.unwrap_err();
        assert!(err.to_string().contains("not managed"), "{err}");
        assert_eq!(text(s.get_secret(&RemoteKey::new("/db/pass")).await.unwrap()), "p1");
    }

    #[tokio::test]
    async fn find_stops_at_the_match_and_size_limits() {
        let s = store();
        let everything = FindQuery::default();
        let few = FindScope::new(&sesame_provider_core::Unmetered, FindLimits { max_matches: 1, max_bytes: 1 << 20 });
        assert!(s.find(&everything, &few).await.unwrap_err().to_string().contains("--find-max-matches"));
        let small = FindScope::new(&sesame_provider_core::Unmetered, FindLimits { max_matches: 100, max_bytes: 12 });
        assert!(s.find(&everything, &small).await.unwrap_err().to_string().contains("--find-max-bytes"));
    }

    #[tokio::test]
    async fn batch_reads_answer_each_key_on_its_own() {
        let s = store();
        let got = s.get_secrets(&[RemoteKey::new("/db/user"), RemoteKey::new("/missing")]).await;
        assert_eq!(text(got[0].clone().unwrap()), "admin");
        assert!(got[1].as_ref().unwrap_err().is_not_found());
    }
}
