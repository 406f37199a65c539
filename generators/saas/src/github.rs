//! `GithubAccessToken`: a GitHub App installation token (`ghs_…`), as ESO makes it: an RS256 JWT
//! (`iss` the app id, issued 10 seconds ago, valid 5 minutes) signed with the app's private key
//! authenticates `POST {url}/app/installations/{installID}/access_tokens`, optionally narrowed to
//! `repositories` and `permissions`. The output key is `token`. Nothing to clean up: the token
//! expires on GitHub's side after an hour.
use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::Url;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_core::SecretKeySelector;

use crate::{http, jwt};

const KIND: &str = "GithubAccessToken";
const PROVIDER: &str = "GitHub";
const DEFAULT_API: &str = "https://api.github.com";
/// GitHub's own limit on the repositories of one installation token.
const MAX_REPOSITORIES: usize = 500;
/// More permissions than GitHub defines.
const MAX_PERMISSIONS: usize = 100;

/// GithubAccessTokenSpec defines the desired state to generate a GitHub access token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GithubAccessTokenSpec {
    /// URL configures the GitHub API URL (`https://ghe.example.com/api/v3` for GitHub Enterprise
    /// Server). Defaults to https://api.github.com.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The GitHub App's id: the issuer of the JWT that asks for the token.
    #[serde(rename = "appID")]
    pub app_id: String,
    /// The id of the app's installation the token is for.
    #[serde(rename = "installID")]
    pub install_id: String,
    /// List of repositories the token will have access to. If omitted, defaults to all
    /// repositories the GitHub App is installed to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub repositories: Vec<String>,
    /// Map of permissions the token will have. If omitted, defaults to all permissions the
    /// GitHub App has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, String>>,
    /// Auth configures how ESO authenticates with a Github instance.
    pub auth: GithubAuth,
}

/// GithubAuth defines the authentication configuration for GitHub access.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GithubAuth {
    /// The GitHub App's private key (PEM), from a Secret in the generator's namespace.
    pub private_key: GithubSecretRef,
}

/// GithubSecretRef references a secret containing GitHub credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GithubSecretRef {
    /// The Secret key holding the credential (its `namespace` is ignored: the Secret is read in
    /// the namespace of the ExternalSecret that uses the generator).
    pub secret_ref: SecretKeySelector,
}

/// The GithubAccessToken generator.
#[derive(Debug, Clone)]
pub struct GithubAccessToken {
    spec: GithubAccessTokenSpec,
    url: Url,
}

impl GithubAccessToken {
    pub fn new(spec: GithubAccessTokenSpec) -> Result<Self, GeneratorError> {
        let invalid = |m: String| Err(GeneratorError::Invalid(format!("{KIND}: {m}")));
        let base = spec.url.as_deref().filter(|u| !u.is_empty()).unwrap_or(DEFAULT_API);
        let base = http::base_url(KIND, "url", base)?;
        if spec.app_id.is_empty() || spec.install_id.is_empty() {
            return invalid("appID and installID are required".into());
        }
        if !spec.install_id.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!("installID {:?} must be the numeric installation id", spec.install_id));
        }
        if spec.repositories.len() > MAX_REPOSITORIES {
            return invalid(format!("repositories lists {} names, GitHub allows {MAX_REPOSITORIES}", spec.repositories.len()));
        }
        if spec.permissions.as_ref().is_some_and(|p| p.len() > MAX_PERMISSIONS) {
            return invalid(format!("permissions has more than {MAX_PERMISSIONS} entries"));
        }
        let url = http::join(&base, &["app", "installations", &spec.install_id, "access_tokens"]);
        Ok(GithubAccessToken { spec, url })
    }

    /// What the token request asks for: only what the spec narrows.
    fn payload(&self) -> Option<serde_json::Value> {
        let mut body = serde_json::Map::new();
        if let Some(p) = &self.spec.permissions {
            body.insert("permissions".into(), serde_json::json!(p));
        }
        if !self.spec.repositories.is_empty() {
            body.insert("repositories".into(), serde_json::json!(self.spec.repositories));
        }
        (!body.is_empty()).then_some(serde_json::Value::Object(body))
    }
}

#[derive(Deserialize)]
struct InstallationToken {
    token: Option<String>,
}

#[async_trait]
impl Generator for GithubAccessToken {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let pem = http::secret(KIND, "auth.privateKey.secretRef", &self.spec.auth.private_key.secret_ref, ctx).await?;
        let key = jwt::rsa_key(KIND, &pem)?;
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"iss": self.spec.app_id, "iat": now - 10, "exp": now + 300});
        let app_jwt = jwt::sign_rs256(KIND, &key, &claims)?;
        let client = http::client(KIND, &self.url)?;
        let mut request = client
            .post(self.url.clone())
            .header("Authorization", http::header(KIND, "app JWT", &format!("Bearer {app_jwt}"))?)
            .header("Accept", "application/vnd.github.v3+json")
            // GitHub refuses requests without a User-Agent.
            .header("User-Agent", "sesame");
        if let Some(body) = self.payload() {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let what = format!("POST {}", self.url.path());
        let call = async { http::send(what, request).await?.json::<InstallationToken>() };
        let answer = ctx.provider.timed(PROVIDER, "CreateInstallationAccessToken", call).await.map_err(|e| http::prefix(KIND, e))?;
        let token = answer
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GeneratorError::Invalid(format!("{KIND}: GitHub's answer holds no token")))?;
        Ok(Generated { data: BTreeMap::from([("token".to_string(), token.into_bytes())]), state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Result<GithubAccessToken, GeneratorError> {
        let mut base =
            serde_json::json!({"appID": "123", "installID": "456", "auth": {"privateKey": {"secretRef": {"name": "app", "key": "key"}}}});
        base.as_object_mut().unwrap().extend(json.as_object().unwrap().clone());
        GithubAccessToken::new(serde_json::from_value(base).unwrap())
    }

    #[test]
    fn the_token_url_is_built_from_the_api_url_and_the_installation() {
        assert_eq!(spec(serde_json::json!({})).unwrap().url.as_str(), "https://api.github.com/app/installations/456/access_tokens");
        let ghe = spec(serde_json::json!({"url": "https://ghe.example.com/api/v3/"})).unwrap();
        assert_eq!(ghe.url.as_str(), "https://ghe.example.com/api/v3/app/installations/456/access_tokens");
    }

    #[test]
    fn a_spec_that_cannot_work_is_refused_before_any_call() {
        let err = |j| spec(j).unwrap_err().to_string();
        assert!(err(serde_json::json!({"installID": "../../user"})).contains("numeric installation id"));
        assert!(err(serde_json::json!({"appID": ""})).contains("appID and installID are required"));
        assert!(err(serde_json::json!({"url": "https://api.github.com@evil.example"})).contains("url"));
        let many: Vec<String> = (0..501).map(|i| format!("r{i}")).collect();
        assert!(err(serde_json::json!({"repositories": many})).contains("GitHub allows 500"));
    }

    #[test]
    fn the_request_body_narrows_only_what_the_spec_names() {
        assert_eq!(spec(serde_json::json!({})).unwrap().payload(), None);
        let narrowed = spec(serde_json::json!({"repositories": ["app"], "permissions": {"contents": "read"}})).unwrap();
        assert_eq!(narrowed.payload(), Some(serde_json::json!({"repositories": ["app"], "permissions": {"contents": "read"}})));
    }
}
