//! Reference types shared by every store configuration. Their namespaces are resolved and
//! checked by the controller, never by a provider.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A key in a Kubernetes Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// The name of the Secret resource being referred to. Optional in ESO's schema, so a
    /// selector without it is read, and refused when used.
    #[serde(default)]
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
    /// Extra audiences of the requested token, appended to the provider's own (AWS
    /// `sts.amazonaws.com`, GCP `<project>.svc.id.goog`, Azure `api://AzureADTokenExchange`, Vault
    /// JWT `vault`).
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

/// A ref that names no namespace: in a ClusterSecretStore it is resolved in the namespace of
/// each ExternalSecret that uses the store (referent authentication).
pub trait NamespacedRef {
    /// The namespace the ref names, if any (an empty string names none).
    fn namespace(&self) -> Option<&str>;

    fn is_referent(&self) -> bool {
        self.namespace().is_none_or(str::is_empty)
    }
}

impl NamespacedRef for SecretKeySelector {
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

impl NamespacedRef for ServiceAccountSelector {
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

impl NamespacedRef for CaProvider {
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

/// The fields of `refs` (field path, ref) that are referent.
pub fn referent_fields(refs: &[(&'static str, Option<&dyn NamespacedRef>)]) -> Vec<&'static str> {
    refs.iter().filter(|(_, r)| r.is_some_and(|r| r.is_referent())).map(|(field, _)| *field).collect()
}

/// `r` as a [`NamespacedRef`] entry of [`referent_fields`].
pub fn ns_ref<T: NamespacedRef>(r: Option<&T>) -> Option<&dyn NamespacedRef> {
    r.map(|r| r as &dyn NamespacedRef)
}
