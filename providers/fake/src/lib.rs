//! The fake provider: static data held in the store spec itself. ESO-compatible
//! (`spec.provider.fake.data[] {key, value, version}`); the embedded default for demos and tests.
#![forbid(unsafe_code)]
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Configures a store to serve static data from its own spec. For demos and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct FakeProvider {
    /// The remote secrets this store serves.
    // Shared with the store's clients, which index it instead of copying it: a demo or benchmark
    // store may hold thousands of entries.
    #[serde(default, with = "shared")]
    #[schemars(with = "Vec<FakeProviderData>")]
    pub data: Arc<[FakeProviderData]>,
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

/// `data` as the list it is on the wire.
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::FakeProviderData;

    pub fn serialize<S: Serializer>(data: &Arc<[FakeProviderData]>, serializer: S) -> Result<S::Ok, S::Error> {
        data[..].serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<[FakeProviderData]>, D::Error> {
        Vec::<FakeProviderData>::deserialize(deserializer).map(Into::into)
    }
}

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub use client::FakeClient;
