//! An OAuth 2.0 access token for a store's identity, handed out as a value (ESO's GCRAccessToken
//! generator): a service-account key is exchanged at Google's token endpoint with the JWT-bearer
//! grant (RFC 7523), as Go's `google.JWTConfigFromJSON` does; workload identity mints a fresh
//! token through STS (and IAM Credentials when the ServiceAccount names a Google one), and so
//! does workload identity federation; application default credentials ask Google's SDK.
//!
//! The key's own `token_uri` is not followed: the assertion always goes to Google's endpoint (or
//! the `SESAME_GCP_OAUTH2_ENDPOINT` override), never where a tenant's key file points.
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use google_cloud_auth::credentials::service_account;
use serde::Deserialize;
use sesame_provider_core::{ProviderContext, ProviderError};

use crate::auth::{service_account_key, unusable_key, workload_identity_config};
use crate::endpoints::Endpoints;
use crate::federation::federation_config;
use crate::workload_identity::{CLOUD_PLATFORM, Flow, WorkloadIdentityCredentials, http_failure, transport};
use crate::{GcpProvider, PROVIDER_NAME};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The assertion's lifetime: Google accepts at most one hour.
const ASSERTION_SECONDS: u64 = 3600;
/// What is left at least of a token the SDK hands out (it refreshes earlier).
const ADC_MIN_LIFETIME: u64 = 300;

/// A bearer token and when it expires.
pub struct AccessToken {
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A fresh access token (cloud-platform scope) for `spec.auth`, in ESO's order: `secretRef`,
/// `workloadIdentity`, `workloadIdentityFederation`, else application default credentials.
/// Whether the caller may use the controller's own identity (the last case) is the caller's
/// decision ([`GcpProvider::controller_identity`]).
pub async fn access_token(spec: &GcpProvider, ctx: &ProviderContext, endpoints: &Endpoints) -> Result<AccessToken, ProviderError> {
    spec.check_urls()?;
    let auth = spec.auth.clone().unwrap_or_default();
    if let Some(secret_ref) = &auth.secret_ref {
        let (key, where_) = service_account_key(&secret_ref.secret_access_key_secret_ref, ctx).await?;
        return ctx.timed(PROVIDER_NAME, "OAuth2Token", key_exchange(key, &where_, endpoints)).await;
    }
    let flow = match (&auth.workload_identity, &auth.workload_identity_federation) {
        (Some(wi), _) => Flow::Gke(workload_identity_config(wi, spec.project_id.as_deref())?),
        (None, Some(wif)) => Flow::Federation(Arc::new(federation_config(wif, ctx).await?)),
        (None, None) => return ctx.timed(PROVIDER_NAME, "ApplicationDefaultToken", application_default()).await,
    };
    let (token, lifetime) = WorkloadIdentityCredentials::new(flow, ctx.clone(), endpoints.clone())?.mint().await?;
    Ok(AccessToken { token, expires_at: unix_now() + lifetime.as_secs() })
}

/// The controller's application default credentials (on GKE: the metadata server). Google's SDK
/// does not say when its token expires; it hands out tokens with at least a few minutes left, so
/// the expiry reported is that lower bound.
async fn application_default() -> Result<AccessToken, ProviderError> {
    let credentials = google_cloud_auth::credentials::Builder::default()
        .build_access_token_credentials()
        .map_err(|e| ProviderError::Auth(format!("no application default credentials: {e}")))?;
    let token = credentials.access_token().await.map_err(|e| ProviderError::Auth(format!("application default credentials: {e}")))?;
    Ok(AccessToken { token: token.token, expires_at: unix_now() + ADC_MIN_LIFETIME })
}

/// RFC 7523: a JWT signed with the key, addressed to the token endpoint, for an access token.
async fn key_exchange(key: serde_json::Value, where_: &str, endpoints: &Endpoints) -> Result<AccessToken, ProviderError> {
    let field = |name: &str| key.get(name).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string);
    let (Some(email), Some(kid)) = (field("client_email"), field("private_key_id")) else { return Err(unusable_key(where_)) };
    let signer = service_account::Builder::new(key).build_signer().map_err(|_| unusable_key(where_))?;
    let url = endpoints.oauth2_token_url();
    let now = unix_now();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let claims = serde_json::json!({"iss": email, "scope": CLOUD_PLATFORM, "aud": url, "iat": now, "exp": now + ASSERTION_SECONDS});
    let unsigned = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    // The signer's error may describe the key material: name the Secret only.
    let signature = signer.sign(unsigned.as_bytes()).await.map_err(|_| unusable_key(where_))?;
    let assertion = format!("{unsigned}.{}", URL_SAFE_NO_PAD.encode(signature));

    let what = format!("OAuth 2.0 token exchange for {email}");
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client for the token endpoint: {e}")))?;
    let resp =
        http.post(&url).form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)]).send().await.map_err(|e| transport(&what, e))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| transport(&what, e))?;
    if status != 200 {
        return Err(http_failure(&what, status, &body));
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|_| ProviderError::Invalid(format!("{what}: the response is not a token response")))?;
    Ok(AccessToken { token: parsed.access_token, expires_at: now + parsed.expires_in.unwrap_or(3600) })
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}
