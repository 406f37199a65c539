//! The Bitwarden Secrets Manager provider: `spec.provider.bitwardensecretsmanager`,
//! field-compatible with ESO's. As in ESO, Sesame never talks to Bitwarden itself: it calls the
//! bitwarden-sdk-server (ESO's REST wrapper around Bitwarden's SDK), which logs in with the access
//! token sent on every request and decrypts the values. The server must be reached over HTTPS,
//! trusting the CA the store names.
//!
//! The configuration types are always compiled (the CRD generator needs them); the client sits
//! behind the `client` feature (default on).
#![forbid(unsafe_code)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, ProviderError, SecretKeySelector, checks, ns_ref, referent_fields};

/// Configures a store to sync secrets with a Bitwarden Secrets Manager instance, through a
/// bitwarden-sdk-server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct BitwardenSecretsManagerProvider {
    /// The Bitwarden API URL, sent to the sdk-server; empty means its default,
    /// `https://api.bitwarden.com`.
    #[serde(rename = "apiURL", default, skip_serializing_if = "String::is_empty")]
    pub api_url: String,
    /// The Bitwarden identity URL, sent to the sdk-server; empty means its default,
    /// `https://identity.bitwarden.com`.
    #[serde(rename = "identityURL", default, skip_serializing_if = "String::is_empty")]
    pub identity_url: String,
    /// The bitwarden-sdk-server's URL, e.g.
    /// `https://bitwarden-sdk-server.external-secrets.svc.cluster.local:9998`. Must be https.
    #[serde(rename = "bitwardenServerSDKURL", default, skip_serializing_if = "String::is_empty")]
    pub bitwarden_server_sdk_url: String,
    /// The CA that signed the sdk-server's certificate, as base64 of its PEM (plain PEM is taken
    /// too). The sdk-server serves HTTPS only, so the token never crosses the network in clear.
    #[serde(rename = "caBundle", default, skip_serializing_if = "String::is_empty")]
    pub ca_bundle: String,
    /// A Secret or ConfigMap holding the CA that signed the sdk-server's certificate.
    #[serde(rename = "caProvider", default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
    /// The Bitwarden organization whose secrets the store reads (a UUID).
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    /// The project a secret read by name must belong to, and where pushed secrets go (a UUID).
    #[serde(rename = "projectID")]
    pub project_id: String,
    /// How the sdk-server logs in: a machine account's access token, which needs access to the
    /// secrets read (and write access to the project for PushSecret).
    pub auth: BitwardenSecretsManagerAuth,
}

/// `auth`: the machine account's access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BitwardenSecretsManagerAuth {
    /// Where the access token is held.
    pub secret_ref: BitwardenSecretsManagerSecretRef,
}

/// `auth.secretRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BitwardenSecretsManagerSecretRef {
    /// The Secret key holding the machine account's access token.
    pub credentials: SecretKeySelector,
}

impl BitwardenSecretsManagerProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        referent_fields(&[
            ("auth.secretRef.credentials", ns_ref(Some(&self.auth.secret_ref.credentials))),
            ("caProvider", ns_ref(self.ca_provider.as_ref())),
        ])
    }

    /// The token goes to `bitwardenServerSDKURL` (https only, as ESO requires), and the
    /// sdk-server sends it on to `apiURL` / `identityURL`: plain http(s) base URLs only.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        checks::base_url("bitwardenServerSDKURL", self.sdk_url(), &["https"])?;
        for (field, url) in [("apiURL", &self.api_url), ("identityURL", &self.identity_url)] {
            if !url.is_empty() {
                checks::base_url(field, url.trim_end_matches('/'), &["https", "http"])?;
            }
        }
        Ok(())
    }

    /// ESO's store validation (the sdk-server URL is set) and what its client needs to be
    /// built: the token ref, the organization and project, and a CA to trust.
    pub fn check_spec(&self) -> Result<(), ProviderError> {
        let invalid = |m: &str| Err(ProviderError::Invalid(format!("invalid Bitwarden Secrets Manager store: {m}")));
        let token = &self.auth.secret_ref.credentials;
        if token.name.is_empty() {
            return invalid("missing spec.provider.bitwardensecretsmanager.auth.secretRef.credentials.name");
        }
        if token.key.as_deref().unwrap_or_default().is_empty() {
            return invalid("missing spec.provider.bitwardensecretsmanager.auth.secretRef.credentials.key");
        }
        if self.bitwarden_server_sdk_url.is_empty() {
            return invalid("bitwardenServerSDKURL not configured");
        }
        if !is_uuid(&self.organization_id) {
            return invalid(&format!("organizationID {:?} is not a UUID", self.organization_id));
        }
        if !is_uuid(&self.project_id) {
            return invalid(&format!("projectID {:?} is not a UUID", self.project_id));
        }
        if self.ca_bundle.trim().is_empty() && self.ca_provider.is_none() {
            return invalid("neither caBundle nor caProvider is set: the bitwarden-sdk-server serves HTTPS with its own certificate");
        }
        self.check_urls()
    }

    /// The sdk-server URL without its trailing slashes.
    pub fn sdk_url(&self) -> &str {
        self.bitwarden_server_sdk_url.trim_end_matches('/')
    }
}

/// A UUID as ESO recognises one (kube-openapi's `strfmt.IsUUID`): 32 hex digits, either case,
/// grouped 8-4-4-4-12, each dash optional. A remote key that is one is read by id.
pub fn is_uuid(s: &str) -> bool {
    let mut rest = s.as_bytes();
    for (i, len) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b"-").unwrap_or(rest);
        }
        if rest.len() < len || !rest[..len].iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        rest = &rest[len..];
    }
    rest.is_empty()
}

#[cfg(feature = "client")]
mod batch;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod extract;
#[cfg(feature = "client")]
mod find;
#[cfg(feature = "client")]
mod push;
#[cfg(feature = "client")]
mod sdk;

#[cfg(feature = "client")]
pub use client::{BitwardenClient, PROVIDER_NAME, build};

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "7c0d21ec-10d9-4972-bdf8-ec52df99cc86";
    const PROJECT: &str = "9c713cd6-728c-437a-a783-252b0773a0bb";

    fn store(v: serde_json::Value) -> BitwardenSecretsManagerProvider {
        serde_json::from_value(v).unwrap()
    }

    fn eso_docs_store() -> serde_json::Value {
        serde_json::json!({
            "apiURL": "https://api.bitwarden.com",
            "identityURL": "https://identity.bitwarden.com",
            "auth": {"secretRef": {"credentials": {"key": "token", "name": "bitwarden-access-token"}}},
            "bitwardenServerSDKURL": "https://bitwarden-sdk-server.default.svc.cluster.local:9998",
            "caBundle": "LS0tLS1CRUdJTi==",
            "organizationID": ORG,
            "projectID": PROJECT,
        })
    }

    #[test]
    fn reads_the_store_of_eso_docs_and_writes_it_back_with_eso_field_names() {
        let spec = store(eso_docs_store());
        spec.check_spec().unwrap();
        assert_eq!(spec.referent_refs(), vec!["auth.secretRef.credentials"]);
        assert_eq!(serde_json::to_value(&spec).unwrap(), eso_docs_store());
    }

    #[test]
    fn api_and_identity_urls_are_optional() {
        let mut v = eso_docs_store();
        v.as_object_mut().unwrap().remove("apiURL");
        v.as_object_mut().unwrap().remove("identityURL");
        store(v).check_spec().unwrap();
    }

    #[test]
    fn refusals_name_the_field() {
        let refusal = |patch: &dyn Fn(&mut serde_json::Value)| {
            let mut v = eso_docs_store();
            patch(&mut v);
            store(v).check_spec().unwrap_err().to_string()
        };
        assert!(refusal(&|v| v["bitwardenServerSDKURL"] = "".into()).contains("bitwardenServerSDKURL not configured"));
        assert!(refusal(&|v| v["bitwardenServerSDKURL"] = "http://sdk:9998".into()).contains("must use https"));
        assert!(refusal(&|v| v["bitwardenServerSDKURL"] = "https://u@evil:1/".into()).contains("bitwardenServerSDKURL"));
        assert!(refusal(&|v| v["identityURL"] = "https://id.example/x?y".into()).contains("identityURL"));
        assert!(refusal(&|v| v["apiURL"] = "file:///etc".into()).contains("apiURL"));
        assert!(refusal(&|v| v["organizationID"] = "".into()).contains("organizationID"));
        assert!(refusal(&|v| v["projectID"] = "my-project".into()).contains("projectID"));
        assert!(refusal(&|v| v["caBundle"] = "".into()).contains("neither caBundle nor caProvider"));
        assert!(refusal(&|v| v["auth"]["secretRef"]["credentials"]["key"] = "".into()).contains("credentials.key"));
    }

    #[test]
    fn a_ca_provider_may_stand_in_for_the_bundle_and_is_referent_without_a_namespace() {
        let mut v = eso_docs_store();
        v.as_object_mut().unwrap().remove("caBundle");
        v["caProvider"] = serde_json::json!({"type": "Secret", "name": "bitwarden-tls-certs", "key": "ca.crt"});
        let spec = store(v);
        spec.check_spec().unwrap();
        assert_eq!(spec.referent_refs(), vec!["auth.secretRef.credentials", "caProvider"]);
    }

    #[test]
    fn uuids_are_recognised_as_eso_recognises_them() {
        assert!(is_uuid("339062b8-a5a1-4303-bf1d-b1920146a622"));
        assert!(is_uuid("339062B8A5A14303BF1DB1920146A622"));
        assert!(is_uuid("339062b8-a5a14303-bf1d-b1920146a622"));
        assert!(!is_uuid("339062b8-a5a1-4303-bf1d-b1920146a62"));
        assert!(!is_uuid("339062b8-a5a1-4303-bf1d-b1920146a6222"));
        assert!(!is_uuid("339062b8--a5a1-4303-bf1d-b1920146a622"));
        assert!(!is_uuid("db-password"));
        assert!(!is_uuid(""));
    }
}
