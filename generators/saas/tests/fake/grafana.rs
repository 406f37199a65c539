//! A fake Grafana service-accounts API, written from Grafana's public HTTP API reference:
//! `GET /api/serviceaccounts/search?query=` (paged: `totalCount`, `serviceAccounts`, `page`,
//! `perPage`), `POST /api/serviceaccounts` (`name`, `role`; 201 with `id`, `name`, `login`
//! `sa-<name>`, `role`), `POST /api/serviceaccounts/{id}/tokens` (`name`, `secondsToLive`; 200
//! with `id`, `name`, `key` `glsa_…`) and `DELETE /api/serviceaccounts/{id}/tokens/{tokenId}` (200
//! `{"message":"Service account token deleted"}`).
//!
//! As Grafana it authenticates `Authorization: Bearer <token>` or Basic user:password (401
//! `{"message":"Unauthorized"}`); a caller without the Admin role gets 403 with the permission it
//! lacks; a duplicate service account name 400 `{"message":"service account already exists"}`, a
//! role that is not a basic role 400, an unknown service account 404
//! `{"message":"service account not found"}` and an unknown token 404
//! `{"message":"service account token not found"}`.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct ServiceAccount {
    pub id: i64,
    pub name: String,
    pub login: String,
    pub role: String,
    /// Token id → (name, key, secondsToLive).
    pub tokens: BTreeMap<i64, (String, String, Option<i64>)>,
}

#[derive(Default)]
pub struct State {
    /// `Bearer` token or `user:password` → is the caller an Admin.
    pub callers: HashMap<String, bool>,
    pub accounts: BTreeMap<i64, ServiceAccount>,
    pub next_id: i64,
    pub log: Vec<String>,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeGrafana {
    pub url: String,
    pub state: Shared,
}

impl FakeGrafana {
    pub async fn start() -> FakeGrafana {
        let state: Shared = Arc::new(Mutex::new(State { next_id: 1, ..Default::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/api/serviceaccounts/search", get(search))
            .route("/api/serviceaccounts", post(create_account))
            .route("/api/serviceaccounts/{id}/tokens", post(create_token))
            .route("/api/serviceaccounts/{id}/tokens/{token}", delete(delete_token))
            .fallback(|| async { message(404, "Not found") })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake Grafana server") });
        FakeGrafana { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// A caller: a bearer token, or `user:password` for Basic auth.
    pub fn caller(&self, credential: &str, admin: bool) {
        self.lock().callers.insert(credential.into(), admin);
    }

    pub fn accounts(&self) -> Vec<ServiceAccount> {
        self.lock().accounts.values().cloned().collect()
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }
}

fn message(status: u16, text: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(json!({"message": text}))).into_response()
}

/// Whether the caller is an Admin, or the 401.
fn caller(state: &State, headers: &HeaderMap) -> Result<bool, Response> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let credential = if let Some(t) = header.strip_prefix("Bearer ") {
        Some(t.to_string())
    } else {
        header.strip_prefix("Basic ").and_then(|b| STANDARD.decode(b).ok()).and_then(|b| String::from_utf8(b).ok())
    };
    credential.and_then(|c| state.callers.get(&c).copied()).ok_or_else(|| message(401, "Unauthorized"))
}

fn admin(state: &State, headers: &HeaderMap, action: &str) -> Result<(), Response> {
    if caller(state, headers)? {
        Ok(())
    } else {
        Err(message(403, &format!("You'll need additional permissions to perform this action. Permissions needed: {action}")))
    }
}

fn account_json(sa: &ServiceAccount) -> Value {
    json!({"id": sa.id, "name": sa.name, "login": sa.login, "orgId": 1, "isDisabled": false, "role": sa.role, "tokens": sa.tokens.len(), "avatarUrl": ""})
}

async fn search(AxState(state): AxState<Shared>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push(format!("GET /api/serviceaccounts/search?query={}", q.get("query").map(String::as_str).unwrap_or("")));
    if let Err(resp) = admin(&state, &headers, "serviceaccounts:read") {
        return resp;
    }
    let query = q.get("query").cloned().unwrap_or_default().to_lowercase();
    let found: Vec<Value> = state
        .accounts
        .values()
        .filter(|sa| sa.name.to_lowercase().contains(&query) || sa.login.contains(&query))
        .map(account_json)
        .collect();
    axum::Json(json!({"totalCount": found.len(), "serviceAccounts": found, "page": 1, "perPage": 1000})).into_response()
}

async fn create_account(AxState(state): AxState<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push("POST /api/serviceaccounts".into());
    if let Err(resp) = admin(&state, &headers, "serviceaccounts:create") {
        return resp;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let name = request["name"].as_str().unwrap_or("").to_string();
    let role = request["role"].as_str().unwrap_or("Viewer").to_string();
    if name.is_empty() {
        return message(400, "Bad request data");
    }
    if !["Viewer", "Editor", "Admin", "None"].contains(&role.as_str()) {
        return message(400, &format!("invalid role value: {role}"));
    }
    if state.accounts.values().any(|sa| sa.name == name) {
        return message(400, "service account already exists");
    }
    let id = state.next_id;
    state.next_id += 1;
    let login = format!("sa-{}", name.to_lowercase().replace(' ', "-"));
    let sa = ServiceAccount { id, name, login, role, tokens: BTreeMap::new() };
    let answer = account_json(&sa);
    state.accounts.insert(id, sa);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn create_token(AxState(state): AxState<Shared>, Path(id): Path<i64>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push(format!("POST /api/serviceaccounts/{id}/tokens"));
    if let Err(resp) = admin(&state, &headers, "serviceaccounts:write") {
        return resp;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let name = request["name"].as_str().unwrap_or("").to_string();
    let ttl = request["secondsToLive"].as_i64();
    let token_id = state.next_id;
    state.next_id += 1;
    let Some(sa) = state.accounts.get_mut(&id) else { return message(404, "service account not found") };
    if name.is_empty() {
        return message(400, "Bad request data");
    }
    if sa.tokens.values().any(|(n, _, _)| *n == name) {
        return message(409, "service account token with given name already exists in the organization");
    }
    let key = format!("glsa_fake{token_id:024}_0000");
    sa.tokens.insert(token_id, (name.clone(), key.clone(), ttl));
    axum::Json(json!({"id": token_id, "name": name, "key": key})).into_response()
}

async fn delete_token(AxState(state): AxState<Shared>, Path((id, token)): Path<(i64, i64)>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push(format!("DELETE /api/serviceaccounts/{id}/tokens/{token}"));
    if let Err(resp) = admin(&state, &headers, "serviceaccounts:write") {
        return resp;
    }
    let Some(sa) = state.accounts.get_mut(&id) else { return message(404, "service account not found") };
    if sa.tokens.remove(&token).is_none() {
        return message(404, "service account token not found");
    }
    axum::Json(json!({"message": "Service account token deleted"})).into_response()
}
