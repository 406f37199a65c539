//! ACR's token endpoints (Azure/acr `docs/AAD-OAuth.md`): `POST /oauth2/exchange` turns an
//! Entra ID access token into an ACR refresh token, `POST /oauth2/token` a refresh token into an
//! access token for a scope. Answers are read up to [`MAX_ANSWER`] bytes.
use sesame_provider_core::ProviderError;

/// Tokens are a few KiB: anything past this is not a token answer.
pub const MAX_ANSWER: usize = 64 * 1024;

/// `/oauth2/exchange` (grant `access_token`): the registry's refresh token.
pub async fn refresh_token(http: &reqwest::Client, registry: &str, tenant: &str, aad_token: &str) -> Result<String, ProviderError> {
    let form = [("grant_type", "access_token"), ("service", registry), ("tenant", tenant), ("access_token", aad_token)];
    post(http, registry, "/oauth2/exchange", &form, "refresh_token").await
}

/// `/oauth2/token` (grant `refresh_token`): an access token for `scope`.
pub async fn access_token(http: &reqwest::Client, registry: &str, scope: &str, refresh: &str) -> Result<String, ProviderError> {
    let form = [("grant_type", "refresh_token"), ("service", registry), ("scope", scope), ("refresh_token", refresh)];
    post(http, registry, "/oauth2/token", &form, "access_token").await
}

async fn post(http: &reqwest::Client, registry: &str, path: &str, form: &[(&str, &str)], field: &str) -> Result<String, ProviderError> {
    let what = format!("ACR {registry}{path}");
    let url = format!("https://{registry}{path}");
    let transport = |e: reqwest::Error| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        ProviderError::Transient(format!("{what}: {kind}"))
    };
    let mut resp = http.post(&url).form(form).send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(ProviderError::Invalid(format!("{what}: the answer is larger than {MAX_ANSWER} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    if status != 200 {
        let detail = format!("{what} answered {status}{}", error_code(&body).map(|c| format!(" {c}")).unwrap_or_default());
        return Err(match status {
            401 | 403 => ProviderError::Auth(detail),
            404 => ProviderError::NotFound(detail),
            429 => ProviderError::throttled(detail),
            s if s >= 500 => ProviderError::Transient(detail),
            _ => ProviderError::Invalid(detail),
        });
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ProviderError::Transient(format!("{what}: the answer is not JSON")))?;
    doc.get(field)
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ProviderError::Transient(format!("{what}: the answer has no {field}")))
}

/// The first error code of ACR's `{"errors":[{"code","message"}]}`, if it is a plain word.
fn error_code(body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = doc["errors"][0]["code"].as_str()?;
    (code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then(|| code.to_string())
}
