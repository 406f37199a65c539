//! The REST API v4 calls the provider makes, on one `reqwest` client per built store.
//!
//! GitLab answers errors as `{"message": "404 Variable Not Found"}` (or `{"error": …}`), pages
//! lists with `page`/`per_page` and an `X-Next-Page` header that is empty on the last page, and
//! throttles with 429 and `Retry-After` in seconds.
use std::fmt;

use serde::Deserialize;
use sesame_provider_core::{CredentialSource, ProviderError};
use sesame_provider_http::reqwest::Url;
use sesame_provider_http::reqwest::header::HeaderValue;
use sesame_provider_http::{ClientOptions, ca_certificates, reqwest, send};

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
        let cas = if base.scheme() == "https" {
            ca_certificates(spec.ca_bundle.as_deref(), spec.ca_provider.as_ref(), creds).await?
        } else {
            Vec::new()
        };
        let http = ClientOptions::for_url(&base).trusting(cas).build("GitLab")?;
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
        let request = self.http.get(url).header("PRIVATE-TOKEN", self.token.clone());
        let answer = send("GitLab", &what, request, MAX_BODY).await?.success(&what, &["message", "error"])?;
        let next = answer.header("x-next-page").map(str::to_string);
        let body = answer.body;
        let value = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Invalid(format!("{what}: the answer is not the JSON GitLab sends")))?;
        Ok((value, next))
    }
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
}
