//! `UUID`: one random (version 4) UUID under the key `uuid`, as ESO.
use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};

/// UUIDSpec controls the behavior of the uuid generator. It has no fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UuidSpec {}

/// The UUID generator.
#[derive(Debug, Clone, Default)]
pub struct Uuid;

impl Uuid {
    pub fn new(spec: UuidSpec) -> Result<Self, GeneratorError> {
        let UuidSpec {} = spec;
        Ok(Uuid)
    }
}

#[async_trait]
impl Generator for Uuid {
    fn kind(&self) -> &'static str {
        "UUID"
    }

    async fn generate(&self, _ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        // The same CSPRNG as every other generator; the builder sets the version and variant bits.
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let data = BTreeMap::from([("uuid".to_string(), id.hyphenated().to_string().into_bytes())]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::testctx::ctx;

    fn is_v4(s: &str) -> bool {
        let b = s.as_bytes();
        s.len() == 36
            && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
            && s.chars().enumerate().all(|(i, c)| [8, 13, 18, 23].contains(&i) || matches!(c, '0'..='9' | 'a'..='f'))
            && b[14] == b'4'
            && matches!(b[19], b'8' | b'9' | b'a' | b'b')
    }

    #[tokio::test]
    async fn outputs_one_lowercase_hyphenated_v4_uuid_under_uuid() {
        let out = Uuid::new(UuidSpec {}).unwrap().generate(&ctx()).await.unwrap();
        assert_eq!(out.data.keys().collect::<Vec<_>>(), ["uuid"]);
        let s = String::from_utf8(out.data["uuid"].clone()).unwrap();
        assert!(is_v4(&s), "{s} is not a v4 UUID");
        assert_eq!(out.state, None);
    }

    #[tokio::test]
    async fn every_call_is_a_new_uuid() {
        let g = Uuid::new(UuidSpec {}).unwrap();
        let mut seen = BTreeSet::new();
        for _ in 0..1000 {
            let s = String::from_utf8(g.generate(&ctx()).await.unwrap().data["uuid"].clone()).unwrap();
            assert!(is_v4(&s));
            assert!(seen.insert(s), "a UUID repeated");
        }
    }

    #[test]
    fn the_spec_is_an_empty_object() {
        let spec: UuidSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(serde_json::to_string(&spec).unwrap(), "{}");
    }
}
