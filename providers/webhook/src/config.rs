//! `spec.provider.webhook`: field for field ESO's `WebhookProvider` (external-secrets.io/v1).
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, ProviderError, SecretKeySelector, checks, ns_ref, referent_fields};

/// Configures a store to sync secrets from simple web APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct WebhookProvider {
    /// Webhook method (default GET; POST for PushSecret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Webhook URL to call: a template over `.remoteRef.key`, `.remoteRef.version` and the
    /// `secrets[]` (URL-escaped). The scheme, host and port must be literal text.
    pub url: String,
    /// Headers, each value a template over the same data (not escaped).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Auth specifies an authorization protocol. Only one protocol may be set. (NTLM is accepted
    /// for compatibility and refused when the store is built.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthorizationProtocol>,
    /// Body: a template over the same data (not escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Timeout of one request, a Go duration such as `30s` (default 30s, at most 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Result formatting.
    #[serde(default)]
    pub result: WebhookResult,
    /// Secrets to fill in templates: each is available as `{{ .<name>.<key> }}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<WebhookSecret>,
    /// PEM encoded CA bundle used to validate the webhook server certificate. Only used if the
    /// URL uses HTTPS. If not set the system root certificates are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub ca_bundle: Option<String>,
    /// The provider for the CA bundle to use to validate the webhook server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

/// An authorization protocol. Only one protocol may be set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationProtocol {
    /// NTLMProtocol configures the store to use NTLM for auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntlm: Option<NtlmProtocol>,
}

/// NTLM credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NtlmProtocol {
    /// The username.
    #[serde(rename = "usernameSecret")]
    pub username_secret: SecretKeySelector,
    /// The password.
    #[serde(rename = "passwordSecret")]
    pub password_secret: SecretKeySelector,
}

/// How to extract the value from the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResult {
    /// JSON path of the return value (itself a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
}

/// A Secret whose value is passed to the templates under `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    /// Name of this secret in templates.
    pub name: String,
    /// Secret ref to fill in credentials: the key named here, or every key of the Secret when
    /// `key` is unset (as `.<name>.<key>` in templates).
    pub secret_ref: SecretKeySelector,
}

/// Scheme, host and optional port of a URL template, which must be literal: a remote key or a
/// secret value can change the path and query, never where the request (and its credentials) go.
pub(crate) fn literal_origin(url: &str) -> Result<&str, ProviderError> {
    let invalid = |why: &str| Err(ProviderError::Invalid(format!("url {url:?} {why}")));
    let Some((scheme, rest)) = url.split_once("://") else { return invalid("is not a URL (scheme://host)") };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = &url[..scheme.len() + 3 + end];
    if origin.contains("{{") || origin.contains("}}") {
        return invalid("must have a literal scheme, host and port (templates only after them)");
    }
    checks::base_url("url", origin, &["http", "https"])?;
    Ok(origin)
}

impl WebhookProvider {
    /// The credential and CA refs that name no namespace (referent in a ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        let any_secret = self.secrets.iter().find(|s| s.secret_ref.namespace.as_deref().is_none_or(str::is_empty));
        referent_fields(&[
            ("secrets[].secretRef", ns_ref(any_secret.map(|s| &s.secret_ref))),
            ("caProvider", ns_ref(self.ca_provider.as_ref())),
        ])
    }

    /// The URL's origin is literal and plain; the timeout is a duration Sesame accepts.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        literal_origin(&self.url)?;
        self.timeout()?;
        if self.auth.as_ref().is_some_and(|a| a.ntlm.is_some()) {
            return Err(ProviderError::Invalid("webhook auth.ntlm is not supported by Sesame".into()));
        }
        Ok(())
    }

    /// The request timeout: 30s by default, at most 5m.
    pub fn timeout(&self) -> Result<std::time::Duration, ProviderError> {
        let Some(text) = self.timeout.as_deref().filter(|t| !t.is_empty()) else { return Ok(std::time::Duration::from_secs(30)) };
        let d = parse_duration(text).ok_or_else(|| ProviderError::Invalid(format!("webhook timeout {text:?} is not a duration")))?;
        if d.is_zero() || d > std::time::Duration::from_secs(300) {
            return Err(ProviderError::Invalid(format!("webhook timeout {text:?} must be above 0 and at most 5m")));
        }
        Ok(d)
    }
}

/// A Go duration of `h`, `m`, `s` and `ms` parts (`1m30s`, `500ms`).
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|&n| n > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total < 1e9).then(|| std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eso_webhook_store_parses() {
        let spec: WebhookProvider = serde_json::from_value(serde_json::json!({
            "url": "https://api.example.com/secrets/{{ .remoteRef.key }}?v={{ .remoteRef.version }}",
            "method": "GET", "headers": {"Authorization": "Bearer {{ .creds.token }}"}, "timeout": "1m30s",
            "result": {"jsonPath": "$.value"},
            "secrets": [{"name": "creds", "secretRef": {"name": "api", "key": "token"}}]
        }))
        .unwrap();
        spec.check_urls().unwrap();
        assert_eq!(spec.timeout().unwrap(), std::time::Duration::from_secs(90));
        assert_eq!(spec.referent_refs(), vec!["secrets[].secretRef"]);
    }

    #[test]
    fn the_origin_must_be_literal_and_plain() {
        for url in
            ["https://{{ .remoteRef.key }}/x", "https://api.example.com{{ .remoteRef.key }}/x", "https://u@evil.example/x", "ftp://x/y"]
        {
            assert!(literal_origin(url).is_err(), "{url}");
        }
        assert_eq!(literal_origin("http://127.0.0.1:8080/a/{{ .remoteRef.key }}").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(literal_origin("https://api.example.com?k={{ .remoteRef.key }}").unwrap(), "https://api.example.com");
    }

    #[test]
    fn timeouts_are_go_durations_within_bounds() {
        let with = |t: &str| WebhookProvider { url: "http://x".into(), timeout: Some(t.into()), ..Default::default() }.timeout();
        assert_eq!(with("500ms").unwrap(), std::time::Duration::from_millis(500));
        assert!(with("10h").is_err());
        assert!(with("soon").is_err());
        assert!(with("0s").is_err());
    }
}
