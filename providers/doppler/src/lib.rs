//! The Doppler provider: `spec.provider.doppler`, field-compatible with ESO's Doppler store. It
//! reads one config's secrets through the REST API v3 (`secrets/download`).
//!
//! The configuration types are always compiled (the CRD generator needs them); the client, a small
//! typed one on `reqwest` (Doppler publishes no maintained Rust SDK), sits behind the `client`
//! feature (default on). As in ESO the API root is `https://api.doppler.com`, overridden by the
//! controller's `DOPPLER_BASE_URL` environment variable.
#![forbid(unsafe_code)]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{ProviderError, SecretKeySelector, ServiceAccountSelector, ns_ref, referent_fields};

/// Configures a store to read secrets from Doppler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DopplerProvider {
    /// How to authenticate with the Doppler API. Exactly one of `secretRef` and `oidcConfig`.
    pub auth: DopplerAuth,
    /// The Doppler project (required unless the token is a service token, which names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The Doppler config (required unless the token is a service token, which names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Renames the secrets of `dataFrom.find` to another environment-variable convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_transformer: Option<NameTransformer>,
    /// Download the secrets of `dataFrom.find` as one file in this format, under the key
    /// `DOPPLER_SECRETS_FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
}

/// `nameTransformer`: Doppler's `name_transformer` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NameTransformer {
    #[serde(rename = "upper-camel")]
    UpperCamel,
    #[serde(rename = "camel")]
    Camel,
    #[serde(rename = "lower-snake")]
    LowerSnake,
    #[serde(rename = "tf-var")]
    TfVar,
    #[serde(rename = "dotnet-env")]
    DotnetEnv,
    #[serde(rename = "lower-kebab")]
    LowerKebab,
}

impl NameTransformer {
    pub fn as_str(self) -> &'static str {
        match self {
            NameTransformer::UpperCamel => "upper-camel",
            NameTransformer::Camel => "camel",
            NameTransformer::LowerSnake => "lower-snake",
            NameTransformer::TfVar => "tf-var",
            NameTransformer::DotnetEnv => "dotnet-env",
            NameTransformer::LowerKebab => "lower-kebab",
        }
    }
}

/// `format`: Doppler's download formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Json,
    DotnetJson,
    Env,
    Yaml,
    Docker,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::DotnetJson => "dotnet-json",
            Format::Env => "env",
            Format::Yaml => "yaml",
            Format::Docker => "docker",
        }
    }
}

/// How the store authenticates with Doppler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DopplerAuth {
    /// A Doppler token (service token, service account token, …) held in a Kubernetes Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<DopplerAuthSecretRef>,
    /// Kubernetes ServiceAccount tokens exchanged through Doppler's OIDC identities. Accepted for
    /// compatibility with ESO's schema but not supported yet: a store setting it fails with a
    /// clear error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_config: Option<DopplerOidcAuth>,
}

/// `auth.secretRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DopplerAuthSecretRef {
    /// The Secret key holding the token; the key defaults to `dopplerToken`.
    pub doppler_token: SecretKeySelector,
}

/// `auth.oidcConfig` (ESO's fields; not supported by Sesame yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DopplerOidcAuth {
    /// The Doppler service account identity configured for OIDC.
    pub identity: String,
    /// The Kubernetes ServiceAccount whose tokens are exchanged.
    pub service_account_ref: ServiceAccountSelector,
    /// Lifetime of the ServiceAccount token, in seconds (ESO's default: 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
}

impl DopplerProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        referent_fields(&[
            ("auth.secretRef.dopplerToken", ns_ref(self.auth.secret_ref.as_ref().map(|s| &s.doppler_token))),
            ("auth.oidcConfig.serviceAccountRef", ns_ref(self.auth.oidc_config.as_ref().map(|o| &o.service_account_ref))),
        ])
    }

    /// No store field reaches a URL: the API root is the controller's (`DOPPLER_BASE_URL`).
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// ESO's store validation.
    pub fn check_spec(&self) -> Result<(), ProviderError> {
        let invalid = |m: &str| Err(ProviderError::Invalid(format!("invalid store: {m}")));
        match (&self.auth.secret_ref, &self.auth.oidc_config) {
            (Some(s), None) if s.doppler_token.name.is_empty() => invalid("dopplerToken.name cannot be empty"),
            (Some(_), None) => Ok(()),
            (None, Some(_)) => invalid("auth.oidcConfig is not supported by Sesame yet; use auth.secretRef"),
            _ => invalid("exactly one of auth.secretRef and auth.oidcConfig must be specified"),
        }
    }
}

#[cfg(feature = "client")]
mod client;

#[cfg(feature = "client")]
pub use client::{DopplerClient, PROVIDER_NAME, build, build_with_base_url};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_eso_store_spec() {
        let spec: DopplerProvider = serde_json::from_value(serde_json::json!({
            "auth": {"secretRef": {"dopplerToken": {"name": "doppler-token-auth-api", "key": "dopplerToken"}}},
            "project": "auth-api", "config": "prd", "nameTransformer": "lower-snake", "format": "dotnet-json"
        }))
        .unwrap();
        assert_eq!(spec.name_transformer, Some(NameTransformer::LowerSnake));
        assert_eq!(spec.format, Some(Format::DotnetJson));
        spec.check_spec().unwrap();
        assert_eq!(spec.referent_refs(), vec!["auth.secretRef.dopplerToken"]);
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!((back["nameTransformer"].as_str(), back["format"].as_str()), (Some("lower-snake"), Some("dotnet-json")));
    }

    #[test]
    fn exactly_one_auth_method_and_oidc_is_refused_clearly() {
        let none = DopplerProvider::default().check_spec().unwrap_err().to_string();
        assert!(none.contains("exactly one"), "{none}");
        let oidc: DopplerProvider = serde_json::from_value(serde_json::json!({
            "auth": {"oidcConfig": {"identity": "id-1", "serviceAccountRef": {"name": "sa"}}}
        }))
        .unwrap();
        assert!(oidc.check_spec().unwrap_err().to_string().contains("not supported by Sesame yet"));
    }
}
