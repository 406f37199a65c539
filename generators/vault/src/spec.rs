//! The spec, field for field as ESO's `VaultDynamicSecretSpec`.
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_vault::VaultProvider;

/// VaultDynamicSecretSpec: where in Vault a dynamic secret is obtained and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultDynamicSecretSpec {
    /// Used to select the correct ESO controller (think: ingress.ingressClassName). The ESO
    /// controller is instantiated with a specific controller name and filters VDS based on this
    /// property.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub controller: String,
    /// Vault API method to use (GET/POST/other). `GET` (the default) reads, `LIST` lists,
    /// `DELETE` deletes; any other method writes `parameters`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// Parameters to pass to Vault write (for non-GET methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub parameters: Option<serde_json::Value>,
    /// GetParameters are query-string parameters passed to Vault on GET calls. Each key may map
    /// to multiple values, matching HTTP query-string semantics. Ignored for non-GET methods; use
    /// Parameters for write bodies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub get_parameters: BTreeMap<String, Vec<String>>,
    /// Result type defines which data is returned from the generator. By default, it is the
    /// "data" section of the Vault API response. When using e.g. /auth/token/create the "data"
    /// section is empty but the "auth" section contains the generated token. Please refer to the
    /// vault docs regarding the result data structure. Additionally, accessing the raw response
    /// is possibly by using "Raw" result type.
    #[serde(default)]
    pub result_type: VaultDynamicSecretResultType,
    /// Used to configure http retries if failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_settings: Option<VaultRetrySettings>,
    /// Vault provider common spec: server, namespace, TLS and auth, as a Vault SecretStore's
    /// `spec.provider.vault` (`path` and `version` are not used).
    pub provider: VaultProvider,
    /// Vault path to obtain the dynamic secret from.
    pub path: String,
    /// Do not fail if no secrets are found. Useful for requests where no data is expected.
    #[serde(default)]
    pub allow_empty_response: bool,
}

/// Which part of the Vault API response the generator returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum VaultDynamicSecretResultType {
    /// The response's `data` section.
    #[default]
    Data,
    /// The response's `auth` section (e.g. `auth/token/create`).
    Auth,
    /// The whole response.
    Raw,
}

/// Retries of a failed call (network errors, 5xx, throttling).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultRetrySettings {
    /// How many times a failed call is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    /// The wait between retries, as a Go duration (e.g. `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
}
