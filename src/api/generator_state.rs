//! GeneratorState (`generators.external-secrets.io/v1alpha1`, ESO's schema): what a generator
//! created remotely for one ExternalSecret (a Vault lease …), kept so that it can be cleaned up
//! once superseded or when its owner is deleted.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// GeneratorState records the state a generator produced, owned by the object that used it.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "GeneratorState",
    doc = "GeneratorState represents the state created and managed by a generator resource.",
    namespaced,
    shortname = "gs",
    category = "external-secrets",
    category = "external-secrets-generators",
    status = "GeneratorStateStatus",
    printcolumn = r#"{"name":"GC Deadline","type":"string","jsonPath":".spec.garbageCollectionDeadline"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorStateSpec {
    /// When the state is cleaned up (the generator's remote resource released, then this object
    /// deleted). Unset: the state is in use and kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub garbage_collection_deadline: Option<String>,
    /// The generator manifest that produced the state, as it was then: the cleanup uses it.
    #[schemars(schema_with = "preserve_unknown")]
    pub resource: serde_json::Value,
    /// The state the generator produced: what its cleanup needs (a Vault lease id …), never a
    /// generated secret value.
    #[schemars(schema_with = "preserve_unknown")]
    pub state: serde_json::Value,
}

fn preserve_unknown(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// The observed state of a GeneratorState.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct GeneratorStateStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<super::Condition>,
}

/// The CRD as ESO serves it: no status subresource (the controller patches the status on the
/// object, and a client that writes a whole object keeps its conditions).
pub fn generator_state_crd() -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut crd = GeneratorState::crd();
    for version in &mut crd.spec.versions {
        if let Some(sub) = version.subresources.as_mut() {
            sub.status = None;
        }
    }
    crd
}

/// The label that groups the states one object produced from one source: ESO's owner key.
pub const GENERATOR_STATE_OWNER_LABEL: &str = "generators.external-secrets.io/owner-key";
