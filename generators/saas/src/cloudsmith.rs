//! `CloudsmithAccessToken`: a Cloudsmith API token from its OIDC exchange, as ESO gets it: a
//! TokenRequest token of `serviceAccountRef` is posted with the service's slug to
//! `POST {apiUrl}/openid/{orgSlug}/`, which answers 201 with a token. Outputs `auth` (base64 of
//! `token:<token>`, a docker config's `auth`) and `expiry` (the token's `exp`). Nothing to clean
//! up: the token expires on Cloudsmith's side.
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

const KIND: &str = "CloudsmithAccessToken";
const PROVIDER: &str = "Cloudsmith";
const DEFAULT_API: &str = "https://api.cloudsmith.io";

/// CloudsmithAccessTokenSpec defines the configuration for generating a Cloudsmith access token
/// using OIDC authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudsmithAccessTokenSpec {
    /// APIURL configures the Cloudsmith API URL. Defaults to https://api.cloudsmith.io.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// OrgSlug is the organization slug in Cloudsmith.
    pub org_slug: String,
    /// ServiceSlug is the service slug in Cloudsmith for OIDC authentication.
    pub service_slug: String,
    /// The ServiceAccount whose token Cloudsmith's OIDC provider trusts (in the namespace of the
    /// ExternalSecret that uses the generator; `namespace` is ignored).
    pub service_account_ref: ServiceAccountSelector,
}

/// The CloudsmithAccessToken generator.
#[derive(Debug, Clone)]
pub struct CloudsmithAccessToken {
    spec: CloudsmithAccessTokenSpec,
    url: Url,
}

/// A Cloudsmith slug: lowercase letters, digits, `-` and `_` (checked before it names a path).
fn slug(field: &str, value: &str) -> Result<(), GeneratorError> {
    let ok = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok { Ok(()) } else { Err(GeneratorError::Invalid(format!("{KIND}: {field} {value:?} must be a slug (letters, digits, '-', '_')"))) }
}

impl CloudsmithAccessToken {
    pub fn new(spec: CloudsmithAccessTokenSpec) -> Result<Self, GeneratorError> {
        let base = spec.api_url.as_deref().filter(|u| !u.is_empty()).unwrap_or(DEFAULT_API);
        let base = http::base_url(KIND, "apiUrl", base)?;
        slug("orgSlug", &spec.org_slug)?;
        slug("serviceSlug", &spec.service_slug)?;
        if spec.service_account_ref.name.is_empty() {
            return Err(GeneratorError::Invalid(format!("{KIND}: serviceAccountRef.name is required")));
        }
        // The trailing slash is part of Cloudsmith's route.
        let url = http::join(&base, &["openid", &spec.org_slug, ""]);
        Ok(CloudsmithAccessToken { spec, url })
    }
}

#[derive(Deserialize)]
struct Exchanged {
    token: Option<String>,
}

#[async_trait]
impl Generator for CloudsmithAccessToken {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let oidc = http::service_account_token(KIND, &self.spec.service_account_ref, ctx).await?;
        let body = serde_json::json!({"oidc_token": oidc, "service_slug": self.spec.service_slug});
        let client = http::client(KIND, &self.url)?;
        let request = client.post(self.url.clone()).header("Content-Type", "application/json").body(body.to_string());
        let what = format!("POST {}", self.url.path());
        let call = async {
            let answer = http::send(what.clone(), request).await?;
            // ESO accepts exactly 201 Created.
            if answer.is_success() && answer.status != 201 {
                return Err(GeneratorError::Invalid(format!("{what}: unexpected status {} (201 expected)", answer.status)));
            }
            answer.json::<Exchanged>()
        };
        let answer = ctx.provider.timed(PROVIDER, "OIDCExchange", call).await.map_err(|e| http::prefix(KIND, e))?;
        let token = answer
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GeneratorError::Invalid(format!("{KIND}: token not found in response")))?;
        let expiry = jwt::expiry(KIND, &token)?;
        let data = BTreeMap::from([
            ("auth".to_string(), STANDARD.encode(format!("token:{token}")).into_bytes()),
            ("expiry".to_string(), expiry.into_bytes()),
        ]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(api: Option<&str>, org: &str) -> Result<CloudsmithAccessToken, GeneratorError> {
        CloudsmithAccessToken::new(CloudsmithAccessTokenSpec {
            api_url: api.map(str::to_string),
            org_slug: org.into(),
            service_slug: "ci-svc".into(),
            service_account_ref: ServiceAccountSelector { name: "builder".into(), ..Default::default() },
        })
    }

    #[test]
    fn the_exchange_url_is_the_orgs_openid_route() {
        assert_eq!(build(None, "acme").unwrap().url.as_str(), "https://api.cloudsmith.io/openid/acme/");
        assert_eq!(build(Some("http://127.0.0.1:9/"), "acme").unwrap().url.as_str(), "http://127.0.0.1:9/openid/acme/");
    }

    #[test]
    fn a_slug_or_url_that_could_move_the_request_is_refused() {
        assert!(build(None, "../admin").unwrap_err().to_string().contains("orgSlug"));
        assert!(build(None, "a?b").is_err());
        assert!(build(Some("https://api.cloudsmith.io@evil.example"), "acme").unwrap_err().to_string().contains("apiUrl"));
    }
}
