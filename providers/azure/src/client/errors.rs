//! Sorting azure_core errors into [`ProviderError`]s.
//!
//! Key Vault answers errors as `{"error": {"code", "message", "innererror": {"code"}}}`. Its
//! messages name the operation and the caller, never a secret value, so they are kept (cut short).
//! Request bodies are never echoed: a value cannot leak through an error.
use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::StatusCode;
use azure_core::http::headers::RETRY_AFTER;
use serde::Deserialize;
use sesame_provider_core::ProviderError;

const MAX_MESSAGE: usize = 300;

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
    innererror: Option<Box<ErrorDetail>>,
}

/// `what` names the object (`secret db-password`, `key signing`), `op` the REST operation.
pub(crate) fn map_error(op: &str, what: &str, err: azure_core::Error) -> ProviderError {
    match err.kind() {
        ErrorKind::HttpResponse { status, error_code, raw_response } => {
            let body: ErrorBody = raw_response.as_ref().and_then(|r| serde_json::from_slice(r.body()).ok()).unwrap_or_default();
            let inner = body.error.innererror.as_ref().and_then(|i| i.code.clone());
            let code = inner.clone().or_else(|| error_code.clone()).unwrap_or_else(|| status.to_string());
            let message = short(body.error.message.as_deref().unwrap_or(""));
            let detail = format!("{op} {what}: HTTP {} {code}: {message}", u16::from(*status));
            let retry_after = raw_response.as_ref().and_then(|r| retry_after(r.headers()));
            from_status(*status, inner.as_deref(), &message, what, detail, retry_after)
        }
        ErrorKind::Credential => ProviderError::Auth(format!("{op} {what}: {}", chain(&err))),
        ErrorKind::Connection | ErrorKind::Io => ProviderError::Transient(format!("{op} {what}: {}", chain(&err))),
        ErrorKind::DataConversion => ProviderError::Transient(format!("{op} {what}: unexpected response: {}", chain(&err))),
        _ => ProviderError::Transient(format!("{op} {what}: {}", chain(&err))),
    }
}

fn from_status(
    status: StatusCode,
    inner: Option<&str>,
    message: &str,
    what: &str,
    detail: String,
    retry_after: Option<Duration>,
) -> ProviderError {
    let code = u16::from(status);
    match code {
        404 => ProviderError::NotFound(detail),
        403 if is_disabled(inner, message) => ProviderError::Invalid(format!("{what} is disabled in the vault ({detail})")),
        401 | 403 => ProviderError::Auth(detail),
        429 => ProviderError::Throttled { message: detail, retry_after },
        408 | 500..=599 => ProviderError::Transient(detail),
        _ => ProviderError::Invalid(detail),
    }
}

/// Key Vault refuses to read a disabled object with 403 and an inner code such as
/// `SecretDisabled`: that is not a permission problem, and is reported as what it is.
fn is_disabled(inner: Option<&str>, message: &str) -> bool {
    inner.is_some_and(|c| c.ends_with("Disabled")) || message.contains("disabled")
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn retry_after(headers: &azure_core::http::headers::Headers) -> Option<Duration> {
    let value = headers.get_optional_str(&RETRY_AFTER)?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = azure_core::time::parse_rfc7231(value).ok()?;
    let left = at - azure_core::time::OffsetDateTime::now_utc();
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

/// The error and its causes, as one line.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    short(&out.replace('\n', " "))
}

fn short(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE {
        return s.trim().to_string();
    }
    let cut: String = s.chars().take(MAX_MESSAGE).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_is_auth_but_a_disabled_secret_is_said_plainly() {
        let status = StatusCode::Forbidden;
        let err = from_status(status, None, "no get permission", "secret a", "d".into(), None);
        assert!(matches!(err, ProviderError::Auth(_)));
        let err = from_status(status, Some("SecretDisabled"), "", "secret a", "d".into(), None);
        assert!(matches!(err, ProviderError::Invalid(m) if m.starts_with("secret a is disabled")));
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        assert!(short(&long).chars().count() <= MAX_MESSAGE + 1);
    }
}
