//! A fake GitLab deploy-tokens API, written from the public REST API v4 reference:
//! `POST /api/v4/{projects|groups}/:id/deploy_tokens` and
//! `DELETE /api/v4/{projects|groups}/:id/deploy_tokens/:token_id`. `:id` is the numeric id or the
//! URL-encoded full path.
//!
//! As GitLab it checks `PRIVATE-TOKEN` first (401 `{"message":"401 Unauthorized"}`), answers an
//! unknown project or group with 404 `{"message":"404 Project Not Found"}` (`Group`), a token
//! without the Maintainer role with 403 `{"message":"403 Forbidden"}`, an invalid scope with 400
//! `{"error":"scopes does not have a valid value"}`, a blank name with 400
//! `{"message":{"name":["can't be blank"]}}`; creates with 201 and the token's `id`, `name`,
//! `username` (`gitlab+deploy-token-{id}` by default), `expires_at`, `token`, `scopes`; deletes
//! with 204, and an unknown token id with 404 `{"message":"404 Not Found"}`.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde_json::{Value, json};

const SCOPES: [&str; 7] = [
    "read_repository",
    "read_registry",
    "write_registry",
    "read_package_registry",
    "write_package_registry",
    "read_virtual_registry",
    "write_virtual_registry",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployToken {
    pub id: u64,
    /// `projects/42` or `groups/7`.
    pub owner: String,
    pub name: String,
    pub username: String,
    pub token: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Maintainer,
    Developer,
}

#[derive(Default)]
pub struct State {
    /// `projects`/`groups` → id → full path.
    pub owners: BTreeMap<(String, u64), String>,
    pub tokens: HashMap<String, Role>,
    pub deploy_tokens: Vec<DeployToken>,
    pub next_id: u64,
    /// `METHOD path` of every request, in order.
    pub log: Vec<String>,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeGitlab {
    pub url: String,
    pub state: Shared,
}

impl FakeGitlab {
    pub async fn start() -> FakeGitlab {
        let state: Shared = Arc::new(Mutex::new(State { next_id: 1, ..Default::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/api/v4/{kind}/{id}/deploy_tokens", post(create))
            .route("/api/v4/{kind}/{id}/deploy_tokens/{token_id}", delete(revoke))
            .fallback(|| async { message(404, "404 Not Found") })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake GitLab server") });
        FakeGitlab { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn token(&self, token: &str, role: Role) {
        self.lock().tokens.insert(token.into(), role);
    }

    pub fn project(&self, id: u64, full_path: &str) {
        self.lock().owners.insert(("projects".into(), id), full_path.into());
    }

    pub fn group(&self, id: u64, full_path: &str) {
        self.lock().owners.insert(("groups".into(), id), full_path.into());
    }

    pub fn deploy_tokens(&self) -> Vec<DeployToken> {
        self.lock().deploy_tokens.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }
}

fn message(status: u16, text: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(json!({"message": text}))).into_response()
}

/// The caller's role, and the owner `kind/id` that `id` (numeric or full path) names.
fn resolve(state: &State, headers: &HeaderMap, kind: &str, id: &str) -> Result<(Role, String), Response> {
    let token = headers.get("private-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(role) = state.tokens.get(token).copied() else { return Err(message(401, "401 Unauthorized")) };
    let missing = if kind == "projects" { "404 Project Not Found" } else { "404 Group Not Found" };
    let found = state.owners.iter().find(|((k, n), path)| k == kind && (n.to_string() == id || path.as_str() == id));
    let ((_, n), _) = found.ok_or_else(|| message(404, missing))?;
    Ok((role, format!("{kind}/{n}")))
}

async fn create(
    AxState(state): AxState<Shared>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push(format!("POST /api/v4/{kind}/{id}/deploy_tokens"));
    let (role, owner) = match resolve(&state, &headers, &kind, &id) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    if role != Role::Maintainer {
        return message(403, "403 Forbidden");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else { return message(400, "400 Bad request") };
    let name = request["name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"message": {"name": ["can't be blank"]}}))).into_response();
    }
    let scopes: Vec<String> =
        request["scopes"].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default();
    if scopes.is_empty() || scopes.iter().any(|s| !SCOPES.contains(&s.as_str())) {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "scopes does not have a valid value"}))).into_response();
    }
    let id = state.next_id;
    state.next_id += 1;
    let username = request["username"].as_str().map(str::to_string).unwrap_or_else(|| format!("gitlab+deploy-token-{id}"));
    let deploy = DeployToken {
        id,
        owner,
        name,
        username,
        token: format!("gldt-fake{id:012}"),
        scopes,
        expires_at: request["expires_at"].as_str().map(str::to_string),
    };
    let answer = json!({
        "id": deploy.id, "name": deploy.name, "username": deploy.username, "expires_at": deploy.expires_at,
        "token": deploy.token, "scopes": deploy.scopes, "revoked": false, "expired": false,
    });
    state.deploy_tokens.push(deploy);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn revoke(
    AxState(state): AxState<Shared>,
    Path((kind, id, token_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push(format!("DELETE /api/v4/{kind}/{id}/deploy_tokens/{token_id}"));
    let (role, owner) = match resolve(&state, &headers, &kind, &id) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    if role != Role::Maintainer {
        return message(403, "403 Forbidden");
    }
    let before = state.deploy_tokens.len();
    state.deploy_tokens.retain(|t| !(t.owner == owner && t.id.to_string() == token_id));
    if state.deploy_tokens.len() == before {
        return message(404, "404 Not Found");
    }
    StatusCode::NO_CONTENT.into_response()
}
