//! `GitlabDeployToken`: a project or group deploy token created with
//! `POST {url}/api/v4/{projects|groups}/{id}/deploy_tokens` (the `PRIVATE-TOKEN` of a Maintainer),
//! output as `username` and `token`. GitLab deploy tokens live until revoked, so the generator
//! returns ESO's state (`url`, `projectID`/`groupID`, `tokenID`) and its cleanup deletes the token
//! where it was made, whatever the spec says by then; a token already gone is not an error.
use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::Url;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_core::SecretKeySelector;

use crate::http;

const KIND: &str = "GitlabDeployToken";
const PROVIDER: &str = "GitLab";
const DEFAULT_URL: &str = "https://gitlab.com";
/// GitLab's limit on a deploy token's name and username.
const MAX_NAME: usize = 255;

/// A scope that can be granted to a GitLab deploy token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GitlabDeployTokenScope {
    /// Read access to the repository.
    ReadRepository,
    /// Read access to the container registry.
    ReadRegistry,
    /// Write access to the container registry.
    WriteRegistry,
    /// Read access to the package registry.
    ReadPackageRegistry,
    /// Write access to the package registry.
    WritePackageRegistry,
    /// Read access to the virtual registry (projects only).
    ReadVirtualRegistry,
    /// Write access to the virtual registry (projects only).
    WriteVirtualRegistry,
}

/// GitlabDeployTokenSpec defines the desired state to generate a GitLab deploy token. Exactly one
/// of projectID or groupID must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitlabDeployTokenSpec {
    /// URL configures the GitLab instance URL. Defaults to https://gitlab.com.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// ProjectID is the numeric ID or unescaped path (e.g. group/project) of the project to
    /// create the deploy token in. The generator URL-escapes paths before calling the GitLab API,
    /// so do not pre-encode. Mutually exclusive with groupID.
    #[serde(rename = "projectID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub project_id: Option<String>,
    /// GroupID is the numeric ID or unescaped path (e.g. parent/group) of the group to create the
    /// deploy token in. The generator URL-escapes paths before calling the GitLab API, so do not
    /// pre-encode. Mutually exclusive with projectID.
    #[serde(rename = "groupID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub group_id: Option<String>,
    /// Name of the deploy token.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Scopes granted to the deploy token. At least one scope is required.
    #[schemars(length(min = 1))]
    pub scopes: Vec<GitlabDeployTokenScope>,
    /// ExpiresAt is an optional expiry for the deploy token (RFC 3339). If omitted the token does
    /// not expire on the GitLab side and is revoked only when the generator state is cleaned up
    /// (on regeneration or when the consuming ExternalSecret is deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
    /// Username is an optional username for the deploy token. GitLab defaults it to
    /// gitlab+deploy-token-{n} when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Auth configures how ESO authenticates with the GitLab API.
    pub auth: GitlabDeployTokenAuth,
}

/// GitlabDeployTokenAuth defines the authentication configuration for the GitLab API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitlabDeployTokenAuth {
    /// Token references a secret containing a GitLab access token (personal, group, or project)
    /// with the api scope and at least the Maintainer role on the target.
    pub token: GitlabDeployTokenSecretRef,
}

/// GitlabDeployTokenSecretRef references a secret containing a GitLab access token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitlabDeployTokenSecretRef {
    /// The Secret key holding the token (read in the namespace of the ExternalSecret that uses
    /// the generator).
    pub secret_ref: SecretKeySelector,
}

/// Where a token was made: ESO's state, enough for the cleanup to revoke it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct DeployTokenState {
    url: String,
    #[serde(rename = "projectID", default, skip_serializing_if = "String::is_empty")]
    project_id: String,
    #[serde(rename = "groupID", default, skip_serializing_if = "String::is_empty")]
    group_id: String,
    #[serde(rename = "tokenID")]
    token_id: u64,
}

impl DeployTokenState {
    /// The deploy-token collection of the state's project or group.
    fn collection(&self) -> Result<Url, GeneratorError> {
        let base = if self.url.is_empty() { DEFAULT_URL } else { &self.url };
        let base = http::base_url(KIND, "url", base)?;
        match (self.project_id.as_str(), self.group_id.as_str()) {
            (p, "") if !p.is_empty() => Ok(http::join(&base, &["api", "v4", "projects", p, "deploy_tokens"])),
            ("", g) if !g.is_empty() => Ok(http::join(&base, &["api", "v4", "groups", g, "deploy_tokens"])),
            _ => Err(GeneratorError::Invalid(format!("{KIND}: exactly one of projectID or groupID must be set"))),
        }
    }
}

/// The GitlabDeployToken generator.
#[derive(Debug, Clone)]
pub struct GitlabDeployToken {
    spec: GitlabDeployTokenSpec,
    /// Where the next token is made.
    target: DeployTokenState,
    expires_at: Option<String>,
}

impl GitlabDeployToken {
    pub fn new(spec: GitlabDeployTokenSpec) -> Result<Self, GeneratorError> {
        let invalid = |m: String| Err(GeneratorError::Invalid(format!("{KIND}: {m}")));
        let target = DeployTokenState {
            url: spec.url.clone().unwrap_or_default(),
            project_id: spec.project_id.clone().unwrap_or_default(),
            group_id: spec.group_id.clone().unwrap_or_default(),
            token_id: 0,
        };
        target.collection()?;
        if spec.name.is_empty() || spec.name.chars().count() > MAX_NAME {
            return invalid(format!("name must hold 1 to {MAX_NAME} characters"));
        }
        if spec.username.as_ref().is_some_and(|u| u.chars().count() > MAX_NAME) {
            return invalid(format!("username must hold at most {MAX_NAME} characters"));
        }
        if spec.scopes.is_empty() {
            return invalid("at least one scope is required".into());
        }
        if spec.scopes.len() > 7 {
            return invalid("scopes lists more than the 7 deploy token scopes".into());
        }
        let expires_at = match spec.expires_at.as_deref() {
            None => None,
            Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
                Ok(t) => Some(t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                Err(_) => return invalid(format!("expiresAt {t:?} is not an RFC 3339 time")),
            },
        };
        Ok(GitlabDeployToken { spec, target, expires_at })
    }

    async fn auth_token(&self, ctx: &GeneratorContext) -> Result<reqwest::header::HeaderValue, GeneratorError> {
        let token = http::secret(KIND, "auth.token.secretRef", &self.spec.auth.token.secret_ref, ctx).await?;
        let token = String::from_utf8(token).map_err(|_| GeneratorError::Invalid(format!("{KIND}: the GitLab token is not UTF-8")))?;
        http::header(KIND, "GitLab token", token.trim())
    }
}

#[derive(Deserialize)]
struct CreatedToken {
    id: u64,
    #[serde(default)]
    username: String,
    #[serde(default)]
    token: String,
}

#[async_trait]
impl Generator for GitlabDeployToken {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let auth = self.auth_token(ctx).await?;
        let url = self.target.collection()?;
        let mut body = serde_json::json!({"name": self.spec.name, "scopes": self.spec.scopes});
        if let Some(u) = self.spec.username.as_deref().filter(|u| !u.is_empty()) {
            body["username"] = u.into();
        }
        if let Some(t) = &self.expires_at {
            body["expires_at"] = t.as_str().into();
        }
        let client = http::client(KIND, &url)?;
        let request =
            client.post(url.clone()).header("PRIVATE-TOKEN", auth).header("Content-Type", "application/json").body(body.to_string());
        let what = format!("POST {}", url.path());
        let call = async { http::send(what, request).await?.json::<CreatedToken>() };
        let created = ctx.provider.timed(PROVIDER, "CreateDeployToken", call).await.map_err(|e| http::prefix(KIND, e))?;
        if created.token.is_empty() {
            return Err(GeneratorError::Invalid(format!("{KIND}: deploy token missing from GitLab response")));
        }
        let state = DeployTokenState { token_id: created.id, ..self.target.clone() };
        let data =
            BTreeMap::from([("username".to_string(), created.username.into_bytes()), ("token".to_string(), created.token.into_bytes())]);
        Ok(Generated { data, state: Some(serde_json::to_value(state).expect("the state serialises")) })
    }

    /// Revoke the token the state names, where it was made (not where the spec points now).
    async fn cleanup(&self, state: &serde_json::Value, ctx: &GeneratorContext) -> Result<(), GeneratorError> {
        let state: DeployTokenState = serde_json::from_value(state.clone())
            .map_err(|e| GeneratorError::Invalid(format!("{KIND}: error parsing generator state: {e}")))?;
        if state.token_id == 0 {
            return Ok(());
        }
        let url = http::join(&state.collection()?, &[&state.token_id.to_string()]);
        let auth = self.auth_token(ctx).await?;
        let client = http::client(KIND, &url)?;
        let what = format!("DELETE {}", url.path());
        let call = async {
            let answer = http::send(what, client.delete(url.clone()).header("PRIVATE-TOKEN", auth)).await?;
            // 204 when revoked; 404 when it is already gone.
            if answer.is_success() || answer.status == 404 { Ok(()) } else { Err(answer.error()) }
        };
        ctx.provider.timed(PROVIDER, "DeleteDeployToken", call).await.map_err(|e| http::prefix(KIND, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(extra: serde_json::Value) -> Result<GitlabDeployToken, GeneratorError> {
        let mut spec = serde_json::json!({"projectID": "acme/app", "name": "ci", "scopes": ["read_registry"], "auth": {"token": {"secretRef": {"name": "gl", "key": "token"}}}});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                spec.as_object_mut().unwrap().remove(k);
            } else {
                spec[k] = v.clone();
            }
        }
        GitlabDeployToken::new(serde_json::from_value(spec).map_err(|e| GeneratorError::Invalid(e.to_string()))?)
    }

    #[test]
    fn the_collection_is_the_projects_or_the_groups_escaped() {
        let p = build(serde_json::json!({})).unwrap();
        assert_eq!(p.target.collection().unwrap().as_str(), "https://gitlab.com/api/v4/projects/acme%2Fapp/deploy_tokens");
        let g = build(serde_json::json!({"projectID": null, "groupID": "7", "url": "https://git.example.com/"})).unwrap();
        assert_eq!(g.target.collection().unwrap().as_str(), "https://git.example.com/api/v4/groups/7/deploy_tokens");
    }

    #[test]
    fn a_spec_that_cannot_work_is_refused() {
        let err = |j| build(j).unwrap_err().to_string();
        assert!(err(serde_json::json!({"groupID": "7"})).contains("exactly one of projectID or groupID"));
        assert!(err(serde_json::json!({"projectID": null})).contains("exactly one of projectID or groupID"));
        assert!(err(serde_json::json!({"scopes": []})).contains("at least one scope"));
        assert!(err(serde_json::json!({"scopes": ["api"]})).contains("unknown variant"));
        assert!(err(serde_json::json!({"expiresAt": "tomorrow"})).contains("RFC 3339"));
        assert!(err(serde_json::json!({"url": "http://evil.example#gitlab.com"})).contains("url"));
        assert!(err(serde_json::json!({"name": ""})).contains("name must hold"));
    }

    #[test]
    fn an_expiry_is_sent_in_utc_as_eso_sends_it() {
        let g = build(serde_json::json!({"expiresAt": "2027-01-01T02:00:00+02:00"})).unwrap();
        assert_eq!(g.expires_at.as_deref(), Some("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn the_state_is_esos() {
        let s = DeployTokenState { url: "".into(), project_id: "42".into(), group_id: "".into(), token_id: 9 };
        assert_eq!(serde_json::to_value(&s).unwrap(), serde_json::json!({"url": "", "projectID": "42", "tokenID": 9}));
    }
}
