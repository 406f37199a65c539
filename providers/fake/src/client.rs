use std::collections::BTreeMap;

use async_trait::async_trait;
use sesame_provider_core::{FindQuery, MetadataPolicy, ProviderError, RemoteKey, SecretProvider, SecretValue};

use crate::FakeProvider;

/// Serves a fake store's data. Keyed by (key, version) exactly as ESO's fake provider.
#[derive(Debug, Clone)]
pub struct FakeClient {
    entries: BTreeMap<(String, String), String>,
    validation_fails: bool,
    validation_unknown: bool,
}

impl FakeClient {
    pub fn new(spec: &FakeProvider) -> Self {
        let entries = spec.data.iter().map(|d| ((d.key.clone(), d.version.clone().unwrap_or_default()), d.value.clone())).collect();
        FakeClient { entries, validation_fails: spec.validation_result == Some(2), validation_unknown: spec.validation_result == Some(1) }
    }
}

#[async_trait]
impl SecretProvider for FakeClient {
    fn name(&self) -> &'static str {
        "Fake"
    }

    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        if key.metadata_policy == MetadataPolicy::Fetch {
            return Err(ProviderError::Invalid("the fake provider has no metadata".into()));
        }
        let version = key.version.clone().unwrap_or_default();
        self.entries
            .get(&(key.key.clone(), version))
            .map(|v| SecretValue::from(v.as_str()))
            .ok_or_else(|| ProviderError::NotFound(format!("secret {} does not exist", key.key)))
    }

    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        if !query.tags.is_empty() {
            return Err(ProviderError::Invalid("the fake provider has no tags to find by".into()));
        }
        let matcher = match &query.name {
            Some(name) => {
                Some(regex::Regex::new(&name.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?)
            }
            None => None,
        };
        Ok(self
            .entries
            .iter()
            .filter(|((_, version), _)| version.is_empty())
            .filter(|((key, _), _)| query.path.as_deref().is_none_or(|p| key.starts_with(p)))
            .filter(|((key, _), _)| matcher.as_ref().is_none_or(|m| m.is_match(key)))
            .map(|((key, _), value)| (key.clone(), SecretValue::from(value.as_str())))
            .collect())
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
    use sesame_provider_core::FindName;

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
        let found = s.find(&q).await.unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["/db/pass"]);
    }

    #[tokio::test]
    async fn batch_reads_answer_each_key_on_its_own() {
        let s = store();
        let got = s.get_secrets(&[RemoteKey::new("/db/user"), RemoteKey::new("/missing")]).await;
        assert_eq!(text(got[0].clone().unwrap()), "admin");
        assert!(got[1].as_ref().unwrap_err().is_not_found());
    }
}
