use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The store's backend. Exactly one key must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ProviderSpec {
    /// Static data held in the store itself, for demos and tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake: Option<sesame_provider_fake::FakeProvider>,
}

impl ProviderSpec {
    /// The key of the provider that is set, for messages and metrics.
    pub fn kind(&self) -> &'static str {
        if self.fake.is_some() {
            return "fake";
        }
        "none"
    }
}
