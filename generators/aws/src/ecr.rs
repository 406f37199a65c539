//! `ECRAuthorizationToken`: ecr:GetAuthorizationToken (or ecr-public's), split into the registry
//! login as ESO does: `username`, `password`, `expires_at` (Unix seconds) and, for private
//! registries, `proxy_endpoint`.
use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_smithy_types::DateTime;
use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_aws::{AwsAuth, AwsProvider, ClientOptions, sdk_error};

use crate::session;

const PROVIDER: &str = "AWS/ECR";

/// ECRAuthorizationTokenSpec defines the desired state to generate an AWS ECR authorization
/// token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcrAuthorizationTokenSpec {
    /// Region specifies the region to operate in.
    pub region: String,
    /// Auth defines how to authenticate with AWS (as an AWS SecretStore). With neither
    /// `secretRef` nor `jwt`, the controller's own AWS credentials are used.
    #[serde(default, skip_serializing_if = "AwsAuth::is_empty")]
    pub auth: AwsAuth,
    /// You can assume a role before making calls to the desired AWS service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// Scope specifies the ECR service scope. Valid options are private and public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<EcrScope>,
}

/// Which ECR service issues the token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EcrScope {
    /// Amazon ECR (private registries): the default.
    #[default]
    Private,
    /// Amazon ECR Public.
    Public,
}

/// The ECRAuthorizationToken generator.
#[derive(Debug, Clone)]
pub struct EcrAuthorizationToken {
    store: AwsProvider,
    scope: EcrScope,
    options: ClientOptions,
}

impl EcrAuthorizationToken {
    pub fn new(spec: EcrAuthorizationTokenSpec) -> Result<Self, GeneratorError> {
        let store = session::store("ECRAuthorizationToken", &spec.region, &spec.role, &spec.auth)?;
        Ok(EcrAuthorizationToken { store, scope: spec.scope.unwrap_or_default(), options: ClientOptions::default() })
    }

    /// SDK client options (an explicit endpoint, retries, timeouts).
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }
}

/// `username:password`, base64, as both ECR services return it. Errors never show the token.
fn login(token: Option<&str>, expires: Option<&DateTime>) -> Result<BTreeMap<String, Vec<u8>>, GeneratorError> {
    let bad = |what: &str| GeneratorError::Transient(format!("ECRAuthorizationToken: unexpected GetAuthorizationToken response: {what}"));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.ok_or_else(|| bad("no authorization token"))?)
        .map_err(|_| bad("the token is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("the token is not text"))?;
    let (username, password) =
        text.split_once(':').filter(|(_, p)| !p.contains(':')).ok_or_else(|| bad("the token is not username:password"))?;
    let expires = expires.ok_or_else(|| bad("no expiry"))?;
    Ok(BTreeMap::from([
        ("username".to_string(), username.as_bytes().to_vec()),
        ("password".to_string(), password.as_bytes().to_vec()),
        ("expires_at".to_string(), expires.secs().to_string().into_bytes()),
    ]))
}

#[async_trait]
impl Generator for EcrAuthorizationToken {
    fn kind(&self) -> &'static str {
        "ECRAuthorizationToken"
    }

    /// With neither `auth.secretRef` nor `auth.jwt`, the SDK's default chain: the controller's own.
    fn controller_identity(&self) -> Option<&'static str> {
        self.store.controller_identity()
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        // Region, endpoints, retries and credentials, resolved in the context's namespace.
        let config = sesame_provider_aws::sdk_config(&self.store, &ctx.provider, &self.options).await?;
        let data = match self.scope {
            EcrScope::Private => {
                let client = aws_sdk_ecr::Client::new(&config);
                let call =
                    async { client.get_authorization_token().send().await.map_err(|e| sdk_error(e, "GetAuthorizationToken", "(ecr)")) };
                let out = ctx.provider.timed(PROVIDER, "GetAuthorizationToken", call).await?;
                let [auth] = out.authorization_data() else {
                    let n = out.authorization_data().len();
                    return Err(GeneratorError::Transient(format!("ECRAuthorizationToken: expected 1 authorization token, found {n}")));
                };
                let mut data = login(auth.authorization_token(), auth.expires_at())?;
                let endpoint = auth.proxy_endpoint().unwrap_or_default();
                data.insert("proxy_endpoint".to_string(), endpoint.as_bytes().to_vec());
                data
            }
            EcrScope::Public => {
                let client = aws_sdk_ecrpublic::Client::new(&config);
                let call = async {
                    client.get_authorization_token().send().await.map_err(|e| sdk_error(e, "GetAuthorizationToken", "(ecr-public)"))
                };
                let out = ctx.provider.timed("AWS/ECRPublic", "GetAuthorizationToken", call).await?;
                let auth = out
                    .authorization_data()
                    .ok_or_else(|| GeneratorError::Transient("ECRAuthorizationToken: no authorization data".into()))?;
                login(auth.authorization_token(), auth.expires_at())?
            }
        };
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_is_split_and_never_echoed_when_malformed() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pa55word");
        let data = login(Some(&token), Some(&DateTime::from_secs(1_700_000_000))).unwrap();
        assert_eq!(data["username"], b"AWS");
        assert_eq!(data["password"], b"pa55word");
        assert_eq!(data["expires_at"], b"1700000000");
        for bad in [
            base64::engine::general_purpose::STANDARD.encode("no-colon-pa55word"),
            base64::engine::general_purpose::STANDARD.encode("a:b:pa55word"),
            "!!pa55word".into(),
        ] {
            let err = login(Some(&bad), Some(&DateTime::from_secs(0))).unwrap_err().to_string();
            assert!(!err.contains("pa55word") && !err.contains(&bad), "{err}");
        }
    }

    #[test]
    fn spec_validation() {
        let spec = |json: &str| serde_json::from_str::<EcrAuthorizationTokenSpec>(json).unwrap();
        assert!(
            matches!(EcrAuthorizationToken::new(spec(r#"{"region":""}"#)), Err(GeneratorError::Invalid(m)) if m.contains("region is required"))
        );
        assert!(
            matches!(EcrAuthorizationToken::new(spec(r#"{"region":"evil.com/x"}"#)), Err(GeneratorError::Invalid(m)) if m.contains("region"))
        );
        let ok = EcrAuthorizationToken::new(spec(r#"{"region":"eu-west-1","role":"arn:aws:iam::1:role/r","scope":"public"}"#)).unwrap();
        assert_eq!((ok.scope, ok.store.role.as_deref()), (EcrScope::Public, Some("arn:aws:iam::1:role/r")));
        assert!(serde_json::from_str::<EcrAuthorizationTokenSpec>(r#"{"region":"eu-west-1","scope":"galactic"}"#).is_err());
    }

    #[test]
    fn without_credentials_it_is_the_controller_s_own_aws_identity() {
        let spec = |json: &str| EcrAuthorizationToken::new(serde_json::from_str(json).unwrap()).unwrap();
        let ambient = spec(r#"{"region":"eu-west-1","role":"arn:aws:iam::1:role/r"}"#);
        assert!(
            ambient.controller_identity().unwrap().contains("controller's AWS credentials"),
            "a role alone is assumed as the controller"
        );
        let keys =
            r#"{"secretRef":{"accessKeyIDSecretRef":{"name":"k","key":"id"},"secretAccessKeySecretRef":{"name":"k","key":"secret"}}}"#;
        assert_eq!(spec(&format!(r#"{{"region":"eu-west-1","auth":{keys}}}"#)).controller_identity(), None);
        let jwt = r#"{"jwt":{"serviceAccountRef":{"name":"sa"}}}"#;
        assert_eq!(spec(&format!(r#"{{"region":"eu-west-1","auth":{jwt}}}"#)).controller_identity(), None);
    }
}
