//! ClusterPushSecret: an operator object that stamps one PushSecret into every namespace it
//! selects (ESO's `external-secrets.io/v1alpha1` kind, same fields and status).
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, ExternalSecretMetadata, GoDuration, PushSecretSpec};

/// ClusterPushSecret creates the same PushSecret in every namespace it selects.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1alpha1",
    kind = "ClusterPushSecret",
    doc = "ClusterPushSecret creates the same PushSecret in every namespace it selects.",
    category = "external-secrets",
    status = "ClusterPushSecretStatus",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushSecretSpec {
    /// The spec of the PushSecret created in each selected namespace.
    pub push_secret_spec: PushSecretSpec,
    /// How often the selected namespaces are listed again, as a Go duration (default 1h); label
    /// changes of namespaces are also seen at once.
    #[serde(default, rename = "refreshTime", skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<GoDuration>,
    /// The name of those PushSecrets; defaults to the ClusterPushSecret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub push_secret_name: Option<String>,
    /// Labels and annotations of those PushSecrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_secret_metadata: Option<ExternalSecretMetadata>,
    /// Namespaces matching any of these label selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Namespaces chosen by name, in addition to the selectors (as ClusterExternalSecret's
    /// `namespaces`). Sesame's addition: ESO 2.9's ClusterPushSecret has only the selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

/// A namespace the PushSecret could not be created or updated in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct ClusterPushSecretNamespaceFailure {
    /// The namespace.
    pub namespace: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushSecretStatus {
    /// Namespaces where the PushSecret could not be written, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_namespaces: Vec<ClusterPushSecretNamespaceFailure>,
    /// Namespaces that hold the PushSecret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_namespaces: Vec<String>,
    /// The name of the PushSecrets created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
