use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Shapes the target Secret with Go templates (ESO engine v2): its type, metadata and data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplate {
    /// The Secret type, e.g. `kubernetes.io/dockerconfigjson` or `kubernetes.io/tls`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The template engine; only `v2` exists.
    #[serde(default = "engine_v2")]
    pub engine_version: Option<TemplateEngineVersion>,
    /// Labels and annotations of the Secret; their values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ExternalSecretTemplateMetadata>,
    /// `Replace` (default): only templated keys end up in the Secret. `Merge`: the provider's
    /// keys are kept beside the templated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_policy: Option<TemplateMergePolicy>,
    /// Secret keys, each rendered from a template over the fetched data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Templates kept in ConfigMaps or Secrets of the ExternalSecret's namespace, or inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_from: Vec<TemplateFrom>,
}

fn engine_v2() -> Option<TemplateEngineVersion> {
    Some(TemplateEngineVersion::V2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum TemplateEngineVersion {
    #[default]
    #[serde(rename = "v2")]
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum TemplateMergePolicy {
    #[default]
    Replace,
    Merge,
}

/// Template metadata of the target Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct ExternalSecretTemplateMetadata {
    /// Finalizers added to the Secret (not templates). Never added to a Secret being deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Labels; values are templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations; values are templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One source of templates. Exactly one of `configMap`, `secret` and `literal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    /// Templates in a ConfigMap of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<TemplateRef>,
    /// Templates in a Secret of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<TemplateRef>,
    /// An inline template that renders a YAML map of keys to values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
    /// Where the rendered output goes: `Data` (default, also when empty), `Annotations` or
    /// `Labels`, in any case (`data` is `Data`), as ESO. A generic target (`target.manifest`)
    /// also takes a dotted path into the object, e.g. `spec` or `spec.database.config[0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TemplateTarget>,
    /// How the rendered values of this entry are decoded before they are written: `None`
    /// (default), `Base64`, `Base64URL` or `Auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_decoding_strategy: Option<super::DecodingStrategy>,
}

/// Written in its canonical case; read in any case, and empty as `Data` (ESO compares
/// case-insensitively and its CRD allows any string). Any other text is a path into a generic
/// target, kept as written (a Secret target refuses it, as ESO's validation does).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TemplateTarget {
    #[default]
    Data,
    Annotations,
    Labels,
    /// A dotted path (`spec.config`, `spec.rules[0].from`) into a generic target.
    Path(String),
}

impl Serialize for TemplateTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            TemplateTarget::Data => "Data",
            TemplateTarget::Annotations => "Annotations",
            TemplateTarget::Labels => "Labels",
            TemplateTarget::Path(p) => p,
        })
    }
}

impl<'de> Deserialize<'de> for TemplateTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match text.to_ascii_lowercase().as_str() {
            "" | "data" => TemplateTarget::Data,
            "annotations" => TemplateTarget::Annotations,
            "labels" => TemplateTarget::Labels,
            _ => TemplateTarget::Path(text),
        })
    }
}

impl JsonSchema for TemplateTarget {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TemplateTarget".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

/// A ConfigMap or Secret holding templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct TemplateRef {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub name: String,
    /// The keys of the object that are templates.
    #[serde(default)]
    pub items: Vec<TemplateRefItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    /// The key holding a template.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
    /// `Values` (default): the output is the value of the Secret key of the same name.
    /// `KeysAndValues`: the output is a YAML map of keys to values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_as: Option<TemplateScope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum TemplateScope {
    #[default]
    Values,
    KeysAndValues,
}
