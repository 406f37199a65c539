//! `Fake`: returns `spec.data` as is, on every call (for tests and demos), as ESO.
use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};

/// Bounds on tenant input (not in ESO): the output ends up in one Secret, itself at most 1 MiB.
const MAX_ENTRIES: usize = 1024;
const MAX_TOTAL_BYTES: usize = 1024 * 1024;

/// FakeSpec contains the static data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FakeSpec {
    /// Used to select the correct ESO controller (think: ingress.ingressClassName). The ESO
    /// controller is instantiated with a specific controller name and filters VDS based on this
    /// property.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub controller: String,
    /// Data defines the static data returned by this generator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// The Fake generator.
#[derive(Debug, Clone)]
pub struct Fake {
    data: BTreeMap<String, Vec<u8>>,
}

impl Fake {
    pub fn new(spec: FakeSpec) -> Result<Self, GeneratorError> {
        if spec.data.len() > MAX_ENTRIES {
            return Err(GeneratorError::Invalid(format!("Fake: data has more than {MAX_ENTRIES} entries")));
        }
        let total: usize = spec.data.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > MAX_TOTAL_BYTES {
            return Err(GeneratorError::Invalid(format!("Fake: data is larger than {MAX_TOTAL_BYTES} bytes")));
        }
        Ok(Fake { data: spec.data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect() })
    }
}

#[async_trait]
impl Generator for Fake {
    fn kind(&self) -> &'static str {
        "Fake"
    }

    async fn generate(&self, _ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        Ok(Generated { data: self.data.clone(), state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testctx::ctx;

    #[tokio::test]
    async fn returns_the_data_as_is() {
        let spec: FakeSpec = serde_json::from_str(r#"{"controller":"dev","data":{"username":"admin","password":"p@ss"}}"#).unwrap();
        assert_eq!(spec.controller, "dev");
        let out = Fake::new(spec).unwrap().generate(&ctx()).await.unwrap();
        let want = BTreeMap::from([("password".to_string(), b"p@ss".to_vec()), ("username".to_string(), b"admin".to_vec())]);
        assert_eq!(out.data, want);
        assert_eq!(out.state, None);
    }

    #[tokio::test]
    async fn an_empty_spec_generates_an_empty_map() {
        let out = Fake::new(serde_json::from_str("{}").unwrap()).unwrap().generate(&ctx()).await.unwrap();
        assert!(out.data.is_empty());
    }

    #[test]
    fn oversized_data_is_refused_without_echoing_it() {
        let many = FakeSpec { data: (0..=MAX_ENTRIES).map(|i| (format!("k{i}"), "v".into())).collect(), ..Default::default() };
        assert!(matches!(Fake::new(many), Err(GeneratorError::Invalid(m)) if m.contains("entries")));
        let big = "s3cr3t".repeat(MAX_TOTAL_BYTES / 6 + 1);
        let err = Fake::new(FakeSpec { data: BTreeMap::from([("k".into(), big)]), ..Default::default() }).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
