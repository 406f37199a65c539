//! `dataFrom[].rewrite[]` (and PushSecret `data[].rewrite[]`): rename keys or merge several JSON
//! values into one map, as ESO.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One rewrite step. Exactly one of `merge`, `regexp` and `transform`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ExternalSecretRewrite {
    /// Merge the JSON objects held by the keys into one map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<RewriteMerge>,
    /// Replace every match of `source` in the key with `target` (`$1`, `${name}` expand groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<RewriteRegexp>,
    /// Replace the key with a Go template's output; `.value` is the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<RewriteTransform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct RewriteTransform {
    /// The template, e.g. `{{ .value | upper }}`.
    pub template: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct RewriteRegexp {
    /// The regular expression to match.
    pub source: String,
    /// The replacement.
    pub target: String,
}

/// Parse each key's value as a JSON object and merge them: keys in alphabetical order, then the
/// `priority` keys in their order, so a later key wins a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct RewriteMerge {
    /// The key that receives the merged JSON (`strategy: JSON`, where it is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = ""))]
    pub into: Option<String>,
    /// Keys merged last, in this order: they win conflicts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority: Vec<String>,
    /// `Strict` (default): a priority key that is missing is an error. `IgnoreNotFound`: skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Strict"))]
    pub priority_policy: Option<MergePriorityPolicy>,
    /// `Error` (default): two objects with the same field is an error. `Ignore`: the later wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Error"))]
    pub conflict_policy: Option<MergeConflictPolicy>,
    /// `Extract` (default): the merged fields replace the keys. `JSON`: the merged object is
    /// written as JSON to `into`, beside the original keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Extract"))]
    pub strategy: Option<MergeStrategy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum MergePriorityPolicy {
    IgnoreNotFound,
    #[default]
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum MergeConflictPolicy {
    Ignore,
    #[default]
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum MergeStrategy {
    #[default]
    Extract,
    #[serde(rename = "JSON")]
    Json,
}
