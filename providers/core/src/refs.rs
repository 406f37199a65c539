use std::collections::BTreeMap;

/// What to read: one remote secret, at one version, either its value or its metadata.
///
/// `property` and decoding are applied by the controller after the read, so two ExternalSecrets
/// that want different properties of the same secret share one provider call; only a provider
/// whose [`applies_property`](crate::SecretProvider::applies_property) is true gets it in the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteKey {
    pub key: String,
    /// Provider-native version: AWS stage or `uuid/<id>`, Vault KV v2 number, GCP version, …
    pub version: Option<String>,
    pub metadata_policy: MetadataPolicy,
    /// `remoteRef.property`, for providers that apply it themselves; `None` for every other one.
    pub property: Option<String>,
}

impl RemoteKey {
    pub fn new(key: impl Into<String>) -> Self {
        RemoteKey { key: key.into(), version: None, metadata_policy: MetadataPolicy::None, property: None }
    }

    pub fn with_property(mut self, property: Option<String>) -> Self {
        self.property = property.filter(|p| !p.is_empty());
        self
    }

    pub fn with_version(mut self, version: Option<String>) -> Self {
        self.version = version.filter(|v| !v.is_empty());
        self
    }

    pub fn with_metadata(mut self, policy: MetadataPolicy) -> Self {
        self.metadata_policy = policy;
        self
    }
}

/// `remoteRef.metadataPolicy`: `Fetch` reads tags/labels/custom metadata as a JSON object
/// instead of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MetadataPolicy {
    #[default]
    None,
    Fetch,
}

/// `dataFrom[].find`: select many remote secrets by path, name and tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindQuery {
    /// Root path or name prefix to search under.
    pub path: Option<String>,
    pub name: Option<FindName>,
    /// Every tag must match exactly.
    pub tags: BTreeMap<String, String>,
}

/// `find.name.regexp`: a regular expression over remote secret names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindName {
    pub regexp: String,
}

/// Where PushSecret writes one value: a remote secret, optionally one property (JSON key) of it,
/// with provider-specific options (`data[].metadata`, as ESO's providers read them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushRef {
    pub key: String,
    pub property: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

impl PushRef {
    pub fn new(key: impl Into<String>, property: Option<String>) -> Self {
        PushRef { key: key.into(), property: property.filter(|p| !p.is_empty()), metadata: None }
    }
}
