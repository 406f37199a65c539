//! ClusterGenerator: one generator of any kind, cluster-scoped, usable from every namespace (it
//! runs in the namespace of the object that uses it, and its credentials resolve there).
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::GeneratorSpecs;

/// ClusterGenerator represents a cluster-wide generator which can be referenced as part of
/// `generatorRef` fields.
#[derive(CustomResource, Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "ClusterGenerator",
    doc = "ClusterGenerator represents a cluster-wide generator which can be referenced as part of `generatorRef` fields.",
    category = "external-secrets",
    category = "external-secrets-generators"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGeneratorSpec {
    /// The kind of the generator, e.g. `Password`.
    #[schemars(extend("enum" = crate::api::GENERATOR_KINDS))]
    pub kind: String,
    /// The spec of the generator; must match `kind`.
    pub generator: GeneratorSpecs,
}

impl ClusterGeneratorSpec {
    /// The generator's kind and its spec as JSON.
    pub fn resolve(&self) -> Result<(String, serde_json::Value), String> {
        if !super::KINDS.contains(&self.kind.as_str()) {
            return Err(format!("generator kind {} is not supported by Sesame", self.kind));
        }
        let spec = self.generator.get(&self.kind).ok_or_else(|| format!("spec.generator has no spec for kind {}", self.kind))?;
        Ok((self.kind.clone(), spec))
    }
}
