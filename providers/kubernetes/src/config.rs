//! `spec.provider.kubernetes`: field for field ESO's `KubernetesProvider` (external-secrets.io/v1).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, ProviderError, SecretKeySelector, ServiceAccountSelector, checks, ns_ref, referent_fields};

/// Configures a store to sync secrets with a Kubernetes instance: Secrets of another namespace
/// of this cluster, or of another cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesProvider {
    /// Configures the Kubernetes server address.
    #[serde(default)]
    pub server: KubernetesServer,
    /// Auth configures how Sesame authenticates with a Kubernetes instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KubernetesAuth>,
    /// A reference to a Secret that contains the auth information: a kubeconfig. Sesame refuses
    /// kubeconfigs that run a command (`exec`), use an auth provider plugin or name local files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_ref: Option<SecretKeySelector>,
    /// Remote namespace to fetch the secrets from.
    #[serde(default = "default_namespace")]
    #[schemars(extend("minLength" = 1, "maxLength" = 63, "pattern" = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub remote_namespace: String,
}

fn default_namespace() -> String {
    "default".into()
}

fn default_url() -> String {
    "kubernetes.default".into()
}

/// Where the Kubernetes API server is and which CA signs its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesServer {
    /// Configures the Kubernetes server address (`https://` is assumed when no scheme is given).
    #[serde(default = "default_url")]
    pub url: String,
    /// CABundle is a base64-encoded CA certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub ca_bundle: Option<String>,
    /// The provider for the CA bundle to use to validate the server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

impl Default for KubernetesServer {
    fn default() -> Self {
        KubernetesServer { url: default_url(), ca_bundle: None, ca_provider: None }
    }
}

/// How to authenticate with a Kubernetes instance: exactly one method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct KubernetesAuth {
    /// Has both clientCert and clientKey as secretKeySelector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertAuth>,
    /// Use a static token to authenticate with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenAuth>,
    /// Points to a service account that should be used for authentication: its token is
    /// requested with the TokenRequest API (audiences as listed, valid one hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSelector>,
}

/// Client certificate authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertAuth {
    /// The PEM client certificate.
    pub client_cert: SecretKeySelector,
    /// The PEM private key of the client certificate.
    pub client_key: SecretKeySelector,
}

/// Bearer token authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenAuth {
    /// The bearer token.
    pub bearer_token: SecretKeySelector,
}

impl KubernetesProvider {
    /// The server URL with ESO's default scheme applied (client-go assumes https).
    pub fn server_url(&self) -> String {
        let url = self.server.url.trim_end_matches('/');
        if url.contains("://") { url.to_string() } else { format!("https://{url}") }
    }

    /// The credential and CA refs that name no namespace (referent in a ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        let auth = self.auth.clone().unwrap_or_default();
        referent_fields(&[
            ("auth.cert.clientCert", ns_ref(auth.cert.as_ref().map(|c| &c.client_cert))),
            ("auth.cert.clientKey", ns_ref(auth.cert.as_ref().map(|c| &c.client_key))),
            ("auth.token.bearerToken", ns_ref(auth.token.as_ref().map(|t| &t.bearer_token))),
            ("auth.serviceAccount", ns_ref(auth.service_account.as_ref())),
            ("authRef", ns_ref(self.auth_ref.as_ref())),
            ("server.caProvider", ns_ref(self.server.ca_provider.as_ref())),
        ])
    }

    /// The server receives the store's credentials: it is held to a plain URL, and the auth
    /// section to ESO's rules (exactly one method, or a kubeconfig, never both).
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        if self.auth_ref.is_none() {
            checks::base_url("server.url", &self.server_url(), &["https", "http"])?;
        }
        self.check_auth()?;
        Ok(())
    }

    pub(crate) fn check_auth(&self) -> Result<(), ProviderError> {
        match (&self.auth, &self.auth_ref) {
            (Some(_), Some(_)) => Err(ProviderError::Invalid("kubernetes: authRef and auth cannot both be set".into())),
            (None, None) => Err(ProviderError::Invalid("kubernetes: no auth provider given (set auth or authRef)".into())),
            (Some(a), None) => {
                let set = usize::from(a.cert.is_some()) + usize::from(a.token.is_some()) + usize::from(a.service_account.is_some());
                if set == 1 {
                    Ok(())
                } else {
                    Err(ProviderError::Invalid("kubernetes.auth must set exactly one of token, serviceAccount and cert".into()))
                }
            }
            (None, Some(_)) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> KubernetesProvider {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn an_eso_store_parses_with_its_defaults() {
        let s = spec(serde_json::json!({"auth": {"token": {"bearerToken": {"name": "t", "key": "token"}}}}));
        assert_eq!(s.remote_namespace, "default");
        assert_eq!(s.server.url, "kubernetes.default");
        assert_eq!(s.server_url(), "https://kubernetes.default");
        s.check_urls().unwrap();
        assert_eq!(s.referent_refs(), vec!["auth.token.bearerToken"]);
    }

    #[test]
    fn auth_needs_exactly_one_method_or_a_kubeconfig() {
        let none = spec(serde_json::json!({}));
        assert!(matches!(none.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("no auth")));
        let both = spec(serde_json::json!({"authRef": {"name": "kc"}, "auth": {"serviceAccount": {"name": "sa"}}}));
        assert!(matches!(both.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("both")));
        let two = spec(serde_json::json!({"auth": {"serviceAccount": {"name": "sa"}, "token": {"bearerToken": {"name": "t"}}}}));
        assert!(matches!(two.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("exactly one")));
    }

    #[test]
    fn a_hostile_server_url_is_refused() {
        for url in ["https://user@evil.example", "https://evil.example/#x", "https://k8s/api?x=1", "file:///etc/passwd"] {
            let s = spec(serde_json::json!({"server": {"url": url}, "auth": {"serviceAccount": {"name": "sa"}}}));
            assert!(matches!(s.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("server.url")), "{url}");
        }
    }
}
