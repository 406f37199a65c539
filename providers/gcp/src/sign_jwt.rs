//! A JWT signed by a Google service account with IAM Credentials `signJwt`: the identity proof
//! Vault's gcp auth method takes for its `iam` roles. The caller authenticates as the store
//! does ([`access_token`]); the service account that signs is the one that identity is.
use std::time::Duration;

use serde::Deserialize;
use sesame_provider_core::{ProviderContext, ProviderError};

use crate::auth::service_account_key;
use crate::endpoints::Endpoints;
use crate::workload_identity::{GSA_ANNOTATION, http_failure, transport};
use crate::{GcpProvider, PROVIDER_NAME, access_token};

/// A signed JWT and the service account that signed it.
pub struct SignedJwt {
    pub service_account: String,
    pub jwt: String,
}

impl std::fmt::Debug for SignedJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedJwt").field("service_account", &self.service_account).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignJwtResponse {
    signed_jwt: String,
}

/// `claims` (a JSON object) with `sub` set to the signing service account, signed by Google.
/// The service account is the key's `client_email` (`auth.secretRef`) or the Google service
/// account the workload identity ServiceAccount is annotated with (`auth.workloadIdentity`).
pub async fn sign_jwt(
    spec: &GcpProvider,
    mut claims: serde_json::Map<String, serde_json::Value>,
    ctx: &ProviderContext,
    endpoints: &Endpoints,
) -> Result<SignedJwt, ProviderError> {
    let auth = spec.auth.clone().unwrap_or_default();
    let email = if let Some(secret_ref) = &auth.secret_ref {
        let (key, where_) = service_account_key(&secret_ref.secret_access_key_secret_ref, ctx).await?;
        key.get("client_email")
            .and_then(|e| e.as_str())
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Invalid(format!("{where_} has no client_email")))?
    } else if let Some(wi) = &auth.workload_identity {
        let annotations = ctx.credentials.service_account_annotations(&wi.service_account_ref).await?;
        annotations.get(GSA_ANNOTATION).map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).ok_or_else(|| {
            ProviderError::Invalid(format!(
                "serviceaccount {} has no {GSA_ANNOTATION} annotation: a JWT can only be signed by a Google service account",
                wi.service_account_ref.name
            ))
        })?
    } else {
        return Err(ProviderError::Invalid("signing a JWT needs auth.secretRef or auth.workloadIdentity".into()));
    };
    if !email.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_')) || !email.contains('@') {
        return Err(ProviderError::Invalid(format!("{email:?} is not a service account e-mail")));
    }
    claims.insert("sub".into(), serde_json::Value::String(email.clone()));
    let token = access_token(spec, ctx, endpoints).await?;
    let what = format!("signJwt for {email}");
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client for IAM Credentials: {e}")))?;
    let body = serde_json::json!({"payload": serde_json::Value::Object(claims).to_string()});
    let call = async {
        let resp = http
            .post(endpoints.sign_jwt_url(&email))
            .bearer_auth(&token.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(&what, e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| transport(&what, e))?;
        if status != 200 {
            return Err(http_failure(&what, status, &bytes));
        }
        serde_json::from_slice::<SignJwtResponse>(&bytes)
            .map_err(|_| ProviderError::Invalid(format!("{what}: the response carries no signedJwt")))
    };
    let signed = ctx.timed(PROVIDER_NAME, "SignJwt", call).await?;
    Ok(SignedJwt { service_account: email, jwt: signed.signed_jwt })
}
