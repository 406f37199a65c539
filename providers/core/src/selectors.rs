//! Reference types shared by every store configuration. Their namespaces are resolved and
//! checked by the controller, never by a provider.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A key in a Kubernetes Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// The name of the Secret resource being referred to.
    pub name: String,
    /// The key of the entry in the Secret's `data` field. Some providers have a default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The namespace of the Secret. Only a ClusterSecretStore may set it; when it is omitted the
    /// store's namespace (SecretStore) or the ExternalSecret's namespace (ClusterSecretStore,
    /// referent authentication) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A Kubernetes ServiceAccount whose token is requested with the TokenRequest API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSelector {
    /// The name of the ServiceAccount resource being referred to.
    pub name: String,
    /// Namespace of the ServiceAccount. Only a ClusterSecretStore may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Audiences of the requested token. Defaults to the provider's audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// Where a CA bundle to trust comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaProvider {
    /// The kind of object holding the CA: `Secret` or `ConfigMap`.
    #[serde(rename = "type")]
    pub kind: CaProviderKind,
    /// The name of the object.
    pub name: String,
    /// The key holding the PEM bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The namespace of the object. Only a ClusterSecretStore may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CaProviderKind {
    Secret,
    ConfigMap,
}
