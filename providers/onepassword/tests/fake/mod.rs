//! A fake 1Password Connect server, written from the public Connect API reference for what the
//! provider calls: `GET /v1/vaults` (SCIM `name eq "…"` filter), `GET /v1/vaults/{id}`,
//! `GET|POST /v1/vaults/{id}/items` (`title eq "…"` / `tag eq "…"` filters; the list holds item
//! summaries, without fields or files), `GET|PUT|DELETE /v1/vaults/{id}/items/{id}` and
//! `GET /v1/vaults/{id}/items/{id}/files/{id}/content`. One per test, on `127.0.0.1:0`.
//!
//! As Connect it wants `Authorization: Bearer <token>` (401 otherwise), a token sees only its
//! vaults (403 for another), and every error is `{"status": N, "message": "…"}`.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Default)]
pub struct State {
    /// Vault id → name.
    pub vaults: BTreeMap<String, String>,
    /// Full items (Connect's FullItem JSON), by id.
    pub items: BTreeMap<String, Value>,
    /// (item id, file id) → content.
    pub files: HashMap<(String, String), Vec<u8>>,
    /// Token → the vault ids it may use.
    pub tokens: HashMap<String, HashSet<String>>,
    /// (path part, status, remaining).
    pub faults: Vec<(String, u16, u32)>,
    /// `METHOD path?query` of every request.
    pub log: Vec<String>,
    next_id: u64,
}

impl State {
    fn new_id(&mut self, prefix: char) -> String {
        self.next_id += 1;
        format!("{prefix}{:0>25}", self.next_id)
    }
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeConnect {
    pub url: String,
    pub state: Shared,
}

impl FakeConnect {
    pub async fn start() -> FakeConnect {
        let state: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/v1/vaults", get(vaults))
            .route("/v1/vaults/{vault}", get(vault))
            .route("/v1/vaults/{vault}/items", get(items).post(create))
            .route("/v1/vaults/{vault}/items/{item}", get(item).put(replace).delete(remove))
            .route("/v1/vaults/{vault}/items/{item}/files/{file}/content", get(content))
            .fallback(|| async { error(404, "Invalid request path") })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake Connect server") });
        FakeConnect { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// A vault; its id.
    pub fn vault(&self, name: &str) -> String {
        let mut s = self.lock();
        let id = s.new_id('v');
        s.vaults.insert(id.clone(), name.into());
        id
    }

    /// A token that may use these vaults.
    pub fn token(&self, token: &str, vaults: &[&str]) {
        self.lock().tokens.insert(token.into(), vaults.iter().map(|v| v.to_string()).collect());
    }

    /// An item with fields (label, value) and files (name, content); its id.
    pub fn item(
        &self,
        vault: &str,
        title: &str,
        category: &str,
        tags: &[&str],
        fields: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> String {
        let mut s = self.lock();
        let id = s.new_id('i');
        let mut file_list = Vec::new();
        for (name, bytes) in files {
            let fid = s.new_id('f');
            s.files.insert((id.clone(), fid.clone()), bytes.to_vec());
            file_list.push(json!({"id": fid, "name": name, "size": bytes.len(),
                "content_path": format!("/v1/vaults/{vault}/items/{id}/files/{fid}/content")}));
        }
        let fields: Vec<Value> = fields
            .iter()
            .enumerate()
            .map(|(i, (label, value))| json!({"id": format!("f{i}"), "type": "CONCEALED", "label": label, "value": value}))
            .collect();
        let item = json!({"id": id, "title": title, "vault": {"id": vault}, "category": category, "tags": tags,
            "version": 1, "urls": [{"href": "https://example.com"}], "fields": fields, "files": file_list});
        s.items.insert(id.clone(), item);
        id
    }

    pub fn fail(&self, path_part: &str, status: u16, times: u32) {
        self.lock().faults.push((path_part.into(), status, times));
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    pub fn item_json(&self, id: &str) -> Option<Value> {
        self.lock().items.get(id).cloned()
    }

    pub fn find_by_title(&self, title: &str) -> Vec<Value> {
        self.lock().items.values().filter(|i| i["title"] == title).cloned().collect()
    }
}

pub fn error(status: u16, message: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(json!({"status": status, "message": message}))).into_response()
}

/// Log, faults, the Bearer token and its vault grant.
fn admit(state: &Shared, method: &Method, headers: &HeaderMap, uri: &Uri, vault: Option<&str>) -> Result<(), Response> {
    let mut s = state.lock().unwrap();
    s.log.push(format!("{method} {uri}"));
    let path = uri.path().to_string();
    if let Some(f) = s.faults.iter_mut().find(|f| f.2 > 0 && path.contains(&f.0)) {
        f.2 -= 1;
        return Err(error(f.1, "Fault injected by the test"));
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(grant) = token.and_then(|t| s.tokens.get(t)) else {
        return Err(error(401, "Invalid token signature"));
    };
    match vault {
        Some(v) if !s.vaults.contains_key(v) => Err(error(404, "vault not found")),
        Some(v) if !grant.contains(v) => Err(error(403, "Authorization: vault access denied")),
        _ => Ok(()),
    }
}

/// `attr eq "value"` (SCIM, with `\"` and `\\` escapes): (attr, value).
fn parse_filter(filter: &str) -> Option<(String, String)> {
    let (attr, rest) = filter.split_once(" eq ")?;
    let quoted = rest.strip_prefix('"')?.strip_suffix('"')?;
    let mut value = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        value.push(if c == '\\' { chars.next()? } else { c });
    }
    Some((attr.trim().to_string(), value))
}

async fn vaults(
    AxState(s): AxState<Shared>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, None) {
        return r;
    }
    let filter = match q.get("filter").map(|f| parse_filter(f)) {
        None => None,
        Some(Some((attr, value))) if attr == "name" => Some(value),
        Some(_) => return error(400, "Invalid filter: vaults can only be filtered by name"),
    };
    let s = s.lock().unwrap();
    let list: Vec<Value> = s
        .vaults
        .iter()
        .filter(|(_, name)| filter.as_ref().is_none_or(|f| f == *name))
        .map(|(id, name)| json!({"id": id, "name": name, "type": "USER_CREATED"}))
        .collect();
    axum::Json(list).into_response()
}

async fn vault(AxState(s): AxState<Shared>, Path(v): Path<String>, method: Method, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, Some(&v)) {
        return r;
    }
    let name = s.lock().unwrap().vaults[&v].clone();
    axum::Json(json!({"id": v, "name": name, "type": "USER_CREATED"})).into_response()
}

/// An item as the list shows it: no fields, no files.
fn summary(item: &Value) -> Value {
    let mut s = item.clone();
    let o = s.as_object_mut().unwrap();
    o.remove("fields");
    o.remove("files");
    o.remove("sections");
    s
}

async fn items(
    AxState(s): AxState<Shared>,
    Path(v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, Some(&v)) {
        return r;
    }
    let filter = match q.get("filter").map(|f| parse_filter(f)) {
        None => None,
        Some(Some((attr, value))) if attr == "title" || attr == "tag" => Some((attr, value)),
        Some(_) => return error(400, "Invalid filter: items can only be filtered by title or tag"),
    };
    let s = s.lock().unwrap();
    let list: Vec<Value> = s
        .items
        .values()
        .filter(|i| i["vault"]["id"] == v.as_str())
        .filter(|i| match &filter {
            None => true,
            Some((attr, value)) if attr == "title" => i["title"] == value.as_str(),
            Some((_, tag)) => i["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag.as_str())),
        })
        .map(summary)
        .collect();
    axum::Json(list).into_response()
}

async fn item(AxState(s): AxState<Shared>, Path((v, i)): Path<(String, String)>, method: Method, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, Some(&v)) {
        return r;
    }
    match s.lock().unwrap().items.get(&i).filter(|it| it["vault"]["id"] == v.as_str()) {
        Some(it) => axum::Json(it.clone()).into_response(),
        None => error(404, "item not found"),
    }
}

async fn content(
    AxState(s): AxState<Shared>,
    Path((v, i, f)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, Some(&v)) {
        return r;
    }
    match s.lock().unwrap().files.get(&(i, f)) {
        Some(bytes) => bytes.clone().into_response(),
        None => error(404, "file not found"),
    }
}

/// The body of a create or replace: a JSON item with a title and a category.
fn parse_item(body: &Bytes) -> Result<Value, Response> {
    let item: Value = serde_json::from_slice(body).map_err(|_| error(400, "Invalid item: not JSON"))?;
    if item["title"].as_str().is_none_or(str::is_empty) || item["category"].as_str().is_none_or(str::is_empty) {
        return Err(error(400, "Invalid item: title and category are required"));
    }
    Ok(item)
}

async fn create(AxState(s): AxState<Shared>, Path(v): Path<String>, method: Method, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, Some(&v)) {
        return r;
    }
    let mut item = match parse_item(&body) {
        Ok(item) => item,
        Err(r) => return r,
    };
    if item["vault"]["id"] != v.as_str() {
        return error(400, "Invalid item: vault id does not match the path");
    }
    let mut s = s.lock().unwrap();
    let id = s.new_id('i');
    item["id"] = json!(id);
    item["version"] = json!(1);
    s.items.insert(id, item.clone());
    axum::Json(item).into_response()
}

async fn replace(
    AxState(s): AxState<Shared>,
    Path((v, i)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, Some(&v)) {
        return r;
    }
    let mut item = match parse_item(&body) {
        Ok(item) => item,
        Err(r) => return r,
    };
    let mut s = s.lock().unwrap();
    let Some(old) = s.items.get(&i).filter(|it| it["vault"]["id"] == v.as_str()) else {
        return error(404, "item not found");
    };
    if item["id"] != i.as_str() {
        return error(400, "Invalid item: id does not match the path");
    }
    item["version"] = json!(old["version"].as_u64().unwrap_or(0) + 1);
    s.items.insert(i, item.clone());
    axum::Json(item).into_response()
}

async fn remove(
    AxState(s): AxState<Shared>,
    Path((v, i)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = admit(&s, &method, &headers, &uri, Some(&v)) {
        return r;
    }
    let mut s = s.lock().unwrap();
    if s.items.get(&i).is_none_or(|it| it["vault"]["id"] != v.as_str()) {
        return error(404, "item not found");
    }
    s.items.remove(&i);
    StatusCode::NO_CONTENT.into_response()
}
