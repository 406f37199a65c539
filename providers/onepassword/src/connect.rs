//! The Connect REST API calls the provider makes, as 1Password's Connect SDK makes them: a Bearer
//! token, SCIM filters (`name eq "…"`, `title eq "…"`), and error bodies `{status, message}`.

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sesame_provider_core::{ProviderContext, ProviderError};

use crate::client::PROVIDER_NAME;

/// The largest answer read: an item with its fields, a vault's item list, or one file.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Vault {
    pub id: String,
}

/// An item as Connect returns it. Attributes the provider does not use are kept, so a replaced
/// (PUT) item loses nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Item {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub vault: VaultRef,
    #[serde(default)]
    pub category: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct VaultRef {
    pub id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Field {
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub value: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct File {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub content_path: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Connect's native ids (26 lowercase letters and digits): a vault or item named so is fetched by
/// id, anything else by name or title, as the SDK decides.
pub(crate) fn is_native_id(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A SCIM `attr eq "value"` filter; quotes and backslashes in the value are escaped.
pub(crate) fn eq_filter(attr: &str, value: &str) -> String {
    format!("{attr} eq \"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(crate) struct Connect {
    pub base: Url,
    pub http: reqwest::Client,
    pub token: String,
    pub ctx: ProviderContext,
}

impl Connect {
    /// `method /v1/<segments>?query` with an optional JSON body: the answer's bytes.
    pub async fn call(
        &self,
        call: &'static str,
        method: Method,
        segments: &[&str],
        query: Option<(&str, &str)>,
        body: Option<&Item>,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| ProviderError::Invalid("connectHost cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        if let Some((k, v)) = query {
            url.query_pairs_mut().append_pair(k, v);
        }
        let what = format!("{method} {}", url.path());
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(item) = body {
            let json = serde_json::to_vec(item).map_err(|e| ProviderError::Invalid(format!("{what}: cannot encode the item: {e}")))?;
            request = request.header("content-type", "application/json").body(json);
        }
        self.ctx.timed(PROVIDER_NAME, call, read(&what, request)).await
    }

    pub async fn json<T: DeserializeOwned>(
        &self,
        call: &'static str,
        segments: &[&str],
        query: Option<(&str, &str)>,
    ) -> Result<T, ProviderError> {
        let body = self.call(call, Method::GET, segments, query, None).await?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Invalid(format!("{call}: the answer is not what Connect sends: {e}")))
    }

    /// `GET /v1/vaults/{id}`, or the one vault named so (`GET /v1/vaults?filter=name eq "…"`).
    pub async fn vault(&self, query: &str) -> Result<Vault, ProviderError> {
        if is_native_id(query) {
            return self.json("GetVault", &["v1", "vaults", query], None).await;
        }
        let found: Vec<Vault> = self.json("GetVaultsByTitle", &["v1", "vaults"], Some(("filter", &eq_filter("name", query)))).await?;
        match <[Vault; 1]>::try_from(found) {
            Ok([v]) => Ok(v),
            Err(found) => Err(ProviderError::Invalid(format!("found {} vaults named {query:?}, expected one", found.len()))),
        }
    }

    pub async fn items_by_title(&self, vault: &str, title: &str) -> Result<Vec<Item>, ProviderError> {
        self.json("GetItemsByTitle", &["v1", "vaults", vault, "items"], Some(("filter", &eq_filter("title", title)))).await
    }

    pub async fn items(&self, vault: &str) -> Result<Vec<Item>, ProviderError> {
        self.json("GetItems", &["v1", "vaults", vault, "items"], None).await
    }

    pub async fn item(&self, vault: &str, id: &str) -> Result<Item, ProviderError> {
        self.json("GetItem", &["v1", "vaults", vault, "items", id], None).await
    }

    /// A file's bytes, from the item and file ids (never a path the server chose).
    pub async fn file_content(&self, item: &Item, file: &File) -> Result<Vec<u8>, ProviderError> {
        let segments = ["v1", "vaults", &item.vault.id, "items", &item.id, "files", &file.id, "content"];
        self.call("GetFileContent", Method::GET, &segments, None, None).await
    }

    pub async fn create_item(&self, vault: &str, item: &Item) -> Result<(), ProviderError> {
        self.call("CreateItem", Method::POST, &["v1", "vaults", vault, "items"], None, Some(item)).await.map(drop)
    }

    pub async fn update_item(&self, item: &Item) -> Result<(), ProviderError> {
        let segments = ["v1", "vaults", &item.vault.id, "items", &item.id];
        self.call("UpdateItem", Method::PUT, &segments, None, Some(item)).await.map(drop)
    }

    pub async fn delete_item(&self, item: &Item) -> Result<(), ProviderError> {
        let segments = ["v1", "vaults", &item.vault.id, "items", &item.id];
        self.call("DeleteItem", Method::DELETE, &segments, None, None).await.map(drop)
    }
}

/// Send `request` and read its answer, bounded; an error answer carries Connect's `message`
/// (it never holds a value).
async fn read(what: &str, request: reqwest::RequestBuilder) -> Result<Vec<u8>, ProviderError> {
    Ok(sesame_provider_http::send("Connect", what, request, MAX_BODY).await?.success(what, &["message"])?.body)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// How `read` turns a Connect error answer into an error.
    fn classify(what: &str, status: u16, body: &[u8], retry_after: Option<Duration>) -> ProviderError {
        sesame_provider_http::classify(what, status, &sesame_provider_http::said(body, &["message"]), retry_after)
    }

    #[test]
    fn status_codes_map_to_what_the_controller_does_next() {
        let body = br#"{"status":401,"message":"Invalid token signature"}"#;
        assert_eq!(
            classify("GET /v1/vaults", 401, body, None).to_string(),
            "authentication failed: GET /v1/vaults: HTTP 401 Invalid token signature"
        );
        assert_eq!(classify("GET /x", 403, b"{}", None).kind(), "auth");
        assert_eq!(classify("GET /x", 404, b"{}", None).kind(), "not_found");
        assert_eq!(classify("GET /x", 500, b"oops", None).kind(), "transient");
        assert_eq!(classify("GET /x", 400, b"{}", None).kind(), "invalid");
        assert_eq!(classify("GET /x", 429, b"", Some(Duration::from_secs(2))).kind(), "throttled");
    }

    #[test]
    fn native_ids_and_filters_follow_the_sdk() {
        assert!(is_native_id("hfnjvi6aymbsnfc2xeeoheizda"));
        assert!(!is_native_id("Production"));
        assert!(!is_native_id("HFNJVI6AYMBSNFC2XEEOHEIZDA"));
        assert_eq!(eq_filter("title", r#"a "q" \ b"#), r#"title eq "a \"q\" \\ b""#);
    }
}
