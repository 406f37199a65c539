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
    /// Kubernetes ServiceAccount tokens (TokenRequest) exchanged through a Doppler service account
    /// identity (OIDC) for a short-lived API token.
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

/// `auth.oidcConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DopplerOidcAuth {
    /// The Doppler service account identity configured for OIDC.
    pub identity: String,
    /// The Kubernetes ServiceAccount whose tokens are exchanged. Its tokens carry `audiences`
    /// (the API root when none) and the store's `secretStore:<namespace>:<name>` or
    /// `clusterSecretStore:<name>`.
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
            (None, Some(o)) => check_oidc(o),
            _ => invalid("exactly one of auth.secretRef and auth.oidcConfig must be specified"),
        }
    }
}

/// What reaches the TokenRequest and Doppler's exchange, bounded.
fn check_oidc(o: &DopplerOidcAuth) -> Result<(), ProviderError> {
    let invalid = |m: &str| Err(ProviderError::Invalid(format!("invalid store: auth.oidcConfig.{m}")));
    if o.identity.is_empty() || o.identity.len() > 256 || o.identity.chars().any(char::is_control) {
        return invalid("identity must be 1 to 256 characters without control characters");
    }
    if o.service_account_ref.name.is_empty() {
        return invalid("serviceAccountRef.name cannot be empty");
    }
    let audiences = &o.service_account_ref.audiences;
    if audiences.len() > 16 || audiences.iter().any(|a| a.is_empty() || a.len() > 512 || a.chars().any(char::is_control)) {
        return invalid("serviceAccountRef.audiences must be at most 16 non-empty audiences of at most 512 characters");
    }
    // The TokenRequest API's own bounds: at least 10 minutes, and Sesame keeps it under a day.
    if o.expiration_seconds.is_some_and(|s| !(600..=86_400).contains(&s)) {
        return invalid("expirationSeconds must be between 600 and 86400");
    }
    Ok(())
}

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod oidc;

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
    fn exactly_one_auth_method_and_an_oidc_config_is_bounded() {
        let none = DopplerProvider::default().check_spec().unwrap_err().to_string();
        assert!(none.contains("exactly one"), "{none}");
        // ESO's docs snippet.
        let oidc: DopplerProvider = serde_json::from_value(serde_json::json!({
            "auth": {"oidcConfig": {"identity": "0c7f3e1b-identity", "serviceAccountRef": {"name": "doppler-oidc-sa"}, "expirationSeconds": 600}},
            "project": "auth-api", "config": "prd"
        }))
        .unwrap();
        oidc.check_spec().unwrap();
        assert_eq!(oidc.referent_refs(), vec!["auth.oidcConfig.serviceAccountRef"]);
        let err = |f: fn(&mut DopplerOidcAuth)| {
            let mut bad = oidc.clone();
            f(bad.auth.oidc_config.as_mut().unwrap());
            bad.check_spec().unwrap_err().to_string()
        };
        assert!(err(|o| o.identity.clear()).contains("identity"));
        assert!(err(|o| o.service_account_ref.name.clear()).contains("serviceAccountRef.name"));
        assert!(err(|o| o.expiration_seconds = Some(60)).contains("expirationSeconds"));
        assert!(err(|o| o.service_account_ref.audiences = vec![String::new()]).contains("audiences"));
    }
}
