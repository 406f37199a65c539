//! The access token's life: a login (`login.rs`) with `POST /api/v1/auth/<method>/login`; the
//! token is renewed (`/api/v1/auth/token/renew`) before it expires, and a fresh login is made when renewal fails or the token reached its max TTL. Token
//! Auth uses the given token as is. The credentials are read once per built client: an auth error
//! makes the controller rebuild the client, which reads them again.
use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use sesame_provider_core::{ProviderContext, ProviderError};
use sesame_provider_http::reqwest::header::HeaderValue;
use sesame_provider_http::{reqwest, send};

use crate::ambient::Ambient;
use crate::client::{MAX_BODY, PROVIDER_NAME};
use crate::login::Login;

/// Infisical's answer to a login or a renewal.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    access_token: String,
    /// Seconds the token lives.
    expires_in: u64,
    /// Seconds the token may be renewed for, from its login; 0 for no limit.
    #[serde(rename = "accessTokenMaxTTL", default)]
    access_token_max_ttl: u64,
}

/// A live access token. `Debug` never shows it.
pub(crate) struct Session {
    pub(crate) token: HeaderValue,
    raw: String,
    /// `None` for Token Auth: the token is used until Infisical refuses it.
    expires_at: Option<Instant>,
    ttl: Duration,
    /// Past this, a renewal cannot help: log in again.
    renew_until: Option<Instant>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

fn bearer(token: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| ProviderError::Invalid("the access token holds characters an HTTP header cannot carry".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

impl Session {
    /// What remains before a token must be renewed: a quarter of its life, at most a minute.
    fn due(&self, now: Instant) -> bool {
        let margin = (self.ttl / 4).min(Duration::from_secs(60));
        self.expires_at.is_some_and(|at| now + margin >= at)
    }

    fn from_issued(issued: Issued, renew_until: Option<Instant>) -> Result<Session, ProviderError> {
        if issued.access_token.is_empty() {
            return Err(ProviderError::Auth("the login answer holds no access token".into()));
        }
        let now = Instant::now();
        let ttl = Duration::from_secs(issued.expires_in);
        let renew_until =
            renew_until.or_else(|| (issued.access_token_max_ttl > 0).then(|| now + Duration::from_secs(issued.access_token_max_ttl)));
        Ok(Session { token: bearer(&issued.access_token)?, raw: issued.access_token, expires_at: Some(now + ttl), ttl, renew_until })
    }
}

/// Where logins go, and how.
pub(crate) struct Authenticator {
    pub(crate) root: reqwest::Url,
    pub(crate) http: reqwest::Client,
    pub(crate) login: Login,
    pub(crate) organization: String,
    pub(crate) ambient: Ambient,
    pub(crate) ctx: ProviderContext,
}

impl Authenticator {
    fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.root.clone();
        url.set_path(&format!("{}{path}", self.root.path().trim_end_matches('/')));
        url
    }

    async fn post(&self, call: &'static str, path: &'static str, body: serde_json::Value) -> Result<Issued, ProviderError> {
        let what = format!("POST /api{path}");
        let request = self.http.post(self.url(path)).header("content-type", "application/json").body(body.to_string());
        self.ctx
            .timed(PROVIDER_NAME, call, async {
                send(PROVIDER_NAME, &what, request, MAX_BODY).await?.success(&what, &["message", "error"])?.json(&what, "Infisical")
            })
            .await
    }

    /// A new session: a login, or Token Auth's own token.
    pub(crate) async fn start(&self) -> Result<Session, ProviderError> {
        if let Login::Token(token) = &self.login {
            return Ok(Session { token: bearer(token)?, raw: token.clone(), expires_at: None, ttl: Duration::ZERO, renew_until: None });
        }
        let body = self.login.body(&self.organization, &self.ambient, &self.ctx).await?;
        let issued = self.post(self.login.call(), self.login.path(), body).await.map_err(|e| match e {
            // A refused login is a credentials problem whatever the status (Infisical answers 400
            // for a wrong client secret).
            ProviderError::Invalid(m) => ProviderError::Auth(m),
            other => other,
        })?;
        Session::from_issued(issued, None)
    }

    /// The session to use now: `current`, renewed or replaced when it is due.
    pub(crate) async fn fresh(&self, current: &mut Session) -> Result<(), ProviderError> {
        let now = Instant::now();
        if !current.due(now) {
            return Ok(());
        }
        if current.renew_until.is_none_or(|until| now + current.ttl <= until) {
            let renewed = self.post("RenewAccessToken", "/v1/auth/token/renew", json!({"accessToken": current.raw})).await;
            if let Ok(issued) = renewed
                && let Ok(session) = Session::from_issued(issued, current.renew_until)
            {
                *current = session;
                return Ok(());
            }
        }
        *current = self.start().await?;
        Ok(())
    }

    /// Revoke a login's token (never Token Auth's: it is not ours), as ESO does on close.
    pub(crate) async fn revoke(&self, session: &Session) {
        if matches!(self.login, Login::Token(_)) {
            return;
        }
        let _ = self.post_revoke(session).await;
    }

    async fn post_revoke(&self, session: &Session) -> Result<(), ProviderError> {
        let what = "POST /api/v1/auth/token/revoke";
        let body = json!({"accessToken": session.raw}).to_string();
        let request = self.http.post(self.url("/v1/auth/token/revoke")).header("content-type", "application/json").body(body);
        self.ctx
            .timed(PROVIDER_NAME, "RevokeAccessToken", async {
                send(PROVIDER_NAME, what, request, MAX_BODY).await?.success(what, &["message", "error"]).map(|_| ())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_in_the_last_quarter_of_its_life_at_most_a_minute_early() {
        let issued = |ttl| Issued { access_token: "t".into(), expires_in: ttl, access_token_max_ttl: 0 };
        let s = Session::from_issued(issued(40), None).unwrap();
        let now = Instant::now();
        assert!(!s.due(now));
        assert!(!s.due(now + Duration::from_secs(25)));
        assert!(s.due(now + Duration::from_secs(31)));
        let long = Session::from_issued(issued(7200), None).unwrap();
        assert!(!long.due(now + Duration::from_secs(7000)));
        assert!(long.due(now + Duration::from_secs(7141)));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let s = Session::from_issued(Issued { access_token: "tok-123".into(), expires_in: 60, access_token_max_ttl: 0 }, None).unwrap();
        assert!(!format!("{s:?}").contains("tok-123"));
    }
}
