//! `auth.oidcConfig`: a ServiceAccount token minted with the TokenRequest API is exchanged at
//! `POST /v3/auth/oidc` (`{"identity", "token"}`) for a Doppler API token, kept until a minute
//! before the `expires_at` Doppler answers, as ESO does. The ServiceAccount token's audiences
//! are ESO's: `serviceAccountRef.audiences` (or the API root when none) and the store's own
//! `secretStore:<namespace>:<name>` / `clusterSecretStore:<name>`.
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::json;
use sesame_provider_core::{ProviderContext, ProviderError};
use sesame_provider_http::{reqwest, send};
use tokio::sync::Mutex;

use crate::DopplerOidcAuth;
use crate::client::PROVIDER_NAME;

/// ESO's margin: a token this close to its expiry is exchanged anew.
const MARGIN: Duration = Duration::from_secs(60);
/// An exchange answer is a token and a date.
const MAX_ANSWER: usize = 64 * 1024;

/// A Doppler API token and when it stops working.
struct Issued {
    token: String,
    expires_at: SystemTime,
}

/// The exchange of one store, and its current token. `Debug` never shows the token.
pub(crate) struct OidcTokens {
    config: DopplerOidcAuth,
    /// Where the exchange goes.
    url: reqwest::Url,
    /// The ServiceAccount token's audiences.
    audiences: Vec<String>,
    current: Mutex<Option<Issued>>,
}

impl fmt::Debug for OidcTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcTokens").field("identity", &self.config.identity).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    token: String,
    #[serde(default)]
    expires_at: String,
}

impl OidcTokens {
    /// `api_root` is the configured root as written (ESO's default audience); `base` its URL.
    pub(crate) fn new(config: &DopplerOidcAuth, api_root: &str, base: &reqwest::Url, store_audience: Option<String>) -> Self {
        let mut audiences = config.service_account_ref.audiences.clone();
        if audiences.is_empty() {
            audiences.push(api_root.to_string());
        }
        audiences.extend(store_audience);
        let mut url = base.clone();
        url.set_path(&format!("{}/v3/auth/oidc", base.path().trim_end_matches('/')));
        OidcTokens { config: config.clone(), url, audiences, current: Mutex::new(None) }
    }

    /// A Doppler token valid for at least a minute more, exchanged when needed.
    pub(crate) async fn token(&self, http: &reqwest::Client, ctx: &ProviderContext) -> Result<String, ProviderError> {
        let mut current = self.current.lock().await;
        if let Some(issued) = current.as_ref()
            && SystemTime::now() + MARGIN < issued.expires_at
        {
            return Ok(issued.token.clone());
        }
        let issued = self.exchange(http, ctx).await?;
        let token = issued.token.clone();
        *current = Some(issued);
        Ok(token)
    }

    /// Forget the token (Doppler refused it): the next call exchanges anew.
    pub(crate) async fn forget(&self) {
        *self.current.lock().await = None;
    }

    async fn exchange(&self, http: &reqwest::Client, ctx: &ProviderContext) -> Result<Issued, ProviderError> {
        let sa = &self.config.service_account_ref;
        let expiration = self.config.expiration_seconds.filter(|s| *s > 0);
        let sa_token = ctx.credentials.service_account_token(sa, &self.audiences, expiration).await?;
        let what = "POST /v3/auth/oidc";
        let body = json!({"identity": self.config.identity, "token": sa_token}).to_string();
        let request =
            http.post(self.url.clone()).header("content-type", "application/json").header("accept", "application/json").body(body);
        let answer: Answer = ctx
            .timed(PROVIDER_NAME, "OIDCAuth", async {
                let answer = send(PROVIDER_NAME, what, request, MAX_ANSWER).await?.success(what, &["messages"]).map_err(refused)?;
                answer.json(what, "Doppler")
            })
            .await?;
        if !answer.success || answer.token.is_empty() {
            return Err(ProviderError::Auth(format!("{what}: Doppler did not issue a token for identity {}", self.config.identity)));
        }
        let expires_at = chrono::DateTime::parse_from_rfc3339(&answer.expires_at)
            .map_err(|_| ProviderError::Invalid(format!("{what}: expires_at {:?} is not an RFC 3339 date", short(&answer.expires_at))))?;
        let expires_at = SystemTime::from(expires_at.with_timezone(&chrono::Utc));
        Ok(Issued { token: answer.token, expires_at })
    }
}

/// A refused exchange is a credentials problem whatever the status (Doppler answers 400 for a
/// token its identity does not accept).
fn refused(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Invalid(m) | ProviderError::NotFound(m) => ProviderError::Auth(m),
        other => other,
    }
}

fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_provider_core::ServiceAccountSelector;

    fn config(audiences: &[&str]) -> DopplerOidcAuth {
        DopplerOidcAuth {
            identity: "id-1".into(),
            service_account_ref: ServiceAccountSelector {
                name: "sa".into(),
                namespace: None,
                audiences: audiences.iter().map(|a| a.to_string()).collect(),
            },
            expiration_seconds: None,
        }
    }

    #[test]
    fn the_audiences_are_esos_the_given_ones_or_the_api_root_then_the_store() {
        let base = reqwest::Url::parse("https://api.doppler.com").unwrap();
        let t = OidcTokens::new(&config(&[]), "https://api.doppler.com", &base, Some("secretStore:ns:doppler".into()));
        assert_eq!(t.audiences, ["https://api.doppler.com", "secretStore:ns:doppler"]);
        assert_eq!(t.url.as_str(), "https://api.doppler.com/v3/auth/oidc");
        let t = OidcTokens::new(&config(&["custom"]), "https://api.doppler.com", &base, Some("clusterSecretStore:d".into()));
        assert_eq!(t.audiences, ["custom", "clusterSecretStore:d"]);
        assert!(!format!("{t:?}").contains("custom"));
    }
}
