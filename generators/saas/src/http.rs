//! What every SaaS generator does over HTTP: check a URL before a credential can go there, build
//! a client that follows no redirect, read an answer with a cap, and sort an error answer into a
//! [`GeneratorError`] class with the service's own (bounded) message, never a value.
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use serde::de::DeserializeOwned;
use sesame_generator_core::{GeneratorContext, GeneratorError};
use sesame_provider_core::{SecretKeySelector, ServiceAccountSelector, checks};

/// The largest answer read: every answer here is one small JSON object.
pub(crate) const MAX_BODY: usize = 256 * 1024;
/// How much of a service's error message reaches a condition.
const MAX_MESSAGE: usize = 200;

/// `value` as a base URL (`https`, or `http` for a plain in-cluster instance), held to the store
/// URL rules: the host a reader sees is the only host a credential can reach.
pub(crate) fn base_url(kind: &str, field: &str, value: &str) -> Result<Url, GeneratorError> {
    checks::base_url(field, value, &["https", "http"]).map_err(|e| prefix(kind, e))?;
    Url::parse(value).map_err(|e| GeneratorError::Invalid(format!("{kind}: {field} {value:?} is not a URL: {e}")))
}

/// `base` with `segments` appended, each escaped as one path segment (a `group/project` id
/// becomes `group%2Fproject`, as GitLab expects).
pub(crate) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    // A URL checked by `base_url` has a scheme and a host, so it can carry a path.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// A client for `url`: bounded in time, no redirects (a redirect would carry the credential
/// elsewhere), the system roots for HTTPS.
pub(crate) fn client(kind: &str, url: &Url) -> Result<reqwest::Client, GeneratorError> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if url.scheme() == "http" {
        // reqwest#2988: a plain-http client must not try to load platform roots.
        builder = builder.tls_certs_only(Vec::new());
    }
    builder.build().map_err(|e| GeneratorError::Invalid(format!("{kind}: cannot build the HTTP client for {url}: {e}")))
}

/// A credential as a header value, marked sensitive so no debug output shows it.
pub(crate) fn header(kind: &str, what: &str, value: &str) -> Result<HeaderValue, GeneratorError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| GeneratorError::Invalid(format!("{kind}: the {what} holds characters an HTTP header cannot carry")))?;
    v.set_sensitive(true);
    Ok(v)
}

/// One answer, read whole (up to [`MAX_BODY`]).
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    retry_after: Option<Duration>,
    what: String,
}

/// Send `request` and read its answer; `what` names the call by method and path only.
pub(crate) async fn send(what: String, request: reqwest::RequestBuilder) -> Result<Answer, GeneratorError> {
    let mut resp = request
        .send()
        .await
        .map_err(|e| GeneratorError::Transient(format!("{what}: cannot reach the service: {}", sesame_provider_http::chain(&e))))?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| GeneratorError::Transient(format!("{what}: reading the answer: {}", sesame_provider_http::chain(&e))))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(GeneratorError::Invalid(format!("{what}: the answer is larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body, retry_after: retry_after.map(Duration::from_secs), what })
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body of a 2xx answer as `T`; any other answer as its error.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, GeneratorError> {
        if !self.is_success() {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body)
            .map_err(|_| GeneratorError::Invalid(format!("{}: the answer is not the JSON expected", self.what)))
    }

    /// This answer as an error: 401/403 auth, 404 not found, 429 throttled, 5xx transient,
    /// anything else invalid; with the service's message (`message`, `error`, `detail` or
    /// `error_description`), cut short.
    pub fn error(&self) -> GeneratorError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        let said = parsed
            .as_ref()
            .and_then(|v| ["message", "error_description", "error", "detail"].iter().find_map(|k| v.get(*k)))
            .map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string()))
            .unwrap_or_default();
        let said: String = said.chars().take(MAX_MESSAGE).collect();
        let msg = format!("{}: HTTP {} {said}", self.what, self.status).trim_end().to_string();
        match self.status {
            401 | 403 => GeneratorError::Auth(msg),
            404 => GeneratorError::NotFound(msg),
            429 => GeneratorError::Throttled { message: msg, retry_after: self.retry_after },
            500.. => GeneratorError::Transient(msg),
            _ => GeneratorError::Invalid(msg),
        }
    }
}

/// A Secret key in the context's namespace (ESO ignores a `namespace` in a generator's refs).
pub(crate) async fn secret(
    kind: &str,
    field: &str,
    selector: &SecretKeySelector,
    ctx: &GeneratorContext,
) -> Result<Vec<u8>, GeneratorError> {
    if selector.name.is_empty() || selector.key.as_deref().unwrap_or("").is_empty() {
        return Err(GeneratorError::Invalid(format!("{kind}: {field} must name a secret and a key")));
    }
    let local = SecretKeySelector { namespace: None, ..selector.clone() };
    let value = ctx.provider.credentials.secret_key(&local, None).await.map_err(|e| prefix(kind, e))?;
    Ok(value.into_bytes())
}

/// A TokenRequest token of a ServiceAccount in the context's namespace, for exactly its
/// `audiences` (the apiserver's own audience when there are none), as ESO requests it.
pub(crate) async fn service_account_token(
    kind: &str,
    sa: &ServiceAccountSelector,
    ctx: &GeneratorContext,
) -> Result<String, GeneratorError> {
    if sa.name.is_empty() {
        return Err(GeneratorError::Invalid(format!("{kind}: serviceAccountRef.name is required")));
    }
    let local = ServiceAccountSelector { namespace: None, ..sa.clone() };
    ctx.provider.credentials.service_account_token(&local, &sa.audiences, None).await.map_err(|e| prefix(kind, e))
}

/// The error with what the generator was doing in front of its message.
pub(crate) fn prefix(kind: &str, err: GeneratorError) -> GeneratorError {
    sesame_provider_http::prefixed(err, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec(), retry_after: Some(Duration::from_secs(3)), what: "POST /x".into() }
    }

    #[test]
    fn error_answers_are_sorted_by_what_the_controller_does_next() {
        assert_eq!(
            answer(401, r#"{"message":"Bad credentials"}"#).error().to_string(),
            "authentication failed: POST /x: HTTP 401 Bad credentials"
        );
        assert_eq!(answer(403, "").error().kind(), "auth");
        assert_eq!(answer(404, r#"{"error":"404 Not Found"}"#).error().kind(), "not_found");
        assert_eq!(
            answer(429, "slow down").error(),
            GeneratorError::Throttled { message: "POST /x: HTTP 429".into(), retry_after: Some(Duration::from_secs(3)) }
        );
        assert_eq!(answer(502, "").error().kind(), "transient");
        assert!(answer(422, r#"{"detail":"bad slug"}"#).error().to_string().ends_with("HTTP 422 bad slug"));
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(5000));
        assert!(answer(400, &long).error().to_string().len() < 300, "a service's message is cut short");
    }

    #[test]
    fn urls_follow_the_store_rules_and_segments_are_escaped() {
        for bad in ["https://gitlab.example.com@evil.example", "https://evil.example#.gitlab.com", "ftp://gitlab.com", "gitlab.com"] {
            assert!(matches!(base_url("K", "url", bad), Err(GeneratorError::Invalid(_))), "{bad} accepted");
        }
        let base = base_url("K", "url", "https://git.example.com/gitlab/").unwrap();
        assert_eq!(
            join(&base, &["api", "v4", "projects", "acme/app", "deploy_tokens"]).as_str(),
            "https://git.example.com/gitlab/api/v4/projects/acme%2Fapp/deploy_tokens"
        );
    }
}
