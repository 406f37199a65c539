//! Per-entry sources of an ExternalSecret (`data[].sourceRef`, `dataFrom[].sourceRef`): an entry
//! reads from its own store, or (dataFrom only) from a generator, instead of `spec.secretStoreRef`.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{SecretStoreRef, StoreKind};

/// The source of one `data` entry: another store. Exactly one property. (`generatorRef` is
/// accepted for ESO compatibility and refused with a condition: ESO does not implement it in
/// `data` either.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct StoreSourceRef {
    /// The store this entry reads from instead of `spec.secretStoreRef`.
    #[serde(default, rename = "storeRef", skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,
    /// Not implemented in `data` (as ESO): use `dataFrom[].sourceRef.generatorRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// The source of one `dataFrom` entry: another store, or a generator whose output keys are
/// merged in. Exactly one property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct StoreGeneratorSourceRef {
    /// The store this entry reads from instead of `spec.secretStoreRef`.
    #[serde(default, rename = "storeRef", skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,
    /// A generator (namespaced, in the ExternalSecret's namespace, or a ClusterGenerator) that
    /// produces this entry's keys anew at every refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// The generator kinds ESO 2.9 accepts in a `generatorRef`.
pub const GENERATOR_KINDS: &[&str] = &[
    "ACRAccessToken",
    "BeyondtrustWorkloadCredentialsDynamicSecret",
    "ClusterGenerator",
    "CloudsmithAccessToken",
    "ECRAuthorizationToken",
    "Fake",
    "GCRAccessToken",
    "GithubAccessToken",
    "GitlabDeployToken",
    "QuayAccessToken",
    "Password",
    "SSHKey",
    "STSSessionToken",
    "UUID",
    "VaultDynamicSecret",
    "Webhook",
    "Grafana",
    "MFA",
];

/// The API group and version of every generator kind.
pub const GENERATORS_API_VERSION: &str = "generators.external-secrets.io/v1alpha1";

/// Points to a generator object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorRef {
    /// The generator's API version.
    #[serde(default = "default_generator_api_version")]
    pub api_version: String,
    /// The generator's kind, e.g. `Password` or `ClusterGenerator`.
    #[schemars(extend("enum" = GENERATOR_KINDS))]
    pub kind: String,
    /// The generator's name.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub name: String,
}

fn default_generator_api_version() -> String {
    GENERATORS_API_VERSION.into()
}

/// A store an entry reads from, with its default kind: (name, kind).
pub type StoreKey = (String, StoreKind);

impl SecretStoreRef {
    /// (name, kind) with the default kind applied.
    pub fn key(&self) -> StoreKey {
        (self.name.clone(), self.kind.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_crd_makes_each_source_ref_a_one_of_as_eso_does() {
        // The CRD as `sesame crds` writes it.
        let (_, crd) = crate::crdgen::all().into_iter().find(|(file, _)| file == "external-secrets.io_externalsecrets.yaml").unwrap();
        let crd = serde_json::to_value(crd).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert!(spec["required"].as_array().is_none_or(|r| !r.contains(&"secretStoreRef".into())), "secretStoreRef is optional");
        let entries = &spec["properties"];
        for (field, source_ref) in [
            ("data", &entries["data"]["items"]["properties"]["sourceRef"]),
            ("dataFrom", &entries["dataFrom"]["items"]["properties"]["sourceRef"]),
        ] {
            assert_eq!(source_ref["minProperties"], 1, "{field}: {source_ref}");
            assert_eq!(source_ref["maxProperties"], 1, "{field}: {source_ref}");
            assert_eq!(
                source_ref["properties"]["storeRef"]["properties"]["kind"]["enum"],
                serde_json::json!(["SecretStore", "ClusterSecretStore"])
            );
            let generator = &source_ref["properties"]["generatorRef"];
            assert_eq!(generator["properties"]["apiVersion"]["default"], "generators.external-secrets.io/v1alpha1", "{field}");
            let kinds = generator["properties"]["kind"]["enum"].as_array().unwrap();
            for kind in ["Password", "ClusterGenerator", "VaultDynamicSecret", "UUID"] {
                assert!(kinds.contains(&kind.into()), "{field}: {kind} missing from {kinds:?}");
            }
            assert_eq!(generator["properties"]["name"]["maxLength"], 253);
            let required: Vec<&str> = generator["required"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
            assert_eq!(required, ["kind", "name"], "{field}");
        }
    }

    #[test]
    fn a_source_ref_round_trips_with_eso_field_names() {
        let entry: crate::api::ExternalSecretDataFromRemoteRef = serde_json::from_value(serde_json::json!({
            "sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}},
        }))
        .unwrap();
        let generator = entry.source_ref.as_ref().and_then(|s| s.generator_ref.clone()).unwrap();
        assert_eq!(generator.api_version, super::GENERATORS_API_VERSION, "the default apiVersion applies");
        let store: crate::api::ExternalSecretData = serde_json::from_value(serde_json::json!({
            "secretKey": "k", "remoteRef": {"key": "r"}, "sourceRef": {"storeRef": {"name": "s"}},
        }))
        .unwrap();
        let back = serde_json::to_value(&store).unwrap();
        assert_eq!(back["sourceRef"], serde_json::json!({"storeRef": {"name": "s", "kind": "SecretStore"}}));
    }
}
