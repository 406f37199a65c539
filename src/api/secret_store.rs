use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, IntOrDuration, ProviderSpec};

/// A SecretStore (namespaced) or ClusterSecretStore (cluster-wide): where remote secrets live and
/// how to authenticate. Owned by operators; ExternalSecrets only name it.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "SecretStore",
    doc = "SecretStore says where remote secrets live and how to authenticate; ExternalSecrets of its namespace use it.",
    namespaced,
    shortname = "ss",
    category = "external-secrets",
    status = "SecretStoreStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Capabilities","type":"string","jsonPath":".status.capabilities"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreSpec {
    /// The controller class that handles this store; empty means every controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The backend: exactly one provider key.
    pub provider: ProviderSpec,
    /// How often the store is validated again: a Go duration or legacy integer seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<IntOrDuration>,
    /// Retries of provider calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_settings: Option<SecretStoreRetrySettings>,
    /// ClusterSecretStore only: the namespaces whose ExternalSecrets may use this store. An
    /// ExternalSecret's namespace must match at least one entry; no entries means every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterSecretStoreCondition>,
}

/// A ClusterSecretStore is a SecretStore every namespace can name (subject to `conditions`).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ClusterSecretStore",
    doc = "ClusterSecretStore is a SecretStore that ExternalSecrets of any namespace allowed by its conditions can use.",
    shortname = "css",
    category = "external-secrets",
    status = "SecretStoreStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Capabilities","type":"string","jsonPath":".status.capabilities"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreSpec {
    #[serde(flatten)]
    pub store: SecretStoreSpec,
}

/// Retries of provider calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRetrySettings {
    /// How many times a failed call is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    /// The wait between retries, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
}

/// Namespaces allowed to use a ClusterSecretStore. A namespace matches the entry when it matches
/// any of its three lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreCondition {
    /// Namespaces whose labels match this selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces whose name matches one of these regular expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_regexes: Vec<String>,
}

/// The store's validation state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `ReadOnly`, `WriteOnly` or `ReadWrite`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<String>,
    /// The `metadata.generation` the conditions describe. A Ready condition of an older
    /// generation does not make the store usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Either kind of store, as the controller uses them.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Namespaced(std::sync::Arc<SecretStore>),
    Cluster(std::sync::Arc<ClusterSecretStore>),
}

impl AnyStore {
    pub fn spec(&self) -> &SecretStoreSpec {
        match self {
            AnyStore::Namespaced(s) => &s.spec,
            AnyStore::Cluster(s) => &s.spec.store,
        }
    }

    pub fn status(&self) -> Option<&SecretStoreStatus> {
        match self {
            AnyStore::Namespaced(s) => s.status.as_ref(),
            AnyStore::Cluster(s) => s.status.as_ref(),
        }
    }

    pub fn meta(&self) -> &kube::api::ObjectMeta {
        match self {
            AnyStore::Namespaced(s) => &s.metadata,
            AnyStore::Cluster(s) => &s.metadata,
        }
    }

    pub fn kind(&self) -> super::StoreKind {
        match self {
            AnyStore::Namespaced(_) => super::StoreKind::SecretStore,
            AnyStore::Cluster(_) => super::StoreKind::ClusterSecretStore,
        }
    }

    /// Ready=True in status, for the current generation. A status without `observedGeneration`
    /// (as ESO writes it) is taken as current.
    pub fn is_ready(&self) -> bool {
        self.status().is_some_and(|s| {
            let current = s.observed_generation.is_none_or(|g| Some(g) == self.meta().generation);
            current && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
        })
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.meta().annotations.clone().unwrap_or_default()
    }
}
