//! Reads through `GET /v3/configs/config/secrets/download`, as ESO's Doppler client does: one
//! secret with `secrets=NAME`, every secret (with `name_transformer` and `format`) for a find.
//! The token goes as HTTP basic auth user name; Doppler answers errors as
//! `{"messages": ["…"], "success": false}` and throttles with 429 and `Retry-After`.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use sesame_provider_core::{FindQuery, FindScope, ProviderContext, ProviderError, RemoteKey, SecretProvider, SecretValue, checks};

use crate::{DopplerProvider, Format};

/// The `provider` label of the call metrics.
pub const PROVIDER_NAME: &str = "Doppler";
/// Doppler's API root, unless the controller's `DOPPLER_BASE_URL` says otherwise (as in ESO).
pub const DEFAULT_BASE_URL: &str = "https://api.doppler.com";
/// The key of the downloaded file when the store names a `format` (ESO's).
pub const SECRETS_FILE_KEY: &str = "DOPPLER_SECRETS_FILE";
/// The largest answer read: a config's whole download.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A client for one Doppler store.
pub struct DopplerClient {
    spec: DopplerProvider,
    base: Url,
    http: reqwest::Client,
    token: String,
    ctx: ProviderContext,
}

/// Build the client of a store, its API root from `DOPPLER_BASE_URL` or Doppler's.
pub async fn build(spec: &DopplerProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let base = std::env::var("DOPPLER_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.to_string());
    build_with_base_url(spec, ctx, &base).await
}

/// Build the client of a store against `base` (a test's fake).
pub async fn build_with_base_url(
    spec: &DopplerProvider,
    ctx: ProviderContext,
    base: &str,
) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    spec.check_spec()?;
    // ESO's client takes a URL without a scheme as https.
    let base = if base.contains("://") { base.to_string() } else { format!("https://{base}") };
    let base = base.trim_end_matches('/').to_string();
    checks::base_url("DOPPLER_BASE_URL", &base, &["https", "http"])?;
    let base = Url::parse(&base).map_err(|e| ProviderError::Invalid(format!("DOPPLER_BASE_URL {base:?}: {e}")))?;
    let selector = &spec.auth.secret_ref.as_ref().expect("check_spec requires secretRef").doppler_token;
    let token = ctx.credentials.secret_key(selector, Some("dopplerToken")).await?;
    let token = String::from_utf8(token.into_bytes()).map_err(|_| ProviderError::Invalid("the Doppler token is not UTF-8 text".into()))?;
    if token.is_empty() || token.chars().any(char::is_control) {
        return Err(ProviderError::Invalid("the Doppler token is empty or holds control characters".into()));
    }
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("sesame-external-secrets");
    if base.scheme() == "http" {
        // reqwest#2988: a plain-http client must not try to load platform roots.
        builder = builder.tls_certs_only(Vec::new());
    }
    let http = builder.build().map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client: {e}")))?;
    Ok(Arc::new(DopplerClient { spec: spec.clone(), base, http, token, ctx }))
}

impl DopplerClient {
    /// `GET path?query`: the body, or the error Doppler answered.
    async fn get(&self, call: &'static str, path: &str, query: &[(&str, &str)], text: bool) -> Result<Vec<u8>, ProviderError> {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let what = format!("GET {path}");
        let accept = if text { "text/plain" } else { "application/json" };
        let request = self.http.get(url).basic_auth(&self.token, Some("")).header("accept", accept);
        self.ctx.timed(PROVIDER_NAME, call, async { read(&what, request).await }).await
    }

    fn scope_params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(p) = self.spec.project.as_deref().filter(|p| !p.is_empty()) {
            params.push(("project", p.to_string()));
        }
        if let Some(c) = self.spec.config.as_deref().filter(|c| !c.is_empty()) {
            params.push(("config", c.to_string()));
        }
        params
    }

    /// Every secret of the config, as `find` sees them: name → value, or the one file.
    async fn download_all(&self) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        let mut params = self.scope_params();
        if let Some(t) = self.spec.name_transformer {
            params.push(("name_transformer", t.as_str().to_string()));
        }
        if let Some(f) = self.spec.format {
            params.push(("format", f.as_str().to_string()));
        }
        let query: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let text = self.spec.format.is_some_and(|f| f != Format::Json);
        let body = self.get("DownloadSecrets", "/v3/configs/config/secrets/download", &query, text).await?;
        if self.spec.format.is_some() {
            return Ok([(SECRETS_FILE_KEY.to_string(), body)].into());
        }
        let secrets: BTreeMap<String, String> = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Invalid("the secrets download is not the JSON object Doppler sends".into()))?;
        Ok(secrets.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())
    }
}

/// Send `request` and read its answer, bounded.
async fn read(what: &str, request: reqwest::RequestBuilder) -> Result<Vec<u8>, ProviderError> {
    let mut resp = request.send().await.map_err(|e| ProviderError::Transient(format!("{what}: cannot reach Doppler: {}", chain(&e))))?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = Vec::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| ProviderError::Transient(format!("{what}: reading the answer: {}", chain(&e))))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ProviderError::Invalid(format!("{what}: the answer is larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    if (200..300).contains(&status) {
        return Ok(body);
    }
    Err(classify(what, status, &body, retry_after.map(Duration::from_secs)))
}

/// An error answer as a [`ProviderError`], with Doppler's own messages (they never hold a value).
pub(crate) fn classify(what: &str, status: u16, body: &[u8], retry_after: Option<Duration>) -> ProviderError {
    let said = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("messages").and_then(|m| m.as_array()).cloned())
        .map(|m| m.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join("; "))
        .unwrap_or_default();
    let said: String = said.chars().take(300).collect();
    let msg = format!("{what}: HTTP {status} {said}").trim_end().to_string();
    match status {
        401 | 403 => ProviderError::Auth(msg),
        404 => ProviderError::NotFound(msg),
        429 => ProviderError::Throttled { message: msg, retry_after },
        500.. => ProviderError::Transient(msg),
        _ => ProviderError::Invalid(msg),
    }
}

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

#[async_trait]
impl SecretProvider for DopplerClient {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// One secret by name; `version` and `metadataPolicy` are ignored, as in ESO.
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let mut params = self.scope_params();
        params.push(("secrets", key.key.clone()));
        let query: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = self.get("DownloadSecret", "/v3/configs/config/secrets/download", &query, false).await?;
        let mut secrets: BTreeMap<String, String> = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Invalid("the secrets download is not the JSON object Doppler sends".into()))?;
        secrets.remove(&key.key).map(SecretValue::from).ok_or_else(|| ProviderError::NotFound(format!("secret '{}' not found", key.key)))
    }

    /// ESO's find: everything without `name` or `path`, else the names matching both.
    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let matcher = match &query.name {
            Some(n) => Some(regex::Regex::new(&n.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
            None => None,
        };
        scope.charge(1).await;
        let mut out = BTreeMap::new();
        for (name, value) in self.download_all().await? {
            if matcher.as_ref().is_some_and(|m| !m.is_match(&name)) || query.path.as_deref().is_some_and(|p| !name.starts_with(p)) {
                continue;
            }
            let value = SecretValue::from(value);
            scope.check_matches(out.len() + 1)?;
            scope.check_value(&name, &value)?;
            out.insert(name, value);
        }
        Ok(out)
    }

    /// ESO's check: the token may list projects.
    async fn validate(&self) -> Result<(), ProviderError> {
        self.get("Authenticate", "/v3/projects", &[], false).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_what_the_controller_does_next() {
        let body = br#"{"messages":["Could not find requested config 'prd'"],"success":false}"#;
        assert_eq!(classify("GET /x", 404, body, None).to_string(), "not found: GET /x: HTTP 404 Could not find requested config 'prd'");
        assert_eq!(classify("GET /x", 401, b"{}", None).kind(), "auth");
        assert_eq!(classify("GET /x", 403, b"{}", None).kind(), "auth");
        assert_eq!(classify("GET /x", 500, b"oops", None).kind(), "transient");
        assert_eq!(classify("GET /x", 400, b"{}", None).kind(), "invalid");
        let t = classify("GET /x", 429, b"", Some(Duration::from_secs(3)));
        assert!(matches!(t, ProviderError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(3)));
    }
}
