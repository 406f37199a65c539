//! `spec.provider.vault.auth`: ESO's `VaultAuth` and its methods (token, AppRole, Kubernetes,
//! LDAP, JWT, userpass, TLS certificate; AWS IAM in `config_auth_cloud`).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{SecretKeySelector, ServiceAccountSelector};

use crate::config_auth_cloud::{VaultGcpAuth, VaultIamAuth};

/// How to authenticate with the Vault server. Exactly one method should be set; a
/// namespace to authenticate against can optionally be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct VaultAuth {
    /// Name of the vault namespace to authenticate to. This can be different than the namespace
    /// your secret is in. Defaults to the store's `namespace` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// TokenSecretRef authenticates with Vault by presenting a token. Sesame never revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeySelector>,
    /// AppRole authenticates with Vault using the App Role auth mechanism, with the role and
    /// secret stored in a Kubernetes Secret resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role: Option<VaultAppRole>,
    /// Kubernetes authenticates with Vault by passing a ServiceAccount token (from the
    /// TokenRequest API or a Secret) to the Vault server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<VaultKubernetesAuth>,
    /// Ldap authenticates with Vault by passing username/password pair using the LDAP
    /// authentication method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<VaultLdapAuth>,
    /// Jwt authenticates with Vault by passing role and JWT token using the JWT/OIDC
    /// authentication method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<VaultJwtAuth>,
    /// UserPass authenticates with Vault by passing username/password pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pass: Option<VaultUserPassAuth>,
    /// Cert authenticates with TLS Certificates by passing client certificate and private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<VaultCertAuth>,
    /// Iam authenticates with Vault by passing a special AWS request signed with AWS IAM
    /// credentials (the AWS IAM authentication method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<VaultIamAuth>,
    /// Gcp authenticates with Vault using the Google Cloud Platform authentication method. Not
    /// supported by Sesame yet: a store naming it is refused with a clear condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<VaultGcpAuth>,
}

fn approle() -> String {
    "approle".into()
}
fn kubernetes() -> String {
    "kubernetes".into()
}
fn jwt() -> String {
    "jwt".into()
}
fn userpass() -> String {
    "userpass".into()
}
fn cert() -> String {
    "cert".into()
}
fn ldap() -> String {
    "ldap".into()
}

/// AppRole login: role ID (inline or from a Secret) and secret ID from a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultAppRole {
    /// Path where the App Role authentication backend is mounted in Vault, e.g: "approle".
    #[serde(default = "approle")]
    pub path: String,
    /// RoleID configured in the App Role authentication backend when setting up the
    /// authentication backend in Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// Reference to a key in a Secret that contains the App Role ID used to authenticate with
    /// Vault. The `key` field must be specified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ref: Option<SecretKeySelector>,
    /// Reference to a key in a Secret that contains the App Role secret used to authenticate
    /// with Vault. The `key` field must be specified.
    pub secret_ref: SecretKeySelector,
}

/// Kubernetes login: a ServiceAccount token that Vault verifies with the TokenReview API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesAuth {
    /// Path where the Kubernetes authentication backend is mounted in Vault, e.g: "kubernetes".
    #[serde(default = "kubernetes")]
    pub mount_path: String,
    /// The ServiceAccount whose token (from the TokenRequest API, valid 10 minutes) is presented
    /// to Vault. Takes precedence over `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
    /// A Secret holding a ServiceAccount JWT. If a name is specified without a key, `token` is
    /// the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// The Vault role to assume. A role binds a Kubernetes ServiceAccount with a set of Vault
    /// policies.
    pub role: String,
}

/// LDAP login: a username and a password from a Secret, checked by Vault against its LDAP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultLdapAuth {
    /// Path where the LDAP authentication backend is mounted in Vault, e.g: "ldap".
    #[serde(default = "ldap")]
    pub path: String,
    /// Username is an LDAP username used to authenticate using the LDAP Vault authentication
    /// method.
    pub username: String,
    /// SecretRef to a key in a Secret resource containing password for the LDAP user used to
    /// authenticate with Vault using the LDAP authentication method.
    #[serde(default)]
    pub secret_ref: SecretKeySelector,
}

/// JWT/OIDC login with a JWT from a Secret or minted with the TokenRequest API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultJwtAuth {
    /// Path where the JWT authentication backend is mounted in Vault, e.g: "jwt".
    #[serde(default = "jwt")]
    pub path: String,
    /// Role is a JWT role to authenticate using the JWT/OIDC Vault authentication method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A Secret holding the JWT to authenticate with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// The Kubernetes ServiceAccount to request a token for with the TokenRequest API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_service_account_token: Option<VaultKubernetesServiceAccountTokenAuth>,
}

/// A temporary ServiceAccount token from the TokenRequest API, used as a JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesServiceAccountTokenAuth {
    /// The ServiceAccount to request a token for.
    pub service_account_ref: ServiceAccountSelector,
    /// Audiences of the requested token. Defaults to a single audience `vault`.
    /// Deprecated: use serviceAccountRef.audiences instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    /// Lifetime of the requested token in seconds. Defaults to 10 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
}

/// Userpass login: a username and a password from a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultUserPassAuth {
    /// Path where the UserPassword authentication backend is mounted in Vault, e.g: "userpass".
    #[serde(default = "userpass")]
    pub path: String,
    /// Username used to authenticate.
    pub username: String,
    /// SecretRef to a key in a Secret resource containing the password.
    #[serde(default)]
    pub secret_ref: SecretKeySelector,
}

/// TLS certificate login: the client certificate and key are presented in the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultCertAuth {
    /// Path where the Certificate authentication backend is mounted in Vault, e.g: "cert".
    #[serde(default = "cert")]
    pub path: String,
    /// VaultRole specifies the Vault role to use for TLS certificate authentication (sent as
    /// `name`); unset, Vault tries every role the certificate matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_role: Option<String>,
    /// ClientCert is a certificate to authenticate using the Cert Vault authentication method
    /// (PEM; key `tls.crt` when the selector names none).
    #[serde(default)]
    pub client_cert: SecretKeySelector,
    /// SecretRef to a key in a Secret resource containing the client private key (PEM; key
    /// `tls.key` when the selector names none).
    #[serde(default)]
    pub secret_ref: SecretKeySelector,
}
