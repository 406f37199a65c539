//! Fakes of the two OIDC exchanges, written from their public references: Quay's robot-account
//! federation (`GET /oauth2/federation/robot/token`, Basic `robot:<OIDC token>`, 200
//! `{"token": …}`) and Cloudsmith's (`POST /openid/{org}/` with `{"oidc_token", "service_slug"}`,
//! 201 `{"token": …}`). Both issue JWTs with an `exp` an hour ahead.
//!
//! The OIDC token is trusted by its `iss` and `sub` claims as the services' federation rules name
//! them (Quay: the robot's federation configuration; Cloudsmith: the service's OIDC provider
//! settings); its signature is not checked (the fakes hold no issuer keys). Refusals: Quay answers
//! 401 with its API error body (`detail`, `error_message`, `error_type`), Cloudsmith 401
//! `{"detail": …}` and 404 `{"detail": "Not found."}` for an unknown organisation.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// Who may exchange: an `(iss, sub)` pair.
pub type Trust = (String, String);

#[derive(Default)]
pub struct State {
    /// Quay: robot account → the trusted identities.
    pub robots: BTreeMap<String, Vec<Trust>>,
    /// Cloudsmith: `org/service` → the trusted identities.
    pub services: BTreeMap<String, Vec<Trust>>,
    /// Tokens issued, in order.
    pub issued: Vec<String>,
    pub log: Vec<String>,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeOidc {
    pub url: String,
    pub state: Shared,
}

/// An unsigned JWT with these claims (what a TokenRequest token looks like to a reader).
pub fn jwt(claims: Value) -> String {
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", enc(json!({"alg": "RS256", "typ": "JWT"})), enc(claims), URL_SAFE_NO_PAD.encode("not-verified"))
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims_of(token: &str) -> Option<(String, String)> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    Some((claims["iss"].as_str()?.to_string(), claims["sub"].as_str()?.to_string()))
}

impl FakeOidc {
    pub async fn start() -> FakeOidc {
        let state: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/oauth2/federation/robot/token", get(quay))
            .route("/openid/{org}/", post(cloudsmith))
            .fallback(|| async { (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Not found."}))).into_response() })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake OIDC server") });
        FakeOidc { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn robot(&self, robot: &str, iss: &str, sub: &str) {
        self.lock().robots.entry(robot.into()).or_default().push((iss.into(), sub.into()));
    }

    pub fn service(&self, org: &str, service: &str, iss: &str, sub: &str) {
        self.lock().services.entry(format!("{org}/{service}")).or_default().push((iss.into(), sub.into()));
    }

    pub fn issued(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }
}

fn issue(state: &mut State, subject: &str) -> String {
    let n = state.issued.len() + 1;
    let token = jwt(json!({"sub": subject, "exp": now() + 3600, "jti": format!("issued-{n}")}));
    state.issued.push(token.clone());
    token
}

fn quay_error(status: u16, error_type: &str, message: &str) -> Response {
    let body = json!({"detail": message, "error_message": message, "error_type": error_type, "title": error_type, "status": status});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn quay(AxState(state): AxState<Shared>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push("GET /oauth2/federation/robot/token".into());
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
    let decoded = basic.and_then(|b| STANDARD.decode(b).ok()).and_then(|b| String::from_utf8(b).ok());
    let Some((robot, token)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return quay_error(401, "invalid_token", "Missing or invalid basic auth");
    };
    let Some(trusted) = state.robots.get(robot) else {
        return quay_error(401, "invalid_token", "Could not find robot with specified username");
    };
    let Some(identity) = claims_of(token) else { return quay_error(401, "invalid_token", "Invalid JWT token") };
    if !trusted.contains(&identity) {
        return quay_error(401, "invalid_token", "Robot account federation configuration does not match the token");
    }
    let robot = robot.to_string();
    let token = issue(&mut state, &robot);
    (StatusCode::OK, axum::Json(json!({"token": token}))).into_response()
}

async fn cloudsmith(AxState(state): AxState<Shared>, Path(org): Path<String>, body: axum::body::Bytes) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push(format!("POST /openid/{org}/"));
    let detail = |status: StatusCode, text: &str| (status, axum::Json(json!({"detail": text}))).into_response();
    let Ok(request) = serde_json::from_slice::<Value>(&body) else { return detail(StatusCode::BAD_REQUEST, "JSON parse error") };
    let (Some(oidc), Some(service)) = (request["oidc_token"].as_str(), request["service_slug"].as_str()) else {
        return detail(StatusCode::BAD_REQUEST, "oidc_token and service_slug are required.");
    };
    if !state.services.keys().any(|k| k.starts_with(&format!("{org}/"))) {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    }
    let trusted = state.services.get(&format!("{org}/{service}")).cloned().unwrap_or_default();
    match claims_of(oidc) {
        Some(identity) if trusted.contains(&identity) => {}
        _ => return detail(StatusCode::UNAUTHORIZED, "Invalid OIDC token or service."),
    }
    let token = issue(&mut state, service);
    (StatusCode::CREATED, axum::Json(json!({"token": token}))).into_response()
}
