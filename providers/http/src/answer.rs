//! Sending a request and reading its answer, bounded, and classifying error answers.
use std::time::Duration;

use reqwest::header::HeaderMap;
use sesame_provider_core::ProviderError;

/// An answer read whole: its status, headers and (capped) body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The `Retry-After` header in seconds, when it is one.
    pub fn retry_after(&self) -> Option<Duration> {
        let v = self.headers.get("retry-after")?.to_str().ok()?;
        v.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    /// A header as text, trimmed; `None` when absent, empty or not text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The answer when its status is 2xx, else the error it means: the message taken from the
    /// first of `message_keys` the JSON body holds (see [`said`]).
    pub fn success(self, what: &str, message_keys: &[&str]) -> Result<Answer, ProviderError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        Err(classify(what, self.status, &said(&self.body, message_keys), self.retry_after()))
    }

    /// The body decoded as the JSON `service` sends; the error names only the call.
    pub fn json<T: for<'de> serde::Deserialize<'de>>(&self, what: &str, service: &str) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body)
            .map_err(|_| ProviderError::Invalid(format!("{what}: the answer is not the JSON {service} sends")))
    }
}

/// Send `request` to `service` and read the answer, at most `max_body` bytes. Only a failure to
/// talk (connection, TLS, timeout) or an oversized answer is an error here; the caller decides
/// what a status means, usually with [`Answer::success`].
pub async fn send(service: &str, what: &str, request: reqwest::RequestBuilder, max_body: usize) -> Result<Answer, ProviderError> {
    let mut resp = request.send().await.map_err(|e| ProviderError::Transient(format!("{what}: cannot reach {service}: {}", chain(&e))))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| ProviderError::Transient(format!("{what}: reading the answer: {}", chain(&e))))?
    {
        if body.len() + chunk.len() > max_body {
            return Err(ProviderError::Invalid(format!("{what}: the answer is larger than {max_body} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, headers, body })
}

/// The message of an error body: the first of `keys` present in its JSON object, a string as
/// is, an array of strings joined with "; ", anything else as JSON. At most 300 characters, no
/// control characters (a message lands in one log line and one condition).
/// Error bodies of the services Sesame talks to name the failure, never a secret value.
pub fn said(body: &[u8], keys: &[&str]) -> String {
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let Some(found) = keys.iter().find_map(|k| parsed.get(k)) else {
        return String::new();
    };
    let text = match found {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    };
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// An error answer as a [`ProviderError`]: 401/403 are auth errors (the controller evicts the
/// client and re-reads credentials), 404 not found, 429 throttled, 5xx transient, the rest
/// invalid.
pub fn classify(what: &str, status: u16, said: &str, retry_after: Option<Duration>) -> ProviderError {
    let msg = format!("{what}: HTTP {status} {said}").trim_end().to_string();
    match status {
        401 | 403 => ProviderError::Auth(msg),
        404 => ProviderError::NotFound(msg),
        429 => ProviderError::Throttled { message: msg, retry_after },
        500.. => ProviderError::Transient(msg),
        _ => ProviderError::Invalid(msg),
    }
}

/// The same error, its message prefixed with `context` (what the provider was doing).
pub fn prefixed(err: ProviderError, context: &str) -> ProviderError {
    match err {
        ProviderError::NotFound(m) => ProviderError::NotFound(format!("{context}: {m}")),
        ProviderError::Auth(m) => ProviderError::Auth(format!("{context}: {m}")),
        ProviderError::Throttled { message, retry_after } => {
            ProviderError::Throttled { message: format!("{context}: {message}"), retry_after }
        }
        ProviderError::Transient(m) => ProviderError::Transient(format!("{context}: {m}")),
        ProviderError::Invalid(m) => ProviderError::Invalid(format!("{context}: {m}")),
    }
}

/// An error and its sources: reqwest hides the cause (refused, TLS) in them.
pub fn chain(err: &dyn std::error::Error) -> String {
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
    fn status_codes_map_to_what_the_controller_does_next() {
        let kind = |status| classify("GET /x", status, "m", None).kind();
        assert_eq!(kind(401), "auth");
        assert_eq!(kind(403), "auth");
        assert_eq!(kind(404), "not_found");
        assert_eq!(kind(429), "throttled");
        assert_eq!(kind(502), "transient");
        assert_eq!(kind(409), "invalid");
        let t = classify("GET /x", 429, "", Some(Duration::from_secs(7)));
        assert_eq!(t, ProviderError::Throttled { message: "GET /x: HTTP 429".into(), retry_after: Some(Duration::from_secs(7)) });
    }

    #[test]
    fn the_message_comes_from_the_first_key_the_body_has() {
        assert_eq!(said(br#"{"message":"404 Variable Not Found"}"#, &["message", "error"]), "404 Variable Not Found");
        assert_eq!(said(br#"{"error":"invalid_token"}"#, &["message", "error"]), "invalid_token");
        assert_eq!(said(br#"{"messages":["a","b"],"success":false}"#, &["messages"]), "a; b");
        assert_eq!(said(br#"{"message":{"key":["taken"]}}"#, &["message"]), r#"{"key":["taken"]}"#);
        assert_eq!(said(b"<html>oops</html>", &["message"]), "");
        assert_eq!(said(format!(r#"{{"message":"{}"}}"#, "x".repeat(1000)).as_bytes(), &["message"]).len(), 300);
        assert_eq!(said(br#"{"message":"line\nbreak\u001b[31m"}"#, &["message"]), "linebreak[31m", "no control characters");
    }
}
