//! The fake provider: static data held in the store spec itself. ESO-compatible
//! (`spec.provider.fake.data[] {key, value, version}`); the embedded default for demos and tests.
#![forbid(unsafe_code)]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Configures a store to serve static data from its own spec. For demos and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct FakeProvider {
    /// The remote secrets this store serves.
    #[serde(default)]
    pub data: Vec<FakeProviderData>,
    /// The store validation outcome to report, as ESO's fake provider: 0 Ready (default),
    /// 1 Unknown (Ready with reason `ValidationUnknown`), 2 Error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_result: Option<i32>,
}

/// One remote secret of a fake store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct FakeProviderData {
    /// The remote key, matched against `remoteRef.key`.
    pub key: String,
    /// The value served for the key.
    #[serde(default)]
    pub value: String,
    /// The version this entry answers; an ExternalSecret that names no version reads the entry
    /// without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub use client::FakeClient;
