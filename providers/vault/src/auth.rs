//! Logging in: each `auth` method turned into a Vault token. Credentials are read through the
//! [`CredentialSource`] at login time, so a rotated Secret is picked up by the next login.
use std::time::Duration;

use rustify::Endpoint;
use rustify::enums::{RequestMethod, RequestType, ResponseType};
use serde_json::{Value, json};
use sesame_provider_core::{CredentialSource, ProviderContext, ProviderError, SecretKeySelector};
use vaultrs::api::AuthInfo;
use vaultrs::client::VaultClient;

use crate::errors::classify;
use crate::transport::Token;
use crate::{VaultAuth, VaultGcpAuth, VaultIamAuth, VaultJwtAuth, VaultKubernetesAuth};

/// What a login gave us.
#[derive(Debug)]
pub(crate) struct Login {
    pub token: Token,
    /// Zero means the token does not expire.
    pub lease: Duration,
    pub renewable: bool,
    /// Logged in by Sesame (revoked on close), as opposed to a `tokenSecretRef` token.
    pub owned: bool,
}

impl Login {
    fn from_auth(info: AuthInfo) -> Self {
        Login { token: Token(info.client_token), lease: Duration::from_secs(info.lease_duration), renewable: info.renewable, owned: true }
    }
}

/// The configured method, checked once at build time.
#[derive(Debug, Clone)]
pub(crate) enum Method {
    Token(SecretKeySelector),
    AppRole { mount: String, role_id: RoleId, secret: SecretKeySelector },
    Kubernetes(VaultKubernetesAuth),
    Jwt(VaultJwtAuth),
    UserPass { mount: String, username: String, password: SecretKeySelector },
    Ldap { mount: String, username: String, password: SecretKeySelector },
    Cert { mount: String, role: Option<String> },
    Iam(Box<VaultIamAuth>),
    Gcp(Box<VaultGcpAuth>),
}

/// `POST auth/<mount>/login[/<user>]` with a JSON body: the login calls vaultrs has no endpoint
/// for (LDAP) or sends with other field names (cert sends `cert_name`, Vault reads `name`).
struct JsonLogin {
    path: String,
    body: Value,
}

impl Endpoint for JsonLogin {
    type Response = ();
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        self.path.clone()
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::POST
    }

    fn body(&self) -> Result<Option<Vec<u8>>, rustify::errors::ClientError> {
        Ok(Some(serde_json::to_vec(&self.body).unwrap_or_default()))
    }
}

pub(crate) async fn json_login(session: &VaultClient, path: String, body: Value) -> Result<AuthInfo, vaultrs::error::ClientError> {
    vaultrs::api::auth(session, JsonLogin { path, body }).await
}

#[derive(Debug, Clone)]
pub(crate) enum RoleId {
    Inline(String),
    Ref(SecretKeySelector),
}

impl Method {
    pub(crate) fn from_spec(auth: Option<&VaultAuth>) -> Result<Method, ProviderError> {
        let Some(auth) = auth else {
            return Err(ProviderError::Invalid("vault store has no auth section".into()));
        };
        let mut methods: Vec<Method> = Vec::new();
        if let Some(g) = &auth.gcp {
            if g.role.trim().is_empty() {
                return Err(ProviderError::Invalid("gcp auth needs role".into()));
            }
            methods.push(Method::Gcp(Box::new(g.clone())));
        }
        if let Some(t) = &auth.token_secret_ref {
            methods.push(Method::Token(t.clone()));
        }
        if let Some(a) = &auth.app_role {
            let role_id = match (a.role_id.as_deref().filter(|r| !r.is_empty()), &a.role_ref) {
                (Some(id), _) => RoleId::Inline(id.to_string()),
                (None, Some(r)) => RoleId::Ref(r.clone()),
                (None, None) => {
                    return Err(ProviderError::Invalid("appRole needs roleId or roleRef".into()));
                }
            };
            methods.push(Method::AppRole { mount: a.path.clone(), role_id, secret: a.secret_ref.clone() });
        }
        if let Some(k) = &auth.kubernetes {
            if k.service_account_ref.is_none() && k.secret_ref.is_none() {
                return Err(ProviderError::Invalid(
                    "kubernetes auth needs serviceAccountRef or secretRef: Sesame does not lend its own ServiceAccount token to a store"
                        .into(),
                ));
            }
            methods.push(Method::Kubernetes(k.clone()));
        }
        if let Some(j) = &auth.jwt {
            if j.secret_ref.is_none() && j.kubernetes_service_account_token.is_none() {
                return Err(ProviderError::Invalid(
                    "neither `secretRef` nor `kubernetesServiceAccountToken` was supplied as token source for jwt authentication".into(),
                ));
            }
            methods.push(Method::Jwt(j.clone()));
        }
        if let Some(u) = &auth.user_pass {
            methods.push(Method::UserPass { mount: u.path.clone(), username: u.username.clone(), password: u.secret_ref.clone() });
        }
        if let Some(l) = &auth.ldap {
            if l.username.trim().is_empty() || l.username.contains('/') {
                return Err(ProviderError::Invalid("ldap auth needs a username without '/' (it is a segment of the login path)".into()));
            }
            methods.push(Method::Ldap { mount: l.path.clone(), username: l.username.clone(), password: l.secret_ref.clone() });
        }
        if let Some(c) = &auth.cert {
            let role = c.vault_role.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
            methods.push(Method::Cert { mount: c.path.clone(), role });
        }
        if let Some(i) = &auth.iam {
            if i.vault_role.trim().is_empty() {
                return Err(ProviderError::Invalid("iam auth needs vaultRole".into()));
            }
            if i.jwt.as_ref().is_some_and(|j| j.service_account_ref.is_none()) {
                return Err(ProviderError::Invalid("iam auth: jwt needs serviceAccountRef".into()));
            }
            methods.push(Method::Iam(Box::new(i.clone())));
        }
        match methods.len() {
            1 => Ok(methods.remove(0)),
            0 => Err(ProviderError::Invalid(
                "vault auth names no method Sesame supports (tokenSecretRef, appRole, kubernetes, ldap, jwt, userPass, cert, iam, gcp)"
                    .into(),
            )),
            _ => Err(ProviderError::Invalid("vault auth must name exactly one method".into())),
        }
    }

    /// The `Login` call label and a short description for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Method::Token(s) => format!("token from secret {}", s.name),
            Method::AppRole { mount, .. } => format!("approle login at auth/{mount}"),
            Method::Kubernetes(k) => format!("kubernetes login at auth/{} as role {}", k.mount_path, k.role),
            Method::Jwt(j) => format!("jwt login at auth/{}", j.path),
            Method::UserPass { mount, username, .. } => format!("userpass login at auth/{mount} as {username}"),
            Method::Ldap { mount, username, .. } => format!("ldap login at auth/{mount} as {username}"),
            Method::Cert { mount, role: None } => format!("cert login at auth/{mount}"),
            Method::Cert { mount, role: Some(role) } => format!("cert login at auth/{mount} as role {role}"),
            Method::Iam(i) => format!("aws iam login at auth/{} as role {}", i.mount(), i.vault_role),
            Method::Gcp(g) => format!("gcp login at auth/{} as role {}", g.path, g.role),
        }
    }

    pub(crate) fn is_login(&self) -> bool {
        !matches!(self, Method::Token(_))
    }

    /// Obtain a token. `session` carries no token and is in the auth namespace.
    pub(crate) async fn login(&self, session: &VaultClient, ctx: &ProviderContext) -> Result<Login, ProviderError> {
        let creds = ctx.credentials.as_ref();
        let what = self.describe();
        let text = |v: sesame_provider_core::SecretValue, name: &str| {
            String::from_utf8(v.into_bytes())
                .map(|s| s.trim().to_string())
                .map_err(|_| ProviderError::Invalid(format!("{what}: the value in secret {name} is not UTF-8")))
        };
        let result = match self {
            Method::Token(sel) => {
                let token = text(creds.secret_key(sel, None).await?, &sel.name)?;
                if token.is_empty() {
                    return Err(ProviderError::Auth(format!("{what}: the token is empty")));
                }
                return Ok(Login { token: Token(token), lease: Duration::ZERO, renewable: false, owned: false });
            }
            Method::AppRole { mount, role_id, secret } => {
                let role_id = match role_id {
                    RoleId::Inline(id) => id.clone(),
                    RoleId::Ref(sel) => text(creds.secret_key(sel, None).await?, &sel.name)?,
                };
                let secret_id = text(creds.secret_key(secret, None).await?, &secret.name)?;
                vaultrs::auth::approle::login(session, mount, &role_id, &secret_id).await
            }
            Method::Kubernetes(k) => {
                let jwt = match (&k.service_account_ref, &k.secret_ref) {
                    (Some(sa), _) => creds.service_account_token(sa, &sa.audiences, Some(600)).await?,
                    (None, Some(sel)) => text(creds.secret_key(sel, Some("token")).await?, &sel.name)?,
                    (None, None) => unreachable!("checked in from_spec"),
                };
                vaultrs::auth::kubernetes::login(session, &k.mount_path, &k.role, &jwt).await
            }
            Method::Jwt(j) => {
                let jwt = jwt_token(j, creds, &text).await?;
                let role = j.role.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
                vaultrs::auth::oidc::login(session, &j.path, &jwt, role).await
            }
            Method::UserPass { mount, username, password } => {
                let password = String::from_utf8(creds.secret_key(password, None).await?.into_bytes())
                    .map_err(|_| ProviderError::Invalid(format!("{what}: the password is not UTF-8")))?;
                vaultrs::auth::userpass::login(session, mount, username, &password).await
            }
            Method::Ldap { mount, username, password } => {
                let password = String::from_utf8(creds.secret_key(password, None).await?.into_bytes())
                    .map_err(|_| ProviderError::Invalid(format!("{what}: the password is not UTF-8")))?;
                // The user name is one path segment (rustify percent-encodes each segment).
                json_login(session, format!("auth/{mount}/login/{username}"), json!({ "password": password })).await
            }
            Method::Cert { mount, role } => {
                let body = role.as_ref().map(|r| json!({ "name": r })).unwrap_or_else(|| json!({}));
                json_login(session, format!("auth/{mount}/login"), body).await
            }
            Method::Iam(iam) => {
                let body = crate::auth_iam::login_body(iam, ctx).await?;
                json_login(session, format!("auth/{}/login", iam.mount()), body).await
            }
            Method::Gcp(gcp) => {
                let body = crate::auth_gcp::login_body(gcp, ctx, session.settings.address.as_str()).await?;
                json_login(session, format!("auth/{}/login", gcp.path), body).await
            }
        };
        result.map(Login::from_auth).map_err(|e| match classify(&what, &e) {
            // A refused login is an auth problem whatever the status (Vault answers 400 for a bad secret ID).
            ProviderError::Invalid(m) | ProviderError::NotFound(m) => ProviderError::Auth(m),
            other => other,
        })
    }
}

async fn jwt_token(
    j: &VaultJwtAuth,
    creds: &dyn CredentialSource,
    text: &impl Fn(sesame_provider_core::SecretValue, &str) -> Result<String, ProviderError>,
) -> Result<String, ProviderError> {
    if let Some(sel) = &j.secret_ref {
        return text(creds.secret_key(sel, None).await?, &sel.name);
    }
    let Some(sat) = &j.kubernetes_service_account_token else { unreachable!("checked in from_spec") };
    let mut audiences = sat.audiences.clone().unwrap_or_else(|| vec!["vault".to_string()]);
    for a in &sat.service_account_ref.audiences {
        if !audiences.contains(a) {
            audiences.push(a.clone());
        }
    }
    creds.service_account_token(&sat.service_account_ref, &audiences, Some(sat.expiration_seconds.unwrap_or(600))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{VaultAppRole, VaultUserPassAuth};

    fn sel(name: &str) -> SecretKeySelector {
        SecretKeySelector { name: name.into(), key: Some("k".into()), namespace: None }
    }

    fn invalid(auth: Option<&VaultAuth>) -> String {
        match Method::from_spec(auth) {
            Err(ProviderError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn exactly_one_method_must_be_named() {
        assert!(invalid(None).contains("no auth section"));
        assert!(invalid(Some(&VaultAuth::default())).contains("names no method"));
        let two = VaultAuth {
            token_secret_ref: Some(sel("t")),
            user_pass: Some(VaultUserPassAuth { path: "userpass".into(), username: "u".into(), secret_ref: sel("p") }),
            ..Default::default()
        };
        assert!(invalid(Some(&two)).contains("exactly one"));
    }

    #[test]
    fn approle_needs_a_role_id_inline_or_by_reference() {
        let auth = VaultAuth {
            app_role: Some(VaultAppRole { path: "approle".into(), role_id: Some(String::new()), role_ref: None, secret_ref: sel("s") }),
            ..Default::default()
        };
        assert!(invalid(Some(&auth)).contains("roleId or roleRef"));
    }

    #[test]
    fn kubernetes_auth_never_falls_back_to_the_controllers_own_token() {
        let auth = VaultAuth {
            kubernetes: Some(VaultKubernetesAuth {
                mount_path: "kubernetes".into(),
                service_account_ref: None,
                secret_ref: None,
                role: "r".into(),
            }),
            ..Default::default()
        };
        assert!(invalid(Some(&auth)).contains("serviceAccountRef or secretRef"));
    }

    #[test]
    fn ldap_needs_a_username_that_is_one_path_segment_and_gcp_needs_its_own_credentials() {
        let ldap = |user: &str| VaultAuth {
            ldap: Some(crate::VaultLdapAuth { path: "ldap".into(), username: user.into(), secret_ref: sel("p") }),
            ..Default::default()
        };
        assert!(invalid(Some(&ldap("a/b"))).contains("without '/'"));
        assert!(invalid(Some(&ldap(" "))).contains("needs a username"));
        assert_eq!(Method::from_spec(Some(&ldap("alice"))).unwrap().describe(), "ldap login at auth/ldap as alice");
        // ESO's GCE login (serviceAccountRef alone included) is a method; who may use it is the
        // store's controller-identity rule.
        for gce in [serde_json::json!({"role": "r"}), serde_json::json!({"role": "r", "serviceAccountRef": {"name": "sa"}})] {
            let gcp: VaultAuth = serde_json::from_value(serde_json::json!({"gcp": gce})).unwrap();
            assert!(crate::auth_gcp::is_gce(gcp.gcp.as_ref().unwrap()));
            assert_eq!(Method::from_spec(Some(&gcp)).unwrap().describe(), "gcp login at auth/gcp as role r");
        }
        let gcp: VaultAuth = serde_json::from_value(
            serde_json::json!({"gcp": {"role": " ", "secretRef": {"secretAccessKeySecretRef": {"name": "k", "key": "k"}}}}),
        )
        .unwrap();
        assert!(invalid(Some(&gcp)).contains("needs role"));
        let gcp: VaultAuth = serde_json::from_value(
            serde_json::json!({"gcp": {"role": "r", "secretRef": {"secretAccessKeySecretRef": {"name": "k", "key": "k"}}}}),
        )
        .unwrap();
        assert_eq!(Method::from_spec(Some(&gcp)).unwrap().describe(), "gcp login at auth/gcp as role r", "path defaults to gcp");
    }

    #[test]
    fn a_login_never_shows_its_token_in_debug_output() {
        let login = Login { token: Token("hvs.s3cr3t".into()), lease: Duration::ZERO, renewable: false, owned: true };
        assert!(!format!("{login:?}").contains("s3cr3t"));
    }
}
