//! Wire details shared by the fake's endpoints: Google's error body, RFC 3339 times, the list
//! filter language and page tokens.
use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// `{"error":{"code","message","status"}}`, as every Google JSON API answers a failure.
pub fn error(http: u16, status: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"code": http, "message": message.into(), "status": status}});
    (StatusCode::from_u16(http).unwrap(), axum::Json(body)).into_response()
}

/// The same, with `details` (`google.rpc.RetryInfo`, `ErrorInfo`, … as `{"@type": …}` objects).
pub fn error_with_details(http: u16, status: &str, message: String, details: Value) -> Response {
    let body = json!({"error": {"code": http, "message": message, "status": status, "details": details}});
    (StatusCode::from_u16(http).unwrap(), axum::Json(body)).into_response()
}

pub fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// RFC 3339 UTC ("2023-11-14T22:13:20Z") from Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// One term of a list filter: `field:value` (contains) or `field=value` (equals).
#[derive(Debug)]
struct Term {
    field: String,
    value: String,
    exact: bool,
}

/// A parsed filter: terms separated by spaces or `AND` must all hold. `OR`, `NOT`, `-` and
/// parentheses are rejected (not modelled).
pub struct Filter(Vec<Term>);

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut terms = Vec::new();
        for word in text.split_whitespace() {
            if word == "AND" {
                continue;
            }
            if word == "OR" || word == "NOT" || word.starts_with('-') || word.contains('(') {
                return Err(format!("the fake does not model filter operator in {word:?}"));
            }
            let (at, exact) = match (word.find(':'), word.find('=')) {
                (Some(c), Some(e)) if e < c => (e, true),
                (Some(c), _) => (c, false),
                (None, Some(e)) => (e, true),
                (None, None) => return Err(format!("invalid filter term {word:?}")),
            };
            let value = word[at + 1..].trim_matches('"').to_string();
            terms.push(Term { field: word[..at].to_string(), value, exact });
        }
        Ok(Filter(terms))
    }

    /// Whether a resource with these fields matches. `labels.K` looks into `labels`.
    pub fn matches(&self, fields: &BTreeMap<&str, String>, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|t| {
            let actual = match t.field.strip_prefix("labels.") {
                Some(k) => labels.get(k).cloned(),
                None => fields.get(t.field.as_str()).cloned(),
            };
            match actual {
                None => false,
                Some(a) if t.exact => a == t.value,
                Some(a) => t.value == "*" || a.contains(&t.value),
            }
        })
    }
}

pub fn page_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

pub fn parse_page_token(token: &str) -> Option<usize> {
    if token.is_empty() {
        return Some(0);
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

/// Query parameters, with Google's `$alt=json;enum-encoding=int` kept as one pair.
pub fn query(raw: Option<&str>) -> BTreeMap<String, String> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Percent-decoding of one form or query component (`+` is a space).
pub(super) fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parse an `application/x-www-form-urlencoded` body.
pub fn form(body: &[u8]) -> BTreeMap<String, String> {
    query(std::str::from_utf8(body).ok())
}
