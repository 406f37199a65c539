//! The REST API v4 calls the provider makes, on one `reqwest` client per built store.
//!
//! GitLab answers errors as `{"message": "404 Variable Not Found"}` (or `{"error": …}`), pages
//! lists with `page`/`per_page` and an `X-Next-Page` header that is empty on the last page, and
//! throttles with 429 and `Retry-After` in seconds.
use std::fmt;
use std::time::Duration;

use base64::Engine;
use reqwest::Url;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use sesame_provider_core::{CredentialSource, ProviderError};

use crate::{DEFAULT_URL, GitlabProvider};

/// The largest answer read from GitLab: a variable value holds at most 10 000 characters, a
/// page at most 100 variables.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Pages of one list: 100 pages of 100 variables.
pub(crate) const MAX_PAGES: u32 = 100;

/// A CI/CD variable as GitLab returns it (project and group variables share these fields).
#[derive(Deserialize)]
pub(crate) struct Variable {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub environment_scope: Option<String>,
}

impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variable").field("key", &self.key).field("environment_scope", &self.environment_scope).finish_non_exhaustive()
    }
}

/// A group of `GET /projects/:id/groups`.
#[derive(Debug, Deserialize)]
pub(crate) struct ProjectGroup {
    pub id: u64,
    #[serde(default)]
    pub full_path: String,
}

pub(crate) struct Api {
    base: Url,
    http: reqwest::Client,
    token: HeaderValue,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// The API root of a store's `url`, as GitLab's client library derives it: a trailing slash,
/// then `api/v4/` unless the URL already ends with it.
pub(crate) fn api_root(url: Option<&str>) -> Result<Url, ProviderError> {
    let mut text = url.filter(|u| !u.is_empty()).unwrap_or(DEFAULT_URL).to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    if !text.ends_with("api/v4/") {
        text.push_str("api/v4/");
    }
    Url::parse(&text).map_err(|e| ProviderError::Invalid(format!("url {text:?} is not a URL: {e}")))
}

impl Api {
    pub(crate) async fn new(spec: &GitlabProvider, token: &[u8], creds: &dyn CredentialSource) -> Result<Api, ProviderError> {
        let base = api_root(spec.url.as_deref())?;
        let mut token = HeaderValue::from_bytes(token)
            .map_err(|_| ProviderError::Invalid("the access token holds characters an HTTP header cannot carry".into()))?;
        token.set_sensitive(true);
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none());
        if base.scheme() == "https" {
            let cas = ca_certificates(spec, creds).await?;
            if !cas.is_empty() {
                builder = builder.tls_certs_only(cas);
            }
        } else {
            // reqwest#2988: a plain-http client must not try to load platform roots.
            builder = builder.tls_certs_only(Vec::new());
        }
        let http = builder.build().map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client for {base}: {e}")))?;
        Ok(Api { base, http, token })
    }

    /// `GET` of `segments` (each escaped as one path segment) with `query`: the decoded body and
    /// the next page, if any.
    pub(crate) async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<(T, Option<String>), ProviderError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| ProviderError::Invalid(format!("url {} cannot carry a path", self.base)))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        // Name the call by its path only: never the token, never a value.
        let what = format!("GET {}", url.path());
        let mut resp = self
            .http
            .get(url)
            .header("PRIVATE-TOKEN", self.token.clone())
            .send()
            .await
            .map_err(|e| ProviderError::Transient(format!("{what}: cannot reach GitLab: {}", chain(&e))))?;
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        let next =
            resp.headers().get("x-next-page").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) =
            resp.chunk().await.map_err(|e| ProviderError::Transient(format!("{what}: reading the answer: {}", chain(&e))))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ProviderError::Invalid(format!("{what}: the answer is larger than {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            return Err(classify(&what, status, &body, retry_after.map(Duration::from_secs)));
        }
        let value = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Invalid(format!("{what}: the answer is not the JSON GitLab sends")))?;
        Ok((value, next))
    }
}

/// An error answer as a [`ProviderError`], with GitLab's own message (it never holds a value).
pub(crate) fn classify(what: &str, status: u16, body: &[u8], retry_after: Option<Duration>) -> ProviderError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let said = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string()))
        .unwrap_or_default();
    let said: String = said.chars().take(200).collect();
    let msg = format!("{what}: HTTP {status} {said}").trim_end().to_string();
    match status {
        401 | 403 => ProviderError::Auth(msg),
        404 => ProviderError::NotFound(msg),
        429 => ProviderError::Throttled { message: msg, retry_after },
        500.. => ProviderError::Transient(msg),
        _ => ProviderError::Invalid(msg),
    }
}

/// `caBundle` (base64 PEM) and `caProvider`, both trusted when both are given.
async fn ca_certificates(spec: &GitlabProvider, creds: &dyn CredentialSource) -> Result<Vec<reqwest::Certificate>, ProviderError> {
    let mut pems: Vec<(&str, Vec<u8>)> = Vec::new();
    if let Some(b64) = spec.ca_bundle.as_deref().filter(|b| !b.trim().is_empty()) {
        let compact: String = b64.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| ProviderError::Invalid(format!("caBundle is not base64: {e}")))?;
        pems.push(("caBundle", bytes));
    }
    if let Some(ca) = &spec.ca_provider {
        pems.push(("caProvider", creds.ca_bundle(ca).await?));
    }
    let mut out = Vec::new();
    for (what, pem) in pems {
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ProviderError::Invalid(format!("{what} is not a PEM certificate bundle: {e}")))?;
        if certs.is_empty() {
            return Err(ProviderError::Invalid(format!("{what} holds no PEM certificate")));
        }
        out.extend(certs);
    }
    Ok(out)
}

/// An error and its sources: reqwest hides the cause (refused, TLS) in them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cur = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_root_is_derived_as_gitlabs_client_does() {
        assert_eq!(api_root(None).unwrap().as_str(), "https://gitlab.com/api/v4/");
        assert_eq!(api_root(Some("https://git.example.com")).unwrap().as_str(), "https://git.example.com/api/v4/");
        assert_eq!(api_root(Some("https://git.example.com/gitlab/")).unwrap().as_str(), "https://git.example.com/gitlab/api/v4/");
        assert_eq!(api_root(Some("http://127.0.0.1:8080/api/v4")).unwrap().as_str(), "http://127.0.0.1:8080/api/v4/");
    }

    #[test]
    fn status_codes_map_to_what_the_controller_does_next() {
        let kind = |status| classify("GET /x", status, br#"{"message":"m"}"#, None).kind();
        assert_eq!(kind(401), "auth");
        assert_eq!(kind(403), "auth");
        assert_eq!(kind(404), "not_found");
        assert_eq!(kind(429), "throttled");
        assert_eq!(kind(502), "transient");
        assert_eq!(kind(409), "invalid");
        let throttled = classify("GET /x", 429, b"Retry later", Some(Duration::from_secs(7)));
        assert_eq!(throttled, ProviderError::Throttled { message: "GET /x: HTTP 429".into(), retry_after: Some(Duration::from_secs(7)) });
        let nf = classify("GET /api/v4/projects/1/variables/K", 404, br#"{"message":"404 Variable Not Found"}"#, None);
        assert_eq!(nf.to_string(), "not found: GET /api/v4/projects/1/variables/K: HTTP 404 404 Variable Not Found");
    }
}
