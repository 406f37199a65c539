//! Reads through `GET /v3/configs/config/secrets/download`, as ESO's Doppler client does: one
//! secret with `secrets=NAME`, every secret (with `name_transformer` and `format`) for a find.
//! The token (the store's, or one exchanged through OIDC: `oidc.rs`) goes as HTTP basic auth
//! user name; Doppler answers errors as
//! `{"messages": ["…"], "success": false}` and throttles with 429 and `Retry-After`.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sesame_provider_core::{FindQuery, FindScope, ProviderContext, ProviderError, RemoteKey, SecretProvider, SecretValue, checks};
use sesame_provider_http::{ClientOptions, reqwest};

use crate::oidc::OidcTokens;
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
    base: reqwest::Url,
    http: reqwest::Client,
    token: Token,
    ctx: ProviderContext,
}

/// Where the API token comes from.
enum Token {
    /// `auth.secretRef`: read once per built client.
    Static(String),
    /// `auth.oidcConfig`: exchanged, and exchanged anew near its expiry.
    Oidc(Box<OidcTokens>),
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
    let root = base.clone();
    let base = reqwest::Url::parse(&base).map_err(|e| ProviderError::Invalid(format!("DOPPLER_BASE_URL {base:?}: {e}")))?;
    let http = ClientOptions::for_url(&base).build(PROVIDER_NAME)?;
    let token = match (&spec.auth.secret_ref, &spec.auth.oidc_config) {
        (Some(secret_ref), _) => Token::Static(static_token(&ctx, secret_ref).await?),
        (None, Some(oidc)) => {
            let tokens = OidcTokens::new(oidc, &root, &base, ctx.credentials.store_audience());
            // A first exchange now: a refused identity fails the build, as a refused token does.
            tokens.token(&http, &ctx).await?;
            Token::Oidc(Box::new(tokens))
        }
        (None, None) => return Err(ProviderError::Invalid("invalid store: no auth method".into())),
    };
    Ok(Arc::new(DopplerClient { spec: spec.clone(), base, http, token, ctx }))
}

async fn static_token(ctx: &ProviderContext, secret_ref: &crate::DopplerAuthSecretRef) -> Result<String, ProviderError> {
    let token = ctx.credentials.secret_key(&secret_ref.doppler_token, Some("dopplerToken")).await?;
    let token = String::from_utf8(token.into_bytes()).map_err(|_| ProviderError::Invalid("the Doppler token is not UTF-8 text".into()))?;
    if token.is_empty() || token.chars().any(char::is_control) {
        return Err(ProviderError::Invalid("the Doppler token is empty or holds control characters".into()));
    }
    Ok(token)
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
        let token = match &self.token {
            Token::Static(t) => t.clone(),
            Token::Oidc(tokens) => tokens.token(&self.http, &self.ctx).await?,
        };
        let request = self.http.get(url).basic_auth(token, Some("")).header("accept", accept);
        let result = self.ctx.timed(PROVIDER_NAME, call, async { read(&what, request).await }).await;
        if let (Err(ProviderError::Auth(_)), Token::Oidc(tokens)) = (&result, &self.token) {
            tokens.forget().await;
        }
        result
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

/// Send `request` and read its answer, bounded; Doppler's error bodies say `messages`.
async fn read(what: &str, request: reqwest::RequestBuilder) -> Result<Vec<u8>, ProviderError> {
    Ok(sesame_provider_http::send(PROVIDER_NAME, what, request, MAX_BODY).await?.success(what, &["messages"])?.body)
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
