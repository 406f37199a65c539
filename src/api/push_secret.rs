//! PushSecret (`external-secrets.io/v1alpha1`): write the keys of a Kubernetes Secret to stores
//! that can write. Same fields, defaults and status as ESO 2.9.
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, ExternalSecretRewrite, ExternalSecretTemplate, GoDuration};

/// PushSecret writes the keys of a Kubernetes Secret to remote secrets in one or more stores.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1alpha1",
    kind = "PushSecret",
    doc = "PushSecret writes the keys of a Kubernetes Secret to remote secrets in stores that can write.",
    namespaced,
    category = "external-secrets",
    status = "PushSecretStatus",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretSpec {
    /// How often to push again, as a Go duration (default 1h). A change of the source Secret is
    /// pushed at once whatever the interval.
    #[serde(default = "one_hour")]
    pub refresh_interval: Option<GoDuration>,
    /// The stores to write to.
    pub secret_store_refs: Vec<PushSecretStoreRef>,
    /// `Replace` (default) overwrites remote values; `IfNotExists` never does.
    #[serde(default)]
    pub update_policy: PushSecretUpdatePolicy,
    /// `None` (default) leaves remote values when an entry or the PushSecret goes away; `Delete`
    /// deletes what this PushSecret pushed.
    #[serde(default)]
    pub deletion_policy: PushSecretDeletionPolicy,
    /// The Secret to read (a generator is not supported yet: reported on the Ready condition).
    pub selector: PushSecretSelector,
    /// Which keys go where.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<PushSecretData>,
    /// Many keys at once: matched by a regular expression, renamed, or bundled into one remote secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_to: Vec<PushSecretDataTo>,
    /// Shapes the data before it is pushed, as an ExternalSecret's target template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
}

fn one_hour() -> Option<GoDuration> {
    Some(GoDuration("1h0m0s".into()))
}

/// A store to push to: by name, or every store matching a label selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStoreRef {
    /// The store's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every store of `kind` with these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// `SecretStore` (default) or `ClusterSecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum PushSecretUpdatePolicy {
    #[default]
    Replace,
    IfNotExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum PushSecretDeletionPolicy {
    Delete,
    #[default]
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum PushSecretConversionStrategy {
    #[default]
    None,
    ReverseUnicode,
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretSelector {
    /// A Secret of the PushSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<PushSecretSecret>,
    /// A generator (not supported yet: reported on the Ready condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub generator_ref: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
pub struct PushSecretSecret {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Secrets of the PushSecret's namespace by label; each is pushed in turn (name order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// One key to push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretData {
    /// Which key goes to which remote secret.
    pub r#match: PushSecretMatch,
    /// Provider-specific options (tags, labels, types), as ESO's providers read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub metadata: Option<serde_json::Value>,
    /// `None` (default) or `ReverseUnicode` (`_U0040_` in a key is read as `@`, undoing an
    /// ExternalSecret's `Unicode` conversion).
    #[serde(default)]
    pub conversion_strategy: PushSecretConversionStrategy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretMatch {
    /// The key of the source Secret; empty pushes the whole Secret as a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// Where it goes.
    pub remote_ref: PushSecretRemoteRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretRemoteRef {
    /// The remote secret's name.
    pub remote_key: String,
    /// A property (JSON key) inside the remote secret; empty writes the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// Many keys to push: each matched key to a remote secret of its own (renamed by `rewrite`), or
/// all of them as one JSON object to `remoteKey`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretDataTo {
    /// The store this entry writes to (required): a name listed in `secretStoreRefs`, or labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<PushSecretStoreRef>,
    /// Bundle every matched key into this one remote secret as a JSON object (no `rewrite` then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_key: Option<String>,
    /// Which keys; all when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<PushSecretDataToMatch>,
    /// Renames of the matched keys, applied in order (per-key mode only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<ExternalSecretRewrite>,
    /// Provider-specific options, as in `data[].metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub metadata: Option<serde_json::Value>,
    /// `None` (default) or `ReverseUnicode`, applied to the keys before matching.
    #[serde(default)]
    pub conversion_strategy: PushSecretConversionStrategy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct PushSecretDataToMatch {
    /// A regular expression the source keys must match; all keys when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStatus {
    /// When the data was last pushed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// ESO's `<generation>-<metadata hash>` of the PushSecret at that push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
    /// What was pushed: store (`<Kind>/<name>`) → remote key (`/<property>` when one) → the entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub synced_push_secrets: BTreeMap<String, BTreeMap<String, PushSecretData>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
