use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, GoDuration};

/// ExternalSecret names remote secrets in a store and the Kubernetes Secret to write them to.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ExternalSecret",
    doc = "ExternalSecret names remote secrets in a store and the Kubernetes Secret Sesame writes them to.",
    namespaced,
    shortname = "es",
    category = "external-secrets",
    status = "ExternalSecretStatus",
    printcolumn = r#"{"name":"StoreType","type":"string","jsonPath":".spec.secretStoreRef.kind"}"#,
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".spec.secretStoreRef.name"}"#,
    printcolumn = r#"{"name":"Refresh Interval","type":"string","jsonPath":".spec.refreshInterval"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Last Sync","type":"date","jsonPath":".status.refreshTime"}"#,
    selectable = ".spec.secretStoreRef.name",
    selectable = ".spec.secretStoreRef.kind",
    selectable = ".spec.target.name",
    selectable = ".spec.refreshInterval"
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    /// The store to read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,
    /// How often to fetch the remote values again, as a Go duration. `0` fetches once.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Option<GoDuration>,
    /// When to fetch again: `Periodic` (every refreshInterval, the default), `OnChange` (when the
    /// ExternalSecret's spec, labels or annotations change) or `CreatedOnce` (once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<RefreshPolicy>,
    /// When periodic refreshes may run, by cron windows in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_windows: Option<super::SyncWindows>,
    /// The Kubernetes Secret to write.
    #[serde(default)]
    pub target: ExternalSecretTarget,
    /// Secret keys, each read from one remote secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ExternalSecretData>,
    /// Remote secrets whose keys are all copied. Later entries override earlier keys; `data`
    /// overrides `dataFrom`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<ExternalSecretDataFromRemoteRef>,
}

impl ExternalSecretSpec {
    /// See [`ExternalSecret::store_refs`].
    pub fn store_refs(&self) -> Vec<super::StoreKey> {
        let own = |d: &ExternalSecretData| d.source_ref.as_ref().and_then(|s| s.secret_store_ref.as_ref()).map(SecretStoreRef::key);
        let own_from =
            |d: &ExternalSecretDataFromRemoteRef| d.source_ref.as_ref().and_then(|s| s.secret_store_ref.as_ref()).map(SecretStoreRef::key);
        let mut refs = Vec::new();
        if self.uses_spec_store()
            && let Some(r) = &self.secret_store_ref
        {
            refs.push(r.key());
        }
        for r in self.data.iter().filter_map(own).chain(self.data_from.iter().filter_map(own_from)) {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
        refs
    }

    /// Whether an entry reads from `spec.secretStoreRef` (it names no source of its own).
    pub fn uses_spec_store(&self) -> bool {
        self.data.iter().any(|d| d.source_ref.is_none())
            || self.data_from.iter().any(|d| d.source_ref.is_none())
            || (self.data.is_empty() && self.data_from.is_empty())
    }

    /// Every generator `dataFrom` names, once each.
    pub fn generator_refs(&self) -> Vec<&super::GeneratorRef> {
        let mut refs: Vec<&super::GeneratorRef> = Vec::new();
        for r in self.data_from.iter().filter_map(|d| d.source_ref.as_ref().and_then(|s| s.generator_ref.as_ref())) {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
        refs
    }
}

fn default_refresh_interval() -> Option<GoDuration> {
    Some(GoDuration("1h0m0s".into()))
}

/// A reference to a SecretStore or ClusterSecretStore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRef {
    /// Name of the store.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"), extend("default" = null))]
    pub name: String,
    /// `SecretStore` (default, same namespace) or `ClusterSecretStore`.
    #[serde(default = "default_store_kind", skip_serializing_if = "Option::is_none")]
    pub kind: Option<StoreKind>,
}

fn default_store_kind() -> Option<StoreKind> {
    Some(StoreKind::SecretStore)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, Default)]
pub enum StoreKind {
    #[default]
    SecretStore,
    ClusterSecretStore,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RefreshPolicy {
    CreatedOnce,
    Periodic,
    OnChange,
}

/// The Secret Sesame writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTarget {
    /// Name of the Secret. Defaults to the ExternalSecret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub name: Option<String>,
    /// `Owner` (default: create and own it; it is garbage-collected with the ExternalSecret),
    /// `Orphan` (create and update, no owner), `Merge` (only merge into an existing Secret),
    /// `CreateOrMerge` (create it when missing, else merge into it, keeping other keys; no owner,
    /// kept when the ExternalSecret is deleted) or `None` (write nothing).
    #[serde(default)]
    pub creation_policy: CreationPolicy,
    /// What happens when the provider has nothing left: `Retain` (default: keep the Secret,
    /// report an error), `Delete` (delete the Secret; needs `Owner`) or `Merge` (drop only the
    /// missing keys).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Make the Secret immutable. Its data can then never change.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
    /// Shape the Secret (type, labels, annotations, data) with Go templates over the fetched data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Box<super::ExternalSecretTemplate>>,
    /// Write another kind of object (a ConfigMap, a custom resource) instead of a Secret. Only
    /// with the controller's `--unsafe-allow-generic-targets` (off by default, as ESO); without
    /// it the ExternalSecret is Ready=False.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestReference>,
}

/// The kind of object a generic target is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReference {
    /// e.g. `v1` for a ConfigMap.
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// e.g. `ConfigMap`.
    #[schemars(length(min = 1))]
    pub kind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum CreationPolicy {
    #[default]
    Owner,
    Orphan,
    Merge,
    None,
    CreateOrMerge,
}

impl CreationPolicy {
    /// Writes only its own keys and keeps the keys other writers put in the Secret.
    pub fn merges(self) -> bool {
        matches!(self, CreationPolicy::Merge | CreationPolicy::CreateOrMerge)
    }

    /// Writes a Secret without an ownerReference: who owns it is recorded in
    /// [`OWNER_ANNOTATION`] instead, so no other ExternalSecret can take it over.
    pub fn records_owner(self) -> bool {
        matches!(self, CreationPolicy::Orphan | CreationPolicy::Merge | CreationPolicy::CreateOrMerge)
    }
}

/// The ExternalSecret that writes a Secret without an ownerReference (Orphan, Merge,
/// CreateOrMerge), as `<name>/<uid>`. Another ExternalSecret may not write that Secret while
/// this one exists.
pub const OWNER_ANNOTATION: &str = "sesame.external-secrets.io/owner";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
    Merge,
}

/// One Secret key read from one remote secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    /// The key in the Kubernetes Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub secret_key: String,
    /// The remote secret to read.
    pub remote_ref: ExternalSecretDataRemoteRef,
    /// Read this entry from another store than `spec.secretStoreRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<Box<super::StoreSourceRef>>,
}

/// Names a remote secret and how to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretDataRemoteRef {
    /// The provider's name or path of the remote secret.
    #[schemars(length(min = 1))]
    pub key: String,
    /// A field of a JSON remote secret, as a gjson path (`a.b.0`); a literal key containing dots
    /// wins first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// A provider-specific version (AWS stage or `uuid/<id>`, Vault KV v2 version, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `None` (default) reads the value; `Fetch` reads the remote secret's metadata (tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_policy: Option<MetadataPolicy>,
    /// How keys with invalid characters are rewritten (`dataFrom` only): `Default` or `Unicode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// How values are decoded: `None` (default), `Base64`, `Base64URL` or `Auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// `Ignore` (default) keeps values containing NUL bytes; `Fail` refuses them (checked after
    /// decoding), for sources that must be text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum MetadataPolicy {
    #[default]
    None,
    Fetch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum ConversionStrategy {
    #[default]
    Default,
    Unicode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum NullBytePolicy {
    #[default]
    Ignore,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum DecodingStrategy {
    #[default]
    None,
    Base64,
    #[serde(rename = "Base64URL")]
    Base64Url,
    Auto,
}

/// Many Secret keys at once: every top-level key of one JSON remote secret (`extract`) or every
/// remote secret matching a query (`find`), optionally renamed by `rewrite`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretDataFromRemoteRef {
    /// Copy every top-level key of one JSON remote secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<ExternalSecretDataRemoteRef>,
    /// Copy every remote secret whose name, path and tags match; the remote name is the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find: Option<ExternalSecretFind>,
    /// Rename or merge the keys, in order. When present, the automatic key conversion is skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<super::ExternalSecretRewrite>,
    /// Read this entry from another store than `spec.secretStoreRef`, or from a generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<super::StoreGeneratorSourceRef>,
}

/// Select remote secrets by path, name and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretFind {
    /// Only secrets under this path or name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only secrets whose name matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FindName>,
    /// Only secrets carrying every one of these tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How keys with invalid characters are rewritten: `Default` or `Unicode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// How values are decoded: `None` (default), `Base64`, `Base64URL` or `Auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// `Ignore` (default) keeps values containing NUL bytes; `Fail` refuses them (checked after
    /// decoding), for sources that must be text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

/// A regular expression over remote secret names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct FindName {
    /// The regular expression (RE2 syntax, as Go).
    #[serde(default)]
    pub regexp: String,
}

/// What Sesame last did with this ExternalSecret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    /// When the remote values were last fetched successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub refresh_time: Option<String>,
    /// `<generation>-<hash of labels and annotations>` at the last successful sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
    /// The Secret this ExternalSecret writes (servicebinding.io provisioned service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub binding: Option<SecretBinding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "ready_or_deleted_conditions")]
    pub conditions: Vec<Condition>,
}

/// ESO's ExternalSecret conditions: `Ready` and `Deleted` only.
fn ready_or_deleted_conditions(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    if let Some(type_) = schema.pointer_mut("/items/properties/type").and_then(|t| t.as_object_mut()) {
        type_.insert("enum".into(), serde_json::json!(["Ready", "Deleted"]));
    }
    schema
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct SecretBinding {
    /// Name of the Secret.
    #[serde(default)]
    pub name: String,
}

impl ExternalSecret {
    /// How often this object refreshes on its own; `None` when it never does (`refreshInterval`
    /// 0, a policy other than Periodic, or an interval the reconcile will report as invalid).
    pub fn periodic_interval(&self, default: std::time::Duration) -> Option<std::time::Duration> {
        if self.spec.refresh_policy.is_some_and(|p| p != RefreshPolicy::Periodic) {
            return None;
        }
        let interval = match &self.spec.refresh_interval {
            Some(d) => d.parse().ok()?,
            None => default,
        };
        (!interval.is_zero()).then_some(interval)
    }

    /// The Secret this object writes.
    pub fn target_name(&self) -> String {
        self.spec.target.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }

    /// The store reference with its default kind.
    pub fn store_ref(&self) -> (String, StoreKind) {
        let r = self.spec.secret_store_ref.clone().unwrap_or_default();
        (r.name, r.kind.unwrap_or_default())
    }

    /// Every store this object reads from, once each: `spec.secretStoreRef` when an entry uses it
    /// (or when no entry names a store at all) and each entry's own `sourceRef.storeRef`.
    pub fn store_refs(&self) -> Vec<super::StoreKey> {
        self.spec.store_refs()
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.metadata.annotations.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn es(spec: serde_json::Value) -> ExternalSecret {
        let mut spec = spec;
        spec["secretStoreRef"] = serde_json::json!({"name": "store"});
        serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": "ns"}, "spec": spec,
        }))
        .expect("valid ExternalSecret")
    }

    #[test]
    fn only_periodic_objects_with_a_positive_interval_refresh_on_their_own() {
        let hour = Duration::from_secs(3600);
        assert_eq!(es(serde_json::json!({"refreshInterval": "15m"})).periodic_interval(hour), Some(Duration::from_secs(900)));
        assert_eq!(es(serde_json::json!({})).periodic_interval(Duration::from_secs(60)), Some(hour), "ESO's default is 1h");
        assert_eq!(es(serde_json::json!({"refreshInterval": "0"})).periodic_interval(hour), None);
        assert_eq!(es(serde_json::json!({"refreshPolicy": "OnChange"})).periodic_interval(hour), None);
        assert_eq!(es(serde_json::json!({"refreshPolicy": "CreatedOnce"})).periodic_interval(hour), None);
    }

    #[test]
    fn eso_2_9_values_decode_create_or_merge_and_a_template_target_in_any_case() {
        let es = es(serde_json::json!({"target": {
            "creationPolicy": "CreateOrMerge",
            "template": {"templateFrom": [{"literal": "a: b", "target": "labels"}, {"literal": "c: d", "target": ""}, {"literal": "e: f", "target": "ANNOTATIONS"}]},
        }}));
        assert_eq!(es.spec.target.creation_policy, CreationPolicy::CreateOrMerge);
        assert!(es.spec.target.creation_policy.merges() && es.spec.target.creation_policy.records_owner());
        let targets: Vec<_> = es.spec.target.template.unwrap().template_from.iter().map(|f| f.target.clone()).collect();
        use crate::api::TemplateTarget::*;
        assert_eq!(targets, [Some(Labels), Some(Data), Some(Annotations)]);
        assert_eq!(serde_json::to_value(Labels).unwrap(), "Labels", "written in the canonical case");
        // Any other text is a path into a generic target, kept as written (a Secret target refuses it).
        let path: crate::api::TemplateFrom = serde_json::from_value(serde_json::json!({"target": "spec.Config"})).unwrap();
        assert_eq!(path.target, Some(Path("spec.Config".into())));
        assert_eq!(serde_json::to_value(&path).unwrap()["target"], "spec.Config");
    }
}
