use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sesame_provider_core::{
    CallQuota, Capabilities, FindQuery, FindScope, MetadataPolicy, ProviderError, PushRef, RemoteKey, SecretProvider, SecretValue,
};

use crate::{FakeProvider, FakeProviderData};

/// Serves a fake store's data. Keyed by (key, version) exactly as ESO's fake provider. Pushed
/// values live in memory beside the spec's data, for as long as the client (one store
/// generation), and are read back before it; the spec's own entries are not Sesame's to change.
#[derive(Debug)]
pub struct FakeClient {
    /// The spec's entries, shared with the store's cached spec.
    data: Arc<[FakeProviderData]>,
    /// Positions in `data` ordered by (key, version), one per pair: the last entry of a pair
    /// named twice, as a map built from the list would keep.
    index: Vec<usize>,
    pushed: Mutex<BTreeMap<String, Vec<u8>>>,
    validation_fails: bool,
    validation_unknown: bool,
}

fn key_of(d: &FakeProviderData) -> (&str, &str) {
    (&d.key, d.version.as_deref().unwrap_or_default())
}

impl FakeClient {
    pub fn new(spec: &FakeProvider) -> Self {
        let data = spec.data.clone();
        let mut index: Vec<usize> = (0..data.len()).collect();
        index.sort_by(|&a, &b| key_of(&data[a]).cmp(&key_of(&data[b])).then(a.cmp(&b)));
        // Of equal pairs the later position comes last: keep it in the place of the first.
        index.dedup_by(|later, kept| {
            let same = key_of(&data[*later]) == key_of(&data[*kept]);
            if same {
                *kept = *later;
            }
            same
        });
        FakeClient {
            data,
            index,
            pushed: Mutex::default(),
            validation_fails: spec.validation_result == Some(2),
            validation_unknown: spec.validation_result == Some(1),
        }
    }

    /// The entries in (key, version) order.
    fn entries(&self) -> impl Iterator<Item = &FakeProviderData> {
        self.index.iter().map(|&i| &self.data[i])
    }

    fn entry(&self, key: &str, version: &str) -> Option<&FakeProviderData> {
        let at = self.index.binary_search_by(|&i| key_of(&self.data[i]).cmp(&(key, version))).ok()?;
        Some(&self.data[self.index[at]])
    }

    fn holds(&self, key: &str) -> bool {
        self.data.iter().any(|d| d.key == key)
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
        let version = key.version.as_deref().unwrap_or_default();
        if version.is_empty()
            && let Some(value) = self.pushed().get(&key.key)
        {
            return Ok(SecretValue::new(value.clone()));
        }
        self.entry(&key.key, version)
            .map(|d| SecretValue::from(d.value.as_str()))
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
            .entries()
            .filter(|d| d.version.as_deref().unwrap_or_default().is_empty())
            .filter(|d| query.path.as_deref().is_none_or(|p| d.key.starts_with(p)))
            .filter(|d| matcher.as_ref().is_none_or(|m| m.is_match(&d.key)));
        for d in matches {
            let value = SecretValue::from(d.value.as_str());
            scope.check_matches(found.len() + 1)?;
            scope.check_value(&d.key, &value)?;
            found.insert(d.key.clone(), value);
        }
        Ok(found)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        if self.holds(&remote.key) {
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
        if self.holds(&remote.key) {
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
            ]
            .into(),
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

    #[tokio::test]
    async fn a_key_and_version_named_twice_serve_the_last_entry_as_eso_does() {
        let d = |key: &str, value: &str| FakeProviderData { key: key.into(), value: value.into(), version: None };
        let s = FakeClient::new(&FakeProvider {
            data: vec![d("/b", "first"), d("/a", "a"), d("/b", "second"), d("/c", "c"), d("/b", "third")].into(),
            validation_result: None,
        });
        assert_eq!(text(s.get_secret(&RemoteKey::new("/b")).await.unwrap()), "third");
        let found = s.find(&FindQuery::default(), &FindScope::unmetered()).await.unwrap();
        let found: Vec<(String, String)> = found.into_iter().map(|(k, v)| (k, text(v))).collect();
        assert_eq!(found, [("/a", "a"), ("/b", "third"), ("/c", "c")].map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn the_data_is_a_list_on_the_wire() {
        let spec: FakeProvider = serde_json::from_str(r#"{"data":[{"key":"k","value":"v"}]}"#).unwrap();
        assert_eq!(spec.data.len(), 1);
        assert_eq!(serde_json::to_string(&spec).unwrap(), r#"{"data":[{"key":"k","value":"v"}]}"#);
        let empty: FakeProvider = serde_json::from_str("{}").unwrap();
        assert!(empty.data.is_empty());
    }
}
