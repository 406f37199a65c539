//! GKE Workload Identity as ESO does it, for a ServiceAccount other than the controller's own:
//! a Kubernetes ServiceAccount token (TokenRequest) is exchanged at Google STS for a federated
//! access token; when the ServiceAccount carries `iam.gke.io/gcp-service-account`, that Google
//! service account is then impersonated with IAM Credentials `generateAccessToken`.
//!
//! Written by hand rather than with the SDK's external-account credentials because the SDK
//! hard-codes the IAM Credentials host; the tokens are cached per built client.
use std::sync::Arc;
use std::time::Duration;

use google_cloud_auth::credentials::{CacheableResource, CredentialsProvider, EntityTag};
use google_cloud_auth::errors::CredentialsError;
use http::{Extensions, HeaderMap, HeaderValue, header::AUTHORIZATION};
use serde::Deserialize;
use sesame_provider_core::{ProviderContext, ProviderError, ServiceAccountSelector};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::PROVIDER_NAME;
use crate::endpoints::Endpoints;
use crate::errors::credentials_error;
use crate::federation::{FederationConfig, JWT_TOKEN_TYPE, Subject};

pub(crate) const GSA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";
pub(crate) const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A `credential_source.url` answer is a token, or a small JSON document holding one.
const MAX_SUBJECT_ANSWER: usize = 64 * 1024;
/// Lifetime of the Kubernetes token we ask for (ESO asks for 15 minutes too).
const KSA_TOKEN_SECONDS: i64 = 900;
const IMPERSONATED_LIFETIME: Duration = Duration::from_secs(3600);
/// Refresh this long before a token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The identity a store's `auth.workloadIdentity` resolves to.
#[derive(Debug, Clone)]
pub(crate) struct WorkloadIdentityConfig {
    pub service_account: ServiceAccountSelector,
    /// `{clusterProjectID}.svc.id.goog`
    pub pool: String,
    /// `https://container.googleapis.com/v1/projects/{p}/locations/{l}/clusters/{c}`
    pub provider: String,
}

/// How a token is minted: GKE workload identity, or workload identity federation.
#[derive(Debug, Clone)]
pub(crate) enum Flow {
    Gke(WorkloadIdentityConfig),
    Federation(Arc<FederationConfig>),
}

/// An SDK credentials provider minting and caching workload-identity access tokens.
#[derive(Clone)]
pub(crate) struct WorkloadIdentityCredentials {
    config: Flow,
    ctx: ProviderContext,
    endpoints: Endpoints,
    http: reqwest::Client,
    cache: Arc<Mutex<Option<Cached>>>,
}

struct Cached {
    token: String,
    expires_at: Instant,
    tag: EntityTag,
}

impl std::fmt::Debug for WorkloadIdentityCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentityCredentials").field("config", &self.config).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct StsResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateAccessTokenResponse {
    access_token: String,
}

impl WorkloadIdentityCredentials {
    pub(crate) fn new(config: Flow, ctx: ProviderContext, endpoints: Endpoints) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // A redirect would carry a subject or federated token to another origin.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client for Google STS: {e}")))?;
        Ok(WorkloadIdentityCredentials { config, ctx, endpoints, http, cache: Arc::new(Mutex::new(None)) })
    }

    /// A valid access token, from the cache or freshly minted. One refresh at a time per client.
    async fn token(&self) -> Result<(String, EntityTag), ProviderError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && c.expires_at > Instant::now() + REFRESH_MARGIN
        {
            return Ok((c.token.clone(), c.tag.clone()));
        }
        let (token, lifetime) = self.mint().await?;
        let fresh = Cached { token, expires_at: Instant::now() + lifetime, tag: EntityTag::new() };
        let out = (fresh.token.clone(), fresh.tag.clone());
        *cache = Some(fresh);
        Ok(out)
    }

    /// A fresh access token and how long it lives (no cache): what a GCRAccessToken hands out.
    pub(crate) async fn mint(&self) -> Result<(String, Duration), ProviderError> {
        let config = match &self.config {
            Flow::Gke(c) => c,
            Flow::Federation(f) => return self.mint_federated(f).await,
        };
        let sa = &config.service_account;
        let audiences = token_audiences(&config.pool, sa);
        let ksa_token = self
            .ctx
            .timed(PROVIDER_NAME, "GenerateSAToken", self.ctx.credentials.service_account_token(sa, &audiences, Some(KSA_TOKEN_SECONDS)))
            .await?;
        let started = Instant::now();
        let audience = format!("identitynamespace:{}:{}", config.pool, config.provider);
        let sts = self
            .ctx
            .timed(
                PROVIDER_NAME,
                "GenerateIDBindToken",
                self.exchange(&self.endpoints.sts_token_url(), &audience, &ksa_token, JWT_TOKEN_TYPE, None),
            )
            .await?;
        let annotations = self.ctx.credentials.service_account_annotations(sa).await?;
        let Some(gsa) = annotations.get(GSA_ANNOTATION).filter(|g| !g.is_empty()) else {
            // No Google service account bound: use the federated token itself, as ESO does.
            let lifetime = Duration::from_secs(sts.expires_in.unwrap_or(3600));
            return Ok((sts.access_token, lifetime.saturating_sub(started.elapsed())));
        };
        let token =
            self.ctx.timed(PROVIDER_NAME, "GenerateAccessToken", self.impersonate(gsa, &sts.access_token, IMPERSONATED_LIFETIME)).await?;
        Ok((token, IMPERSONATED_LIFETIME.saturating_sub(started.elapsed())))
    }

    /// Workload identity federation: subject token, STS, then impersonation when configured.
    async fn mint_federated(&self, f: &FederationConfig) -> Result<(String, Duration), ProviderError> {
        let subject = match &f.subject {
            Subject::ServiceAccount(sa) => {
                // ESO asks for exactly serviceAccountRef.audiences (none: the apiserver's own).
                let call = self.ctx.credentials.service_account_token(sa, &sa.audiences, Some(KSA_TOKEN_SECONDS));
                self.ctx.timed(PROVIDER_NAME, "GenerateSAToken", call).await?
            }
            Subject::Aws { region, keys } => crate::federation_aws::subject_token(region, keys, &f.audience, std::time::SystemTime::now())?,
            Subject::Url { url, headers, json_field } => self.url_subject(url, headers, json_field.as_deref()).await?,
        };
        let started = Instant::now();
        // The credConfig's token_url is Google STS (checked); a test's override still wins.
        let url = match (&f.token_url, &self.endpoints.sts) {
            (Some(url), None) => url.clone(),
            _ => self.endpoints.sts_token_url(),
        };
        let client = f.client.as_ref().map(|(id, secret)| (id.as_str(), secret.as_str()));
        let exchange = self.exchange(&url, &f.audience, &subject, &f.subject_token_type, client);
        let sts = self.ctx.timed(PROVIDER_NAME, "GenerateIDBindToken", exchange).await?;
        let Some(gsa) = &f.impersonate else {
            let lifetime = Duration::from_secs(sts.expires_in.unwrap_or(3600));
            return Ok((sts.access_token, lifetime.saturating_sub(started.elapsed())));
        };
        let lifetime = f.impersonation_lifetime.map(Duration::from_secs).unwrap_or(IMPERSONATED_LIFETIME);
        let token = self.ctx.timed(PROVIDER_NAME, "GenerateAccessToken", self.impersonate(gsa, &sts.access_token, lifetime)).await?;
        Ok((token, lifetime.saturating_sub(started.elapsed())))
    }

    /// `credential_source.url`: the answer is the token (text), or holds it in a JSON field.
    async fn url_subject(
        &self,
        url: &str,
        headers: &std::collections::BTreeMap<String, String>,
        field: Option<&str>,
    ) -> Result<String, ProviderError> {
        let what = "reading the credConfig's credential_source.url";
        let mut request = self.http.get(url);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let answer = sesame_provider_http::send("the external token endpoint", what, request, MAX_SUBJECT_ANSWER)
            .await?
            .success(what, &["error", "message"])?;
        let token = match field {
            None => String::from_utf8(answer.body).map_err(|_| ProviderError::Invalid(format!("{what}: the answer is not text")))?,
            Some(field) => {
                let doc: serde_json::Value = answer.json(what, "the external token endpoint")?;
                doc.get(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| ProviderError::Invalid(format!("{what}: the answer has no string field {field:?}")))?
            }
        };
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(ProviderError::Auth(format!("{what}: the answer holds no token")));
        }
        Ok(token)
    }

    async fn exchange(
        &self,
        url: &str,
        audience: &str,
        subject_token: &str,
        subject_token_type: &str,
        client: Option<(&str, &str)>,
    ) -> Result<StsResponse, ProviderError> {
        let form = [
            ("grant_type", TOKEN_EXCHANGE),
            ("audience", audience),
            ("scope", CLOUD_PLATFORM),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token", subject_token),
            ("subject_token_type", subject_token_type),
        ];
        let mut request = self.http.post(url).form(&form);
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        let resp = request.send().await.map_err(|e| transport("STS token exchange", e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| transport("STS token exchange", e))?;
        if status != 200 {
            return Err(http_failure("STS token exchange", status, &body));
        }
        serde_json::from_slice(&body).map_err(|_| ProviderError::Invalid("STS token exchange: the response is not a token response".into()))
    }

    async fn impersonate(&self, gsa: &str, federated: &str, lifetime: Duration) -> Result<String, ProviderError> {
        let what = format!("generateAccessToken for {gsa}");
        let url = self.endpoints.generate_access_token_url(gsa);
        let body = serde_json::json!({
            "scope": [CLOUD_PLATFORM],
            "lifetime": format!("{}s", lifetime.as_secs()),
        });
        let resp = self.http.post(&url).bearer_auth(federated).json(&body).send().await.map_err(|e| transport(&what, e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| transport(&what, e))?;
        if status != 200 {
            return Err(http_failure(&what, status, &body));
        }
        let parsed: GenerateAccessTokenResponse =
            serde_json::from_slice(&body).map_err(|_| ProviderError::Invalid(format!("{what}: the response is not an access token")))?;
        Ok(parsed.access_token)
    }
}

impl CredentialsProvider for WorkloadIdentityCredentials {
    async fn headers(&self, extensions: Extensions) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        let (token, tag) = self.token().await.map_err(credentials_error)?;
        if extensions.get::<EntityTag>() == Some(&tag) {
            return Ok(CacheableResource::NotModified);
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| credentials_error(ProviderError::Auth("the access token is not a valid header value".into())))?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        Ok(CacheableResource::New { entity_tag: tag, data: headers })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

/// The audiences of the Kubernetes token, as ESO: the workload identity pool
/// (`{project}.svc.id.goog`), then `serviceAccountRef.audiences` appended.
pub(crate) fn token_audiences(pool: &str, sa: &ServiceAccountSelector) -> Vec<String> {
    let mut audiences = vec![pool.to_string()];
    audiences.extend(sa.audiences.iter().filter(|a| a.as_str() != pool).cloned());
    audiences
}

pub(crate) fn transport(what: &str, e: reqwest::Error) -> ProviderError {
    // With its causes: "error sending request" alone does not tell a refusal from a timeout.
    ProviderError::Transient(format!("{what}: {}", sesame_provider_http::chain(&e.without_url())))
}

/// A failed token call: OAuth (`{"error","error_description"}`) or Google
/// (`{"error":{"code","message","status"}}`) body; only its codes and descriptions are kept.
pub(crate) fn http_failure(what: &str, status: u16, body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .map(|v| match &v["error"] {
            serde_json::Value::String(code) => format!("{code}: {}", v["error_description"].as_str().unwrap_or("")),
            serde_json::Value::Object(e) => format!(
                "{}: {}",
                e.get("status").and_then(|s| s.as_str()).unwrap_or(""),
                e.get("message").and_then(|s| s.as_str()).unwrap_or("")
            ),
            _ => String::new(),
        })
        .unwrap_or_default();
    let msg = format!("{what}: HTTP {status} {detail}");
    match status {
        429 => ProviderError::throttled(msg),
        400 | 401 | 403 => ProviderError::Auth(msg),
        404 => ProviderError::Auth(msg),
        s if s >= 500 => ProviderError::Transient(msg),
        _ => ProviderError::Invalid(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_audiences_are_appended_to_the_pool() {
        let sa = ServiceAccountSelector { name: "ksa".into(), namespace: None, audiences: vec!["extra".into()] };
        assert_eq!(token_audiences("p.svc.id.goog", &sa), vec!["p.svc.id.goog".to_string(), "extra".into()]);
        let plain = ServiceAccountSelector { name: "ksa".into(), ..Default::default() };
        assert_eq!(token_audiences("p.svc.id.goog", &plain), vec!["p.svc.id.goog".to_string()]);
    }
}
