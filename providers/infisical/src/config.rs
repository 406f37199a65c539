//! ESO 2.9's `spec.provider.infisical`, field for field.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, ProviderError, SecretKeySelector, checks, ns_ref, referent_fields};

/// Infisical Cloud's API, when the store names no `hostAPI` (ESO's default).
pub const DEFAULT_HOST_API: &str = "https://app.infisical.com/api";

/// Configures a store to read secrets from Infisical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct InfisicalProvider {
    /// How the operator authenticates with the Infisical API: exactly one machine-identity method.
    pub auth: InfisicalAuth,
    /// Which secrets of which project the store reads.
    pub secrets_scope: SecretsScope,
    /// The base URL of the Infisical API; `/api` is appended when missing. Defaults to
    /// `https://app.infisical.com/api`.
    #[serde(rename = "hostAPI", default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_host_api")]
    pub host_api: Option<String>,
    /// Base64 PEM certificates to trust for the Infisical server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// A Secret or ConfigMap holding PEM certificates to trust for the Infisical server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

fn default_host_api() -> Option<String> {
    Some(DEFAULT_HOST_API.to_string())
}

fn default_true() -> bool {
    true
}

fn default_root() -> String {
    "/".to_string()
}

/// `secretsScope`: a project environment and a folder in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretsScope {
    /// The folder the secrets are read from. Defaults to `/`.
    #[serde(default = "default_root")]
    pub secrets_path: String,
    /// Also read the secrets of every folder below `secretsPath` (for `find`).
    #[serde(default)]
    pub recursive: bool,
    /// The slug of the environment (e.g. `dev`, `prod`).
    pub environment_slug: String,
    /// The slug of the project.
    pub project_slug: String,
    /// The organization to log in to, for identities in several (sub-)organizations.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organization_slug: String,
    /// Expand `${...}` references to other secrets in values. Defaults to true.
    #[serde(default = "default_true")]
    pub expand_secret_references: bool,
}

impl Default for SecretsScope {
    fn default() -> Self {
        SecretsScope {
            secrets_path: default_root(),
            recursive: false,
            environment_slug: String::new(),
            project_slug: String::new(),
            organization_slug: String::new(),
            expand_secret_references: true,
        }
    }
}

/// `auth`: one machine-identity login method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct InfisicalAuth {
    /// Universal Auth: a client ID and client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub universal_auth_credentials: Option<UniversalAuthCredentials>,
    /// Azure Auth: the controller's managed identity token from the Azure instance metadata
    /// service, for `resource` (default `https://management.azure.com/`). The controller's own
    /// identity: refused for a SecretStore while `--refuse-secretstore-controller-identity` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_auth_credentials: Option<AzureAuthCredentials>,
    /// GCP ID Token Auth: an ID token of the controller's service account from the GCP metadata
    /// server, for the audience `identityId`. The controller's own identity: refused for a
    /// SecretStore while `--refuse-secretstore-controller-identity` is on.
    #[serde(rename = "gcpIdTokenAuthCredentials", default, skip_serializing_if = "Option::is_none")]
    pub gcp_id_token_auth_credentials: Option<IdentityOnly>,
    /// GCP IAM Auth: a service-account key has Google's IAM Credentials `signJwt` sign a JWT for
    /// the identity. `serviceAccountKeyFilePath` holds the key JSON itself (a Sesame addition) or
    /// the path of a key file on the controller, read only under the directory the operator
    /// allows with `--infisical-gcp-key-dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_iam_auth_credentials: Option<GcpIamAuthCredentials>,
    /// JWT Auth: a machine identity and a JWT it accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_auth_credentials: Option<JwtAuthCredentials>,
    /// LDAP Auth: a machine identity and an LDAP user name and password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_auth_credentials: Option<LdapAuthCredentials>,
    /// OCI Auth: a request for the OCI user, signed with the user's API key (HTTP Signature,
    /// rsa-sha256), replayed by Infisical to OCI. PKCS#1, PKCS#8 and encrypted PKCS#8 PEM keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_auth_credentials: Option<OciAuthCredentials>,
    /// Kubernetes Auth: the ServiceAccount token file of the controller (default
    /// `/var/run/secrets/kubernetes.io/serviceaccount/token`), reviewed by Infisical. The
    /// controller's own identity: refused for a SecretStore while
    /// `--refuse-secretstore-controller-identity` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_auth_credentials: Option<KubernetesAuthCredentials>,
    /// AWS IAM Auth: an sts:GetCallerIdentity request signed with the controller's AWS
    /// credentials, replayed by Infisical. The controller's own identity: refused for a
    /// SecretStore while `--refuse-secretstore-controller-identity` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_auth_credentials: Option<IdentityOnly>,
    /// A pre-issued machine-identity access token, used as is (never renewed nor revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_auth_credentials: Option<TokenAuthCredentials>,
}

/// `universalAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct UniversalAuthCredentials {
    /// The Secret key holding the client ID.
    pub client_id: SecretKeySelector,
    /// The Secret key holding the client secret.
    pub client_secret: SecretKeySelector,
}

/// `azureAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AzureAuthCredentials {
    /// The Secret key holding the machine identity ID.
    pub identity_id: SecretKeySelector,
    /// The Secret key holding the Azure resource to request a token for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<SecretKeySelector>,
}

/// `gcpIdTokenAuthCredentials` and `awsAuthCredentials`: a machine identity only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct IdentityOnly {
    /// The Secret key holding the machine identity ID.
    pub identity_id: SecretKeySelector,
}

/// `gcpIamAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpIamAuthCredentials {
    /// The Secret key holding the machine identity ID.
    pub identity_id: SecretKeySelector,
    /// The Secret key holding a service account key JSON, or the absolute path of a key file
    /// under the controller's `--infisical-gcp-key-dir`.
    pub service_account_key_file_path: SecretKeySelector,
}

/// `jwtAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuthCredentials {
    /// The Secret key holding the machine identity ID.
    pub identity_id: SecretKeySelector,
    /// The Secret key holding the JWT.
    pub jwt: SecretKeySelector,
}

/// `ldapAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LdapAuthCredentials {
    /// The Secret key holding the machine identity ID.
    pub identity_id: SecretKeySelector,
    /// The Secret key holding the LDAP password.
    pub ldap_password: SecretKeySelector,
    /// The Secret key holding the LDAP user name.
    pub ldap_username: SecretKeySelector,
}

/// `ociAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct OciAuthCredentials {
    /// The Secret key holding the machine identity ID.
    pub identity_id: SecretKeySelector,
    /// The Secret key holding the OCI API private key (PEM: PKCS#1, PKCS#8 or encrypted PKCS#8).
    pub private_key: SecretKeySelector,
    /// The Secret key holding the passphrase of an encrypted PKCS#8 private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_passphrase: Option<SecretKeySelector>,
    /// The Secret key holding the key's fingerprint.
    pub fingerprint: SecretKeySelector,
    /// The Secret key holding the OCI user OCID.
    pub user_id: SecretKeySelector,
    /// The Secret key holding the OCI tenancy OCID.
    pub tenancy_id: SecretKeySelector,
    /// The Secret key holding the OCI region.
    pub region: SecretKeySelector,
}

/// `kubernetesAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesAuthCredentials {
    /// The Secret key holding the machine identity ID.
    pub identity_id: SecretKeySelector,
    /// The Secret key holding the path of the ServiceAccount token file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token_path: Option<SecretKeySelector>,
}

/// `tokenAuthCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TokenAuthCredentials {
    /// The Secret key holding the access token.
    pub access_token: SecretKeySelector,
}

/// The login method a store names, with the credentials Sesame reads for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    Universal(&'a UniversalAuthCredentials),
    Jwt(&'a JwtAuthCredentials),
    Ldap(&'a LdapAuthCredentials),
    Token(&'a TokenAuthCredentials),
    Kubernetes(&'a KubernetesAuthCredentials),
    Azure(&'a AzureAuthCredentials),
    GcpIdToken(&'a IdentityOnly),
    Aws(&'a IdentityOnly),
    GcpIam(&'a GcpIamAuthCredentials),
    Oci(&'a OciAuthCredentials),
}

impl InfisicalAuth {
    /// The one method set, in ESO's order of precedence.
    pub fn method(&self) -> Result<Method<'_>, ProviderError> {
        let set: Vec<Method<'_>> = [
            self.universal_auth_credentials.as_ref().map(Method::Universal),
            self.azure_auth_credentials.as_ref().map(Method::Azure),
            self.gcp_id_token_auth_credentials.as_ref().map(Method::GcpIdToken),
            self.gcp_iam_auth_credentials.as_ref().map(Method::GcpIam),
            self.jwt_auth_credentials.as_ref().map(Method::Jwt),
            self.ldap_auth_credentials.as_ref().map(Method::Ldap),
            self.oci_auth_credentials.as_ref().map(Method::Oci),
            self.kubernetes_auth_credentials.as_ref().map(Method::Kubernetes),
            self.aws_auth_credentials.as_ref().map(Method::Aws),
            self.token_auth_credentials.as_ref().map(Method::Token),
        ]
        .into_iter()
        .flatten()
        .collect();
        // ESO takes the first one set; two set is a mistake Sesame names instead of guessing.
        match set.as_slice() {
            [] => Err(ProviderError::Invalid("invalid store: authentication method not found".into())),
            [one] => Ok(*one),
            _ => Err(ProviderError::Invalid("invalid store: auth must name exactly one method".into())),
        }
    }
}

impl InfisicalProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        let a = &self.auth;
        let u = a.universal_auth_credentials.as_ref();
        let j = a.jwt_auth_credentials.as_ref();
        let l = a.ldap_auth_credentials.as_ref();
        let t = a.token_auth_credentials.as_ref();
        let k = a.kubernetes_auth_credentials.as_ref();
        let z = a.azure_auth_credentials.as_ref();
        let g = a.gcp_iam_auth_credentials.as_ref();
        let o = a.oci_auth_credentials.as_ref();
        referent_fields(&[
            ("auth.kubernetesAuthCredentials.identityId", ns_ref(k.map(|k| &k.identity_id))),
            ("auth.kubernetesAuthCredentials.serviceAccountTokenPath", ns_ref(k.and_then(|k| k.service_account_token_path.as_ref()))),
            ("auth.azureAuthCredentials.identityId", ns_ref(z.map(|z| &z.identity_id))),
            ("auth.azureAuthCredentials.resource", ns_ref(z.and_then(|z| z.resource.as_ref()))),
            ("auth.gcpIdTokenAuthCredentials.identityId", ns_ref(a.gcp_id_token_auth_credentials.as_ref().map(|g| &g.identity_id))),
            ("auth.awsAuthCredentials.identityId", ns_ref(a.aws_auth_credentials.as_ref().map(|w| &w.identity_id))),
            ("auth.universalAuthCredentials.clientId", ns_ref(u.map(|u| &u.client_id))),
            ("auth.universalAuthCredentials.clientSecret", ns_ref(u.map(|u| &u.client_secret))),
            ("auth.jwtAuthCredentials.identityId", ns_ref(j.map(|j| &j.identity_id))),
            ("auth.jwtAuthCredentials.jwt", ns_ref(j.map(|j| &j.jwt))),
            ("auth.ldapAuthCredentials.identityId", ns_ref(l.map(|l| &l.identity_id))),
            ("auth.ldapAuthCredentials.ldapUsername", ns_ref(l.map(|l| &l.ldap_username))),
            ("auth.ldapAuthCredentials.ldapPassword", ns_ref(l.map(|l| &l.ldap_password))),
            ("auth.tokenAuthCredentials.accessToken", ns_ref(t.map(|t| &t.access_token))),
            ("auth.gcpIamAuthCredentials.identityId", ns_ref(g.map(|g| &g.identity_id))),
            ("auth.gcpIamAuthCredentials.serviceAccountKeyFilePath", ns_ref(g.map(|g| &g.service_account_key_file_path))),
            ("auth.ociAuthCredentials.identityId", ns_ref(o.map(|o| &o.identity_id))),
            ("auth.ociAuthCredentials.privateKey", ns_ref(o.map(|o| &o.private_key))),
            ("auth.ociAuthCredentials.privateKeyPassphrase", ns_ref(o.and_then(|o| o.private_key_passphrase.as_ref()))),
            ("auth.ociAuthCredentials.fingerprint", ns_ref(o.map(|o| &o.fingerprint))),
            ("auth.ociAuthCredentials.userId", ns_ref(o.map(|o| &o.user_id))),
            ("auth.ociAuthCredentials.tenancyId", ns_ref(o.map(|o| &o.tenancy_id))),
            ("auth.ociAuthCredentials.region", ns_ref(o.map(|o| &o.region))),
            ("caProvider", ns_ref(self.ca_provider.as_ref())),
        ])
    }

    /// What the store authenticates as when it is the controller's own identity (its token
    /// file, its cloud identity): refused for a SecretStore under the controller-identity rule.
    pub fn controller_identity(&self) -> Option<&'static str> {
        match self.auth.method().ok()? {
            Method::Kubernetes(_) => Some("the controller's ServiceAccount token (infisical auth.kubernetesAuthCredentials)"),
            Method::Azure(_) => Some("the controller's Azure managed identity (infisical auth.azureAuthCredentials)"),
            Method::GcpIdToken(_) => Some("the controller's GCP service account (infisical auth.gcpIdTokenAuthCredentials)"),
            Method::Aws(_) => Some("the controller's AWS credentials (infisical auth.awsAuthCredentials)"),
            _ => None,
        }
    }

    /// `hostAPI` receives the credentials, so it is held to a plain base URL.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        if let Some(url) = self.host_api.as_deref().filter(|u| !u.is_empty()) {
            checks::base_url("hostAPI", url, &["https", "http"])?;
        }
        Ok(())
    }

    /// ESO's store validation, and the bounds Sesame puts on what reaches a URL.
    pub fn check_spec(&self) -> Result<(), ProviderError> {
        let invalid = |m: &str| Err(ProviderError::Invalid(format!("invalid store: {m}")));
        let scope = &self.secrets_scope;
        if scope.environment_slug.is_empty() || scope.project_slug.is_empty() {
            return invalid("secretsScope.projectSlug and secretsScope.environmentSlug cannot be empty");
        }
        for (field, value) in [
            ("projectSlug", &scope.project_slug),
            ("environmentSlug", &scope.environment_slug),
            ("organizationSlug", &scope.organization_slug),
            ("secretsPath", &scope.secrets_path),
        ] {
            if value.len() > 512 || value.chars().any(char::is_control) {
                return invalid(&format!("secretsScope.{field} must be at most 512 characters without control characters"));
            }
        }
        if let Some(u) = &self.auth.universal_auth_credentials
            && (u.client_id.key.as_deref().unwrap_or("").is_empty() || u.client_secret.key.as_deref().unwrap_or("").is_empty())
        {
            return invalid("universalAuthCredentials.clientId and universalAuthCredentials.clientSecret cannot be empty");
        }
        self.auth.method().map(|_| ())
    }

    /// The API root: `hostAPI` (or Infisical Cloud) with `/api` appended when missing, as
    /// Infisical's SDK does.
    pub fn api_root(&self) -> String {
        let host = self.host_api.as_deref().filter(|h| !h.is_empty()).unwrap_or(DEFAULT_HOST_API).trim_end_matches('/');
        if host.ends_with("/api") { host.to_string() } else { format!("{host}/api") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eso_store() -> InfisicalProvider {
        // The store of ESO's Infisical docs, verbatim field names.
        serde_json::from_value(serde_json::json!({
            "auth": {"universalAuthCredentials": {
                "clientId": {"key": "clientId", "namespace": "default", "name": "universal-auth-credentials"},
                "clientSecret": {"key": "clientSecret", "namespace": "default", "name": "universal-auth-credentials"}
            }},
            "secretsScope": {"projectSlug": "first-project-fujo", "environmentSlug": "dev", "secretsPath": "/", "recursive": true},
            "hostAPI": "https://app.infisical.com"
        }))
        .unwrap()
    }

    #[test]
    fn reads_an_eso_store_spec_with_esos_defaults() {
        let spec = eso_store();
        spec.check_spec().unwrap();
        spec.check_urls().unwrap();
        assert!(spec.secrets_scope.expand_secret_references, "ESO's default is true");
        assert_eq!(spec.api_root(), "https://app.infisical.com/api");
        assert!(matches!(spec.auth.method().unwrap(), Method::Universal(_)));
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["hostAPI"], "https://app.infisical.com");
        assert_eq!(back["secretsScope"]["projectSlug"], "first-project-fujo");
        let bare: SecretsScope = serde_json::from_value(serde_json::json!({"projectSlug": "p", "environmentSlug": "e"})).unwrap();
        assert_eq!((bare.secrets_path.as_str(), bare.recursive, bare.expand_secret_references), ("/", false, true));
        assert_eq!(InfisicalProvider::default().api_root(), "https://app.infisical.com/api");
    }

    #[test]
    fn esos_store_rules_are_kept_and_ambient_methods_are_the_controllers() {
        let err = |spec: InfisicalProvider| spec.check_spec().unwrap_err().to_string();
        let mut no_env = eso_store();
        no_env.secrets_scope.environment_slug.clear();
        assert!(err(no_env).contains("cannot be empty"));
        let mut no_key = eso_store();
        no_key.auth.universal_auth_credentials.as_mut().unwrap().client_secret.key = None;
        assert!(err(no_key).contains("clientSecret cannot be empty"));
        let none = InfisicalProvider { auth: InfisicalAuth::default(), ..eso_store() };
        assert!(err(none).contains("authentication method not found"));
        let oci = InfisicalProvider {
            auth: InfisicalAuth { oci_auth_credentials: Some(OciAuthCredentials::default()), ..Default::default() },
            ..eso_store()
        };
        assert!(oci.check_spec().is_ok() && matches!(oci.auth.method().unwrap(), Method::Oci(_)));
        assert_eq!(oci.controller_identity(), None, "the tenant's own OCI key");
        let gcp_iam = InfisicalProvider {
            auth: InfisicalAuth { gcp_iam_auth_credentials: Some(GcpIamAuthCredentials::default()), ..Default::default() },
            ..eso_store()
        };
        assert!(matches!(gcp_iam.auth.method().unwrap(), Method::GcpIam(_)));
        assert_eq!(gcp_iam.controller_identity(), None, "the tenant's own service-account key");
        let aws = InfisicalProvider {
            auth: InfisicalAuth { aws_auth_credentials: Some(IdentityOnly::default()), ..Default::default() },
            ..eso_store()
        };
        assert!(aws.controller_identity().is_some(), "the controller's own AWS identity");
        assert_eq!(eso_store().controller_identity(), None);
        let two = InfisicalProvider {
            auth: InfisicalAuth { token_auth_credentials: Some(TokenAuthCredentials::default()), ..eso_store().auth },
            ..eso_store()
        };
        assert!(err(two).contains("exactly one"));
    }

    #[test]
    fn a_hostile_host_is_refused_before_credentials_go_anywhere() {
        for bad in ["https://app.infisical.com@evil.example", "https://evil.example#.infisical.com", "ftp://x", "app.infisical.com"] {
            let spec = InfisicalProvider { host_api: Some(bad.into()), ..eso_store() };
            assert!(spec.check_urls().is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_without_a_namespace_are_referent() {
        let spec: InfisicalProvider = serde_json::from_value(serde_json::json!({
            "auth": {"tokenAuthCredentials": {"accessToken": {"name": "t", "key": "token"}}},
            "secretsScope": {"projectSlug": "p", "environmentSlug": "e"},
            "caProvider": {"type": "Secret", "name": "ca"}
        }))
        .unwrap();
        assert_eq!(spec.referent_refs(), vec!["auth.tokenAuthCredentials.accessToken", "caProvider"]);
        assert!(eso_store().referent_refs().is_empty());
    }
}
