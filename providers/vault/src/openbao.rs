//! `spec.provider.openBao`: ESO's separate OpenBao store. OpenBao speaks the Vault API, so the
//! Vault client serves it; the configuration is ESO's narrower `OpenBaoProvider` (token, AppRole
//! and userpass auth only) and, as in ESO, the store is read-only and finds by name only.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, ProviderError, SecretKeySelector};

use crate::{VaultAppRole, VaultAuth, VaultKvVersion, VaultProvider, VaultUserPassAuth};

/// Configures a store to sync secrets from an OpenBao KV backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct OpenBaoProvider {
    /// Auth configures how Sesame authenticates with the OpenBao server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<OpenBaoAuth>,
    /// PEM encoded CA bundle used to validate the OpenBao server certificate. If this and
    /// `caProvider` are not set the system root certificates are used to validate the TLS
    /// connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub ca_bundle: Option<String>,
    /// The provider for the CA bundle to use to validate the OpenBao server certificate. If this
    /// and `caBundle` are not set the system root certificates are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
    /// Name of the OpenBao Namespace, e.g: "ns1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Server is the connection address for the OpenBao server, e.g:
    /// `https://openbao.example.com:8200`.
    pub server: String,
    /// Path is the mount path of the OpenBao KV backend endpoint, e.g: "secret". The v2 KV secret
    /// engine version specific "/data" path suffix is optional and appended if not present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Version is the OpenBao KV secret engine version: "v1" or "v2" (the default).
    #[serde(default)]
    pub version: VaultKvVersion,
}

/// How to authenticate with OpenBao: exactly one of `appRole`, `tokenSecretRef` and `userPass`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1))]
pub struct OpenBaoAuth {
    /// AppRole authenticates with OpenBao using the App Role auth mechanism, with the role and
    /// secret stored in a Kubernetes Secret resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role: Option<VaultAppRole>,
    /// Name of the OpenBao Namespace to authenticate to. Defaults to the store's `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// TokenSecretRef authenticates with OpenBao by presenting a token. Sesame never revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeySelector>,
    /// UserPass authenticates with OpenBao by passing a username/password pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pass: Option<VaultUserPassAuth>,
}

impl OpenBaoProvider {
    /// The same store as a Vault store, which is how it is served. ESO requires exactly one auth
    /// method; so does Sesame, with a message naming the fields.
    pub fn to_vault(&self) -> Result<VaultProvider, ProviderError> {
        let auth = match &self.auth {
            Some(a) => {
                let methods =
                    usize::from(a.app_role.is_some()) + usize::from(a.token_secret_ref.is_some()) + usize::from(a.user_pass.is_some());
                if methods != 1 {
                    return Err(ProviderError::Invalid("openBao.auth must set exactly one of appRole, tokenSecretRef and userPass".into()));
                }
                Some(VaultAuth {
                    namespace: a.namespace.clone(),
                    token_secret_ref: a.token_secret_ref.clone(),
                    app_role: a.app_role.clone(),
                    user_pass: a.user_pass.clone(),
                    ..Default::default()
                })
            }
            None => None,
        };
        Ok(VaultProvider {
            auth,
            server: self.server.clone(),
            path: self.path.clone(),
            version: self.version,
            namespace: self.namespace.clone(),
            ca_bundle: self.ca_bundle.clone(),
            ca_provider: self.ca_provider.clone(),
            ..Default::default()
        })
    }

    /// The credential and CA refs that name no namespace (referent in a ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        self.to_vault().map(|v| v.referent_refs()).unwrap_or_default()
    }

    /// The server and mounts, held to the same shapes as a Vault store's.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        self.to_vault()?.check_urls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eso_openbao_store_parses_and_maps_onto_the_vault_client() {
        let spec: OpenBaoProvider = serde_json::from_value(serde_json::json!({
            "server": "https://bao.example.com:8200",
            "path": "secret",
            "namespace": "team",
            "auth": {"userPass": {"username": "u", "secretRef": {"name": "p", "key": "password"}}}
        }))
        .unwrap();
        assert_eq!(spec.version, VaultKvVersion::V2);
        let vault = spec.to_vault().unwrap();
        assert_eq!(vault.auth.as_ref().unwrap().user_pass.as_ref().unwrap().path, "userpass");
        assert_eq!(vault.namespace.as_deref(), Some("team"));
        assert_eq!(spec.referent_refs(), vec!["auth.userPass.secretRef"]);
        spec.check_urls().unwrap();
    }

    #[test]
    fn two_auth_methods_or_a_hostile_server_are_refused() {
        let both: OpenBaoProvider = serde_json::from_value(serde_json::json!({
            "server": "http://bao:8200",
            "auth": {"tokenSecretRef": {"name": "t", "key": "token"}, "appRole": {"roleId": "r", "secretRef": {"name": "s"}}}
        }))
        .unwrap();
        assert!(matches!(both.to_vault(), Err(ProviderError::Invalid(m)) if m.contains("exactly one")));
        let hostile = OpenBaoProvider { server: "https://bao@evil.example".into(), ..Default::default() };
        assert!(matches!(hostile.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("server")));
    }
}
