//! The bitwarden-sdk-server REST API, as ESO calls it: every call under `/rest/api/1` carries the
//! access token (and the Bitwarden URLs) in `Warden-*` headers and its arguments as a JSON body,
//! a GET included. The server logs in per request and answers errors as Go's `http.Error` does:
//! a text body, 400 for nearly everything (a failed login too), 401 without a token.
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{ProviderContext, ProviderError};
use sesame_provider_http::{reqwest, send};

use crate::client::PROVIDER_NAME;

/// The largest answer read: a secret, a list of an organization's secret names, or a batch.
const MAX_BODY: usize = 8 * 1024 * 1024;
const API: &str = "/rest/api/1";
pub(crate) const SERVICE: &str = "the bitwarden-sdk-server";

pub(crate) const HEADER_ACCESS_TOKEN: &str = "Warden-Access-Token";
pub(crate) const HEADER_API_URL: &str = "Warden-Api-Url";
pub(crate) const HEADER_IDENTITY_URL: &str = "Warden-Identity-Url";

/// A secret as the server returns it (the SDK's `SecretResponse`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Secret {
    pub id: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub project_id: Option<String>,
}

/// An entry of `GET /secrets`: no value.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Identifier {
    pub id: String,
    #[serde(default)]
    pub key: String,
}

#[derive(Deserialize)]
struct Data<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

#[derive(Deserialize)]
pub(crate) struct Deleted {
    pub id: String,
    #[serde(default)]
    pub error: Option<String>,
}

/// The body of `POST` (no id) and `PUT` (with id) `/secret`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Write<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    pub key: &'a str,
    pub note: &'a str,
    pub organization_id: &'a str,
    pub project_ids: [&'a str; 1],
    pub value: &'a str,
}

pub(crate) struct SdkServer {
    /// `bitwardenServerSDKURL` without a trailing slash.
    pub base: String,
    pub http: reqwest::Client,
    /// The `Warden-*` headers: the token marked sensitive, so no debug print shows it.
    pub headers: HeaderMap,
    pub ctx: ProviderContext,
}

impl SdkServer {
    pub fn headers(token: &str, api_url: &str, identity_url: &str) -> Result<HeaderMap, ProviderError> {
        let value = |field: &str, v: &str| {
            HeaderValue::from_str(v).map_err(|_| ProviderError::Invalid(format!("{field} cannot be sent as an HTTP header")))
        };
        let mut token = value("the Bitwarden access token", token)?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_ACCESS_TOKEN, token);
        headers.insert(HEADER_API_URL, value("apiURL", api_url.trim_end_matches('/'))?);
        headers.insert(HEADER_IDENTITY_URL, value("identityURL", identity_url.trim_end_matches('/'))?);
        Ok(headers)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        call: &'static str,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ProviderError> {
        let what = format!("{method} {API}{path}");
        let json = serde_json::to_vec(body).map_err(|e| ProviderError::Invalid(format!("{what}: cannot encode the request: {e}")))?;
        let request = self
            .http
            .request(method, format!("{}{API}{path}", self.base))
            .headers(self.headers.clone())
            .header("content-type", "application/json")
            .body(json);
        self.ctx
            .timed(PROVIDER_NAME, call, async {
                let answer = send(SERVICE, &what, request, MAX_BODY).await?;
                if answer.status != 200 {
                    return Err(classify(&what, answer.status, &answer.body));
                }
                answer.json(&what, SERVICE)
            })
            .await
    }

    pub async fn get(&self, id: &str) -> Result<Secret, ProviderError> {
        self.call("GetSecret", Method::GET, "/secret", &serde_json::json!({"id": id})).await
    }

    pub async fn get_by_ids(&self, ids: &[&str]) -> Result<Vec<Secret>, ProviderError> {
        let got: Data<Secret> = self.call("GetSecretsByIds", Method::GET, "/secrets-by-ids", &serde_json::json!({"ids": ids})).await?;
        Ok(got.data)
    }

    pub async fn list(&self, organization_id: &str) -> Result<Vec<Identifier>, ProviderError> {
        let got: Data<Identifier> =
            self.call("ListSecrets", Method::GET, "/secrets", &serde_json::json!({"organizationId": organization_id})).await?;
        Ok(got.data)
    }

    pub async fn create(&self, secret: &Write<'_>) -> Result<Secret, ProviderError> {
        self.call("CreateSecret", Method::POST, "/secret", secret).await
    }

    pub async fn update(&self, secret: &Write<'_>) -> Result<Secret, ProviderError> {
        self.call("UpdateSecret", Method::PUT, "/secret", secret).await
    }

    pub async fn delete(&self, ids: &[&str]) -> Result<Vec<Deleted>, ProviderError> {
        let got: Data<Deleted> = self.call("DeleteSecret", Method::DELETE, "/secret", &serde_json::json!({"ids": ids})).await?;
        Ok(got.data)
    }
}

/// The error an answer means. The server wraps the SDK's error text, which carries Bitwarden's
/// own status as `Received error message from server: [404 Not Found] {…}`; that status decides
/// when there is one (a secret that does not exist is a 400 around a 404).
pub(crate) fn classify(what: &str, status: u16, body: &[u8]) -> ProviderError {
    let text = message(body);
    let msg = format!("{what}: HTTP {status} {text}").trim_end().to_string();
    if status == 401 || text.starts_with("failed to login to bitwarden") {
        return ProviderError::Auth(msg);
    }
    match embedded_status(&text) {
        Some(401 | 403) => ProviderError::Auth(msg),
        Some(404) => ProviderError::NotFound(msg),
        Some(429) => ProviderError::throttled(msg),
        Some(500..) => ProviderError::Transient(msg),
        Some(_) => ProviderError::Invalid(msg),
        None if status >= 500 => ProviderError::Transient(msg),
        None => ProviderError::Invalid(msg),
    }
}

/// The text of an error body: one line, at most 300 characters. The SDK's messages name the
/// failure and Bitwarden's error JSON; values travel encrypted, so none can be in them.
fn message(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect::<String>().trim().to_string()
}

/// Bitwarden's status inside the SDK's error text, if the text carries one.
fn embedded_status(text: &str) -> Option<u16> {
    let (_, after) = text.split_once("Received error message from server: [")?;
    after.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> &'static str {
        classify("GET /rest/api/1/secret", status, body.as_bytes()).kind()
    }

    #[test]
    fn the_sdk_servers_error_answers_map_to_what_the_controller_does_next() {
        let not_found = "failed to get secret: Received error message from server: [404 Not Found] {\"message\":\"Resource not found.\"}\n";
        assert_eq!(kind(400, not_found), "not_found");
        assert_eq!(kind(401, "Missing Warden access token\n"), "auth");
        let login = "failed to login to bitwarden using access token: bitwarden login: Received error message from server: [400 Bad Request] {\"error\":\"invalid_client\"}";
        assert_eq!(kind(400, login), "auth");
        assert_eq!(kind(400, "failed to get secret: Received error message from server: [403 Forbidden] {}"), "auth");
        assert_eq!(kind(400, "failed to get secret: Received error message from server: [429 Too Many Requests] "), "throttled");
        assert_eq!(kind(400, "failed to get secret: Received error message from server: [502 Bad Gateway] "), "transient");
        assert_eq!(kind(400, "failed to create secret: Received error message from server: [400 Bad Request] {}"), "invalid");
        assert_eq!(kind(500, "unexpected end of JSON input"), "transient");
        assert_eq!(kind(400, "invalid character 'x'"), "invalid");
    }

    #[test]
    fn an_error_message_is_one_bounded_line() {
        let err = classify("GET /x", 400, format!("a\nb\u{1b}{}", "y".repeat(1000)).as_bytes()).to_string();
        assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err}");
        assert!(err.len() < 400, "{}", err.len());
    }
}
