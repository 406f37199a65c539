//! `QuayAccessToken`: a robot-account token from Quay's OIDC federation, as ESO gets it: a
//! TokenRequest token of `serviceAccountRef` (its `audiences`, in the ExternalSecret's namespace)
//! is the password of a Basic login as the robot at `GET https://{url}/oauth2/federation/robot/token`.
//! Outputs `registry` (the host), `auth` (base64 of `robot:token`, a docker config's `auth`) and
//! `expiry` (the token's `exp`). Nothing to clean up: the token expires on Quay's side.
use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_core::ServiceAccountSelector;

use crate::{http, jwt};

const KIND: &str = "QuayAccessToken";
const PROVIDER: &str = "Quay";
const DEFAULT_URL: &str = "quay.io";

/// QuayAccessTokenSpec defines the desired state to generate a Quay access token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuayAccessTokenSpec {
    /// URL configures the Quay instance URL: a host (`quay.example.com`) reached over HTTPS, or
    /// an `https://` URL. Sesame also accepts `http://host:port` for an in-cluster test
    /// registry. Defaults to quay.io.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Name of the robot account you are federating with (`org+robot`).
    pub robot_account: String,
    /// The ServiceAccount whose token the robot account's federation trusts (in the namespace of
    /// the ExternalSecret that uses the generator; `namespace` is ignored).
    pub service_account_ref: ServiceAccountSelector,
}

/// The QuayAccessToken generator.
#[derive(Debug, Clone)]
pub struct QuayAccessToken {
    spec: QuayAccessTokenSpec,
    /// The registry as ESO reports it: the URL without its scheme.
    registry: String,
    url: Url,
}

impl QuayAccessToken {
    pub fn new(spec: QuayAccessTokenSpec) -> Result<Self, GeneratorError> {
        let given = spec.url.as_deref().filter(|u| !u.is_empty()).unwrap_or(DEFAULT_URL).trim_end_matches('/');
        let full = if given.contains("://") { given.to_string() } else { format!("https://{given}") };
        let base = http::base_url(KIND, "url", &full)?;
        let registry = full.split_once("://").map(|(_, rest)| rest.to_string()).unwrap_or_default();
        let robot = &spec.robot_account;
        // `org+robot`: also what keeps the Basic login's user free of ':'.
        let robot_ok = !robot.is_empty()
            && robot.len() <= 255
            && robot.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'-' | b'.'));
        if !robot_ok {
            return Err(GeneratorError::Invalid(format!(
                "{KIND}: robotAccount {robot:?} must be an org+robot name (letters, digits, '+', '_', '-', '.')"
            )));
        }
        if spec.service_account_ref.name.is_empty() {
            return Err(GeneratorError::Invalid(format!("{KIND}: serviceAccountRef.name is required")));
        }
        let url = http::join(&base, &["oauth2", "federation", "robot", "token"]);
        Ok(QuayAccessToken { spec, registry, url })
    }
}

#[derive(Deserialize)]
struct RobotToken {
    token: Option<String>,
}

#[async_trait]
impl Generator for QuayAccessToken {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let federated = http::service_account_token(KIND, &self.spec.service_account_ref, ctx).await?;
        let client = http::client(KIND, &self.url)?;
        let request = client.get(self.url.clone()).basic_auth(&self.spec.robot_account, Some(federated));
        let what = format!("GET {}", self.url.path());
        let call = async { http::send(what, request).await?.json::<RobotToken>() };
        let answer = ctx.provider.timed(PROVIDER, "FederationRobotToken", call).await.map_err(|e| http::prefix(KIND, e))?;
        let token = answer
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GeneratorError::Invalid(format!("{KIND}: token not found in response")))?;
        let expiry = jwt::expiry(KIND, &token)?;
        let auth = STANDARD.encode(format!("{}:{token}", self.spec.robot_account));
        let data = BTreeMap::from([
            ("registry".to_string(), self.registry.clone().into_bytes()),
            ("auth".to_string(), auth.into_bytes()),
            ("expiry".to_string(), expiry.into_bytes()),
        ]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(url: Option<&str>, robot: &str) -> Result<QuayAccessToken, GeneratorError> {
        let spec = QuayAccessTokenSpec {
            url: url.map(str::to_string),
            robot_account: robot.into(),
            service_account_ref: ServiceAccountSelector { name: "builder".into(), ..Default::default() },
        };
        QuayAccessToken::new(spec)
    }

    #[test]
    fn the_url_is_a_host_reached_over_https_and_the_registry_is_that_host() {
        let q = build(None, "acme+ci").unwrap();
        assert_eq!((q.url.as_str(), q.registry.as_str()), ("https://quay.io/oauth2/federation/robot/token", "quay.io"));
        let q = build(Some("https://quay.example.com/"), "acme+ci").unwrap();
        assert_eq!((q.url.as_str(), q.registry.as_str()), ("https://quay.example.com/oauth2/federation/robot/token", "quay.example.com"));
        let q = build(Some("http://127.0.0.1:8080"), "acme+ci").unwrap();
        assert_eq!(q.registry, "127.0.0.1:8080");
    }

    #[test]
    fn a_hostile_url_or_robot_is_refused() {
        for bad in ["quay.io@evil.example", "evil.example#quay.io", "ftp://quay.io"] {
            assert!(build(Some(bad), "acme+ci").is_err(), "{bad}");
        }
        assert!(build(None, "acme:ci").unwrap_err().to_string().contains("robotAccount"));
        assert!(build(None, "").is_err());
    }
}
