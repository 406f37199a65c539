//! `spec.provider.vault`: field for field ESO's `VaultProvider` (external-secrets.io/v1).
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, ProviderError, SecretKeySelector, checks, ns_ref, referent_fields};

pub use crate::config_auth::{
    VaultAppRole, VaultAuth, VaultCertAuth, VaultJwtAuth, VaultKubernetesAuth, VaultKubernetesServiceAccountTokenAuth, VaultLdapAuth,
    VaultUserPassAuth,
};

/// Configures a store to sync secrets from a HashiCorp Vault or OpenBao KV secrets engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct VaultProvider {
    /// Auth configures how Sesame authenticates with the Vault server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<VaultAuth>,
    /// Server is the connection address for the Vault server, e.g: "https://vault.example.com:8200".
    pub server: String,
    /// Path is the mount path of the Vault KV backend endpoint, e.g: "secret". The v2 KV secret
    /// engine version specific "/data" path suffix for fetching secrets from Vault is optional and
    /// will be appended if not present in specified path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Version is the Vault KV secret engine version. This can be either "v1" or "v2". Version
    /// defaults to "v2".
    #[serde(default)]
    pub version: VaultKvVersion,
    /// Name of the vault namespace (Vault Enterprise / OpenBao namespaces), e.g: "ns1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// PEM encoded CA bundle used to validate Vault server certificate, base64-encoded as every
    /// byte field of a Kubernetes object. Only used if the Server URL is using HTTPS protocol.
    /// If not set the system root certificates are used to validate the TLS connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub ca_bundle: Option<String>,
    /// The configuration used for client side related TLS communication, when the Vault server
    /// requires mutual authentication. Only used if the Server URL is using HTTPS protocol.
    /// This is different from the "TLS certificates auth method", under `auth.cert`.
    #[serde(default, rename = "tls", skip_serializing_if = "VaultClientTls::is_empty")]
    pub tls: VaultClientTls,
    /// The provider for the CA bundle to use to validate Vault server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
    /// ReadYourWrites ensures isolated read-after-write semantics by providing discovered cluster
    /// replication states in each request (Vault Enterprise performance standbys). Accepted for
    /// compatibility; Sesame does not track replication states yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_your_writes: bool,
    /// ForwardInconsistent tells Vault to forward read-after-write requests to the Vault leader
    /// instead of simply retrying within a loop (sends `X-Vault-Inconsistent: forward-active-node`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_inconsistent: bool,
    /// Headers to be added in Vault request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// CheckAndSet defines the Check-And-Set (CAS) settings for PushSecret operations. Only
    /// applies to Vault KV v2 stores. When enabled, write operations must include the current
    /// version of the secret to prevent unintentional overwrites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_and_set: Option<VaultCheckAndSet>,
}

/// The Check-And-Set (CAS) settings for Vault KV v2 PushSecret operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct VaultCheckAndSet {
    /// Required when true, all write operations must include a check-and-set parameter (the
    /// version the write replaces: 0 for a new secret). This helps prevent unintentional
    /// overwrites of secrets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

impl VaultProvider {
    /// ESO's store check: check-and-set exists only on KV v2.
    pub fn check_cas(&self) -> Result<(), ProviderError> {
        match (&self.check_and_set, self.version) {
            (Some(c), VaultKvVersion::V1) if c.required => {
                Err(ProviderError::Invalid("checkAndSet is not supported with Vault KV version v1".into()))
            }
            _ => Ok(()),
        }
    }

    /// Whether pushes send `cas` (KV v2 with `checkAndSet.required`).
    pub fn cas_required(&self) -> bool {
        self.check_and_set.as_ref().is_some_and(|c| c.required)
    }
}

impl VaultProvider {
    /// The credential, CA and client-certificate refs that name no namespace (resolved per
    /// ExternalSecret namespace in a ClusterSecretStore). Every method's refs count, used or not.
    pub fn referent_refs(&self) -> Vec<&'static str> {
        let auth = self.auth.clone().unwrap_or_default();
        let sat = auth.jwt.as_ref().and_then(|j| j.kubernetes_service_account_token.as_ref());
        let iam_keys = auth.iam.as_ref().and_then(|i| i.secret_ref.as_ref());
        referent_fields(&[
            ("auth.tokenSecretRef", ns_ref(auth.token_secret_ref.as_ref())),
            ("auth.appRole.roleRef", ns_ref(auth.app_role.as_ref().and_then(|a| a.role_ref.as_ref()))),
            ("auth.appRole.secretRef", ns_ref(auth.app_role.as_ref().map(|a| &a.secret_ref))),
            ("auth.kubernetes.serviceAccountRef", ns_ref(auth.kubernetes.as_ref().and_then(|k| k.service_account_ref.as_ref()))),
            ("auth.kubernetes.secretRef", ns_ref(auth.kubernetes.as_ref().and_then(|k| k.secret_ref.as_ref()))),
            ("auth.jwt.secretRef", ns_ref(auth.jwt.as_ref().and_then(|j| j.secret_ref.as_ref()))),
            ("auth.jwt.kubernetesServiceAccountToken.serviceAccountRef", ns_ref(sat.map(|t| &t.service_account_ref))),
            ("auth.userPass.secretRef", ns_ref(auth.user_pass.as_ref().map(|u| &u.secret_ref))),
            ("auth.ldap.secretRef", ns_ref(auth.ldap.as_ref().map(|l| &l.secret_ref))),
            ("auth.iam.secretRef.accessKeyIDSecretRef", ns_ref(iam_keys.map(|k| &k.access_key_id))),
            ("auth.iam.secretRef.secretAccessKeySecretRef", ns_ref(iam_keys.map(|k| &k.secret_access_key))),
            ("auth.iam.secretRef.sessionTokenSecretRef", ns_ref(iam_keys.and_then(|k| k.session_token.as_ref()))),
            (
                "auth.iam.jwt.serviceAccountRef",
                ns_ref(auth.iam.as_ref().and_then(|i| i.jwt.as_ref()).and_then(|j| j.service_account_ref.as_ref())),
            ),
            ("auth.cert.clientCert", ns_ref(auth.cert.as_ref().map(|c| &c.client_cert))),
            ("auth.cert.secretRef", ns_ref(auth.cert.as_ref().map(|c| &c.secret_ref))),
            ("tls.certSecretRef", ns_ref(self.tls.cert_secret_ref.as_ref())),
            ("tls.keySecretRef", ns_ref(self.tls.key_secret_ref.as_ref())),
            ("caProvider", ns_ref(self.ca_provider.as_ref())),
        ])
    }

    /// How the store authenticates as the controller itself, if it does: `auth.iam` with
    /// neither `jwt` nor `secretRef` uses the controller's AWS identity.
    /// `auth.gcp` with neither `secretRef` nor `workloadIdentity` logs in as the GCE instance.
    pub fn controller_identity(&self) -> Option<&'static str> {
        let auth = self.auth.as_ref()?;
        if auth.gcp.as_ref().is_some_and(|g| g.secret_ref.is_none() && g.workload_identity.is_none()) {
            return Some("the controller's GCE metadata identity (vault auth.gcp without secretRef or workloadIdentity)");
        }
        let iam = auth.iam.as_ref()?;
        iam.uses_controller_identity().then_some("the controller's AWS credentials (vault auth.iam without secretRef or jwt)")
    }

    /// The fields that reach a URL: the server (which receives every token and credential), the
    /// KV mount and each auth method's mount.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        checks::base_url("server", self.server.trim_end_matches('/'), &["http", "https"])?;
        if let Some(path) = self.path.as_deref().filter(|p| !p.trim_matches('/').is_empty()) {
            checks::path_segments("path", path)?;
        }
        let Some(auth) = &self.auth else { return Ok(()) };
        let mounts = [
            ("auth.appRole.path", auth.app_role.as_ref().map(|a| &a.path)),
            ("auth.kubernetes.mountPath", auth.kubernetes.as_ref().map(|k| &k.mount_path)),
            ("auth.jwt.path", auth.jwt.as_ref().map(|j| &j.path)),
            ("auth.userPass.path", auth.user_pass.as_ref().map(|u| &u.path)),
            ("auth.cert.path", auth.cert.as_ref().map(|c| &c.path)),
            ("auth.ldap.path", auth.ldap.as_ref().map(|l| &l.path)),
            ("auth.iam.path", auth.iam.as_ref().and_then(|i| i.path.as_ref())),
            ("auth.gcp.path", auth.gcp.as_ref().map(|g| &g.path)),
        ];
        for (field, mount) in mounts {
            if let Some(mount) = mount {
                checks::path_segments(field, mount)?;
            }
        }
        // The region names the signed STS host.
        if let Some(region) = auth.iam.as_ref().and_then(|i| i.region.as_deref()).filter(|r| !r.is_empty()) {
            checks::host_label("auth.iam.region", region)?;
        }
        Ok(())
    }
}

/// The Vault KV secret engine version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum VaultKvVersion {
    /// KV version 1: secrets are read at `<mount>/<key>`.
    #[serde(rename = "v1")]
    V1,
    /// KV version 2: secrets are read at `<mount>/data/<key>` and are versioned.
    #[default]
    #[serde(rename = "v2")]
    V2,
}

/// Client certificate presented in the TLS handshake, when the Vault server requires mutual
/// authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct VaultClientTls {
    /// CertSecretRef is a certificate added to the transport layer when communicating with the
    /// Vault server. If no key for the Secret is specified, Sesame defaults to 'tls.crt'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<SecretKeySelector>,
    /// KeySecretRef to a key in a Secret resource containing client private key added to the
    /// transport layer when communicating with the Vault server. If no key for the Secret is
    /// specified, Sesame defaults to 'tls.key'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_secret_ref: Option<SecretKeySelector>,
}

impl VaultClientTls {
    pub fn is_empty(&self) -> bool {
        self.cert_secret_ref.is_none() && self.key_secret_ref.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eso_store_spec_parses_with_its_defaults() {
        let spec: VaultProvider = serde_json::from_value(serde_json::json!({
            "server": "http://vault:8200",
            "path": "secret",
            "auth": {"appRole": {"roleId": "r", "secretRef": {"name": "s", "key": "id"}}}
        }))
        .unwrap();
        assert_eq!(spec.version, VaultKvVersion::V2);
        let approle = spec.auth.unwrap().app_role.unwrap();
        assert_eq!(approle.path, "approle");
        assert_eq!(approle.role_id.as_deref(), Some("r"));
    }

    #[test]
    fn every_auth_method_has_eso_field_names_and_defaults() {
        let auth: VaultAuth = serde_json::from_value(serde_json::json!({
            "namespace": "team",
            "kubernetes": {"role": "r", "serviceAccountRef": {"name": "sa"}},
            "jwt": {"role": "j", "kubernetesServiceAccountToken": {
                "serviceAccountRef": {"name": "sa"}, "audiences": ["vault"], "expirationSeconds": 600}},
            "userPass": {"username": "u", "secretRef": {"name": "p"}},
            "cert": {"clientCert": {"name": "c"}, "secretRef": {"name": "k"}},
            "tokenSecretRef": {"name": "t", "key": "token"}
        }))
        .unwrap();
        assert_eq!(auth.kubernetes.unwrap().mount_path, "kubernetes");
        assert_eq!(auth.jwt.unwrap().path, "jwt");
        assert_eq!(auth.user_pass.unwrap().path, "userpass");
        assert_eq!(auth.cert.unwrap().path, "cert");
    }

    #[test]
    fn a_gce_login_is_the_controller_s_own_identity_and_named_credentials_are_not() {
        let with = |gcp: serde_json::Value| VaultProvider {
            auth: Some(serde_json::from_value(serde_json::json!({"gcp": gcp})).unwrap()),
            ..Default::default()
        };
        assert!(with(serde_json::json!({"role": "r"})).controller_identity().unwrap().contains("GCE metadata"));
        assert!(with(serde_json::json!({"role": "r", "serviceAccountRef": {"name": "sa"}})).controller_identity().is_some());
        let key = serde_json::json!({"role": "r", "secretRef": {"secretAccessKeySecretRef": {"name": "k", "key": "k"}}});
        assert_eq!(with(key).controller_identity(), None);
    }

    #[test]
    fn hostile_servers_and_mounts_are_refused() {
        let spec = |server: &str, path: &str| VaultProvider { server: server.into(), path: Some(path.into()), ..Default::default() };
        spec("http://127.0.0.1:8200", "secret").check_urls().unwrap();
        spec("https://vault.example.com:8200/", "team/kv").check_urls().unwrap();
        assert!(
            matches!(spec("https://vault@evil.example", "secret").check_urls(), Err(ProviderError::Invalid(m)) if m.contains("server"))
        );
        assert!(matches!(spec("https://evil.example#x", "secret").check_urls(), Err(ProviderError::Invalid(m)) if m.contains("server")));
        assert!(matches!(spec("https://vault", "../../sys").check_urls(), Err(ProviderError::Invalid(m)) if m.contains("path")));
        let mut login = spec("https://vault", "secret");
        login.auth = Some(
            serde_json::from_value(serde_json::json!({"userPass": {"path": "x?y#", "username": "u", "secretRef": {"name": "p"}}})).unwrap(),
        );
        assert!(matches!(login.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("auth.userPass.path")));
    }

    #[test]
    fn refs_without_a_namespace_are_referent() {
        let spec: VaultProvider = serde_json::from_value(serde_json::json!({
            "server": "http://vault:8200",
            "caProvider": {"type": "Secret", "name": "ca", "namespace": "ops"},
            "auth": {"kubernetes": {"role": "r", "serviceAccountRef": {"name": "sa"}}}
        }))
        .unwrap();
        assert_eq!(spec.referent_refs(), vec!["auth.kubernetes.serviceAccountRef"]);
        let pinned: VaultProvider = serde_json::from_value(serde_json::json!({
            "server": "http://vault:8200",
            "auth": {"tokenSecretRef": {"name": "t", "key": "token", "namespace": "ops"}}
        }))
        .unwrap();
        assert!(pinned.referent_refs().is_empty());
    }

    #[test]
    fn the_schema_names_fields_as_eso_does() {
        let schema = serde_json::to_string(&schemars::schema_for!(VaultProvider)).unwrap();
        for field in [
            "caBundle",
            "caProvider",
            "readYourWrites",
            "forwardInconsistent",
            "tokenSecretRef",
            "appRole",
            "roleRef",
            "mountPath",
            "serviceAccountRef",
            "kubernetesServiceAccountToken",
            "expirationSeconds",
            "userPass",
            "clientCert",
            "certSecretRef",
            "keySecretRef",
        ] {
            assert!(schema.contains(&format!("\"{field}\"")), "schema lacks {field}");
        }
    }
}
