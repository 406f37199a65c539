//! `WebhookSpec`: field for field ESO's `generators.external-secrets.io/v1alpha1` Webhook.
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, SecretKeySelector};
use sesame_provider_webhook::{AuthorizationProtocol, WebhookProvider, WebhookResult};

/// WebhookSpec controls the behavior of the external generator. Any body parameters should be
/// passed to the server through the parameters field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    /// Webhook Method (default GET).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// Webhook url to call: a template over the `secrets[]` (values URL-escaped). The scheme,
    /// host and port must be literal text.
    pub url: String,
    /// Headers, each value a template over the `secrets[]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Auth specifies a authorization protocol. Only one protocol may be set. (NTLM is accepted
    /// for compatibility and refused when the generator is used.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthorizationProtocol>,
    /// Body: a template over the `secrets[]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// Timeout of the request, a Go duration such as `30s` (default 30s, at most 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Result formatting: `jsonPath` picks the object whose members become the output keys.
    pub result: WebhookResult,
    /// Secrets to fill in templates. These secrets will be passed to the templating function as
    /// key value pairs under the given name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<WebhookSecret>,
    /// PEM encoded CA bundle used to validate webhook server certificate. Only used if the Server
    /// URL is using HTTPS protocol. If not set the system root certificates are used to validate
    /// the TLS connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub ca_bundle: Option<String>,
    /// The provider for the CA bundle to use to validate webhook server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

/// A Secret whose value is passed to the templates under `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    /// Name of this secret in templates.
    pub name: String,
    /// Secret ref to fill in credentials (in the generator's namespace).
    pub secret_ref: WebhookSecretKeySelector,
}

/// A key of a Secret in the generator's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookSecretKeySelector {
    /// The name of the Secret resource being referred to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub name: String,
    /// The key where the token is found. Sesame requires it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

impl WebhookSpec {
    /// The same request as a Webhook store's: the provider crate's checks and client apply.
    pub fn as_provider(&self) -> WebhookProvider {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        WebhookProvider {
            method: some(&self.method),
            url: self.url.clone(),
            headers: self.headers.clone(),
            auth: self.auth.clone(),
            body: some(&self.body),
            timeout: self.timeout.clone(),
            result: self.result.clone(),
            secrets: self
                .secrets
                .iter()
                .map(|s| sesame_provider_webhook::WebhookSecret {
                    name: s.name.clone(),
                    // No namespace: a generator's Secrets are in its own namespace.
                    secret_ref: SecretKeySelector { name: s.secret_ref.name.clone(), key: some(&s.secret_ref.key), namespace: None },
                })
                .collect(),
            ca_bundle: self.ca_bundle.clone(),
            ca_provider: self.ca_provider.clone(),
        }
    }
}
