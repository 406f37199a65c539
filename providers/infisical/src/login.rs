//! What each machine-identity login sends. Universal, JWT, LDAP and Token Auth read their
//! credentials from Secrets, GCP IAM and OCI Auth sign with a key from a Secret (`gcp_iam.rs`,
//! `oci.rs`); Kubernetes, Azure, GCP ID token and AWS Auth prove the controller's
//! own identity (its ServiceAccount token file, its managed identity, its metadata server, its
//! AWS credentials), fetched afresh at every login (`ambient.rs`), as ESO's SDK does.
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};
use sesame_provider_core::{CredentialSource, ProviderContext, ProviderError, SecretKeySelector};

use crate::Method;
use crate::ambient::{self, Ambient};
use crate::gcp_iam::{self, KeySource};
use crate::keys::RsaKey;
use crate::oci::OciKey;

/// ESO's (and the SDK's) token file when `serviceAccountTokenPath` is not set.
pub(crate) const DEFAULT_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The Azure resource the managed identity token is for when the store names none (the SDK's).
pub(crate) const DEFAULT_AZURE_RESOURCE: &str = "https://management.azure.com/";

/// A login method and the credentials read for it.
#[derive(Clone)]
pub(crate) enum Login {
    Universal { client_id: String, client_secret: String },
    Jwt { identity_id: String, jwt: String },
    Ldap { identity_id: String, username: String, password: String },
    Token(String),
    Kubernetes { identity_id: String, token_path: String },
    Azure { identity_id: String, resource: String },
    GcpIdToken { identity_id: String },
    Aws { identity_id: String },
    GcpIam { identity_id: String, key: KeySource },
    Oci { identity_id: String, key: Arc<OciKey> },
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.call())
    }
}

async fn text(creds: &dyn CredentialSource, sel: &SecretKeySelector, field: &str) -> Result<String, ProviderError> {
    let bytes = creds.secret_key(sel, None).await?.into_bytes();
    let value = String::from_utf8(bytes).map_err(|_| ProviderError::Invalid(format!("{field} is not UTF-8 text")))?;
    let value = value.trim().to_string();
    if value.is_empty() || value.len() > 64 * 1024 || value.chars().any(char::is_control) {
        return Err(ProviderError::Invalid(format!("{field} is empty, longer than 64 KiB or holds control characters")));
    }
    Ok(value)
}

/// A multi-line value (key JSON, PEM), at most 64 KiB.
async fn document(creds: &dyn CredentialSource, sel: &SecretKeySelector, field: &str) -> Result<String, ProviderError> {
    let bytes = creds.secret_key(sel, None).await?.into_bytes();
    let value = String::from_utf8(bytes).map_err(|_| ProviderError::Invalid(format!("{field} is not UTF-8 text")))?;
    if value.trim().is_empty() || value.len() > 64 * 1024 {
        return Err(ProviderError::Invalid(format!("{field} is empty or longer than 64 KiB")));
    }
    Ok(value)
}

/// An optional ref, read only when it names a Secret (ESO skips an empty name).
async fn optional(creds: &dyn CredentialSource, sel: Option<&SecretKeySelector>, field: &str) -> Result<Option<String>, ProviderError> {
    match sel.filter(|s| !s.name.is_empty()) {
        Some(sel) => text(creds, sel, field).await.map(Some),
        None => Ok(None),
    }
}

impl Login {
    /// Read the credentials of the store's method.
    pub(crate) async fn read(method: Method<'_>, creds: &dyn CredentialSource) -> Result<Login, ProviderError> {
        Ok(match method {
            Method::Universal(u) => Login::Universal {
                client_id: text(creds, &u.client_id, "universalAuthCredentials.clientId").await?,
                client_secret: text(creds, &u.client_secret, "universalAuthCredentials.clientSecret").await?,
            },
            Method::Jwt(j) => Login::Jwt {
                identity_id: text(creds, &j.identity_id, "jwtAuthCredentials.identityId").await?,
                jwt: text(creds, &j.jwt, "jwtAuthCredentials.jwt").await?,
            },
            Method::Ldap(l) => Login::Ldap {
                identity_id: text(creds, &l.identity_id, "ldapAuthCredentials.identityId").await?,
                username: text(creds, &l.ldap_username, "ldapAuthCredentials.ldapUsername").await?,
                password: text(creds, &l.ldap_password, "ldapAuthCredentials.ldapPassword").await?,
            },
            Method::Token(t) => Login::Token(text(creds, &t.access_token, "tokenAuthCredentials.accessToken").await?),
            Method::Kubernetes(k) => {
                let path = optional(creds, k.service_account_token_path.as_ref(), "kubernetesAuthCredentials.serviceAccountTokenPath");
                let token_path = path.await?.unwrap_or_else(|| DEFAULT_TOKEN_PATH.to_string());
                ambient::check_token_path(&token_path)?;
                Login::Kubernetes { identity_id: text(creds, &k.identity_id, "kubernetesAuthCredentials.identityId").await?, token_path }
            }
            Method::Azure(a) => Login::Azure {
                identity_id: text(creds, &a.identity_id, "azureAuthCredentials.identityId").await?,
                resource: optional(creds, a.resource.as_ref(), "azureAuthCredentials.resource")
                    .await?
                    .unwrap_or_else(|| DEFAULT_AZURE_RESOURCE.to_string()),
            },
            Method::GcpIdToken(g) => {
                Login::GcpIdToken { identity_id: text(creds, &g.identity_id, "gcpIdTokenAuthCredentials.identityId").await? }
            }
            Method::Aws(a) => Login::Aws { identity_id: text(creds, &a.identity_id, "awsAuthCredentials.identityId").await? },
            Method::GcpIam(g) => Login::GcpIam {
                identity_id: text(creds, &g.identity_id, "gcpIamAuthCredentials.identityId").await?,
                key: gcp_iam::key_source(
                    &document(creds, &g.service_account_key_file_path, "gcpIamAuthCredentials.serviceAccountKeyFilePath").await?,
                )?,
            },
            Method::Oci(o) => {
                let passphrase = optional(creds, o.private_key_passphrase.as_ref(), "ociAuthCredentials.privateKeyPassphrase").await?;
                let pem = document(creds, &o.private_key, "ociAuthCredentials.privateKey").await?;
                let key = RsaKey::from_pem(&pem, passphrase.as_deref(), "ociAuthCredentials.privateKey")?;
                let key = OciKey::new(
                    key,
                    text(creds, &o.fingerprint, "ociAuthCredentials.fingerprint").await?,
                    text(creds, &o.user_id, "ociAuthCredentials.userId").await?,
                    text(creds, &o.tenancy_id, "ociAuthCredentials.tenancyId").await?,
                    text(creds, &o.region, "ociAuthCredentials.region").await?,
                )?;
                Login::Oci { identity_id: text(creds, &o.identity_id, "ociAuthCredentials.identityId").await?, key: Arc::new(key) }
            }
        })
    }

    /// ESO's name for the call (the `call` label of the API metrics).
    pub(crate) fn call(&self) -> &'static str {
        match self {
            Login::Universal { .. } => "MachineIdentityLoginViaUniversalAuth",
            Login::Jwt { .. } => "MachineIdentityLoginViaJwtAuth",
            Login::Ldap { .. } => "MachineIdentityLoginViaLdapAuth",
            Login::Token(_) => "MachineIdentityLoginViaTokenAuth",
            Login::Kubernetes { .. } => "MachineIdentityLoginViaKubernetesAuth",
            Login::Azure { .. } => "MachineIdentityLoginViaAzureAuth",
            Login::GcpIdToken { .. } => "MachineIdentityLoginViaGcpIdTokenAuth",
            Login::Aws { .. } => "MachineIdentityLoginViaAwsAuth",
            Login::GcpIam { .. } => "MachineIdentityLoginViaGcpServiceAccountAuth",
            Login::Oci { .. } => "MachineIdentityLoginViaOciAuth",
        }
    }

    pub(crate) fn path(&self) -> &'static str {
        match self {
            Login::Universal { .. } => "/v1/auth/universal-auth/login",
            Login::Jwt { .. } => "/v1/auth/jwt-auth/login",
            Login::Ldap { .. } => "/v1/auth/ldap-auth/login",
            Login::Token(_) => "",
            Login::Kubernetes { .. } => "/v1/auth/kubernetes-auth/login",
            Login::Azure { .. } => "/v1/auth/azure-auth/login",
            Login::GcpIdToken { .. } => "/v1/auth/gcp-auth/login",
            Login::Aws { .. } => "/v1/auth/aws-auth/login",
            Login::GcpIam { .. } => "/v1/auth/gcp-auth/login",
            Login::Oci { .. } => "/v1/auth/oci-auth/login",
        }
    }

    /// The login's body, with the proof of identity fetched now for the ambient methods.
    pub(crate) async fn body(&self, organization: &str, ambient: &Ambient, ctx: &ProviderContext) -> Result<Value, ProviderError> {
        let mut body = match self {
            Login::Universal { client_id, client_secret } => json!({"clientId": client_id, "clientSecret": client_secret}),
            Login::Jwt { identity_id, jwt } => json!({"identityId": identity_id, "jwt": jwt}),
            Login::Ldap { identity_id, username, password } => {
                json!({"identityId": identity_id, "username": username, "password": password})
            }
            Login::Token(_) => json!({}),
            Login::Kubernetes { identity_id, token_path } => {
                json!({"identityId": identity_id, "jwt": ambient::token_file(token_path).await?})
            }
            Login::Azure { identity_id, resource } => {
                json!({"identityId": identity_id, "jwt": ambient.azure_token(resource).await?})
            }
            Login::GcpIdToken { identity_id } => json!({"identityId": identity_id, "jwt": ambient.gcp_id_token(identity_id).await?}),
            Login::Aws { identity_id } => {
                let mut signed = ambient.aws_signed_identity(ctx).await?;
                signed["identityId"] = json!(identity_id);
                signed
            }
            Login::GcpIam { identity_id, key } => {
                json!({"identityId": identity_id, "jwt": gcp_iam::signed_jwt(key, identity_id, ambient).await?})
            }
            Login::Oci { identity_id, key } => {
                json!({"identityId": identity_id, "userOcid": key.user_id, "headers": key.signed_headers(SystemTime::now())?})
            }
        };
        if !organization.is_empty() {
            body["organizationSlug"] = json!(organization);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_credentials() {
        let login = Login::Universal { client_id: "id".into(), client_secret: "very-secret".into() };
        assert_eq!(format!("{login:?}"), "MachineIdentityLoginViaUniversalAuth");
        let k = Login::Kubernetes { identity_id: "id".into(), token_path: DEFAULT_TOKEN_PATH.into() };
        assert_eq!((k.call(), k.path()), ("MachineIdentityLoginViaKubernetesAuth", "/v1/auth/kubernetes-auth/login"));
    }
}
