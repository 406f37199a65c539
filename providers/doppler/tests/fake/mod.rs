//! A fake Doppler API, written from the public REST API v3 reference for what the provider calls:
//! `GET /v3/configs/config/secrets/download` (`project`, `config`, `format`, `name_transformer`,
//! `secrets`), `GET /v3/projects` and `POST /v3/auth/oidc` (a service account identity's token
//! exchange). One per test, on `127.0.0.1:0`, over plain HTTP.
//!
//! As Doppler it takes the token as HTTP basic user name or bearer token (401 `{"messages":
//! ["Invalid Auth token"],"success":false}` otherwise); a service token names its project and
//! config itself, and asking it for another is 403; an unknown config is 404; throttling is 429
//! with `Retry-After`. An OIDC identity accepts a JWT whose `sub` and one of whose `aud` are
//! the ones it was configured with (as Doppler's identities do; the signature is the issuer's
//! business, checked by the e2e test with a TokenReview) and answers `{"success": true, "token",
//! "expires_at"}`; any other JWT is 401 with Doppler's error body.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::json;

#[derive(Default)]
pub struct State {
    /// (project, config) → secret name → value.
    pub configs: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// token → the (project, config) of a service token, `None` for a personal token.
    pub tokens: HashMap<String, Option<(String, String)>>,
    /// (path part, status, remaining, Retry-After).
    pub faults: Vec<(String, u16, u32, Option<u64>)>,
    /// `GET path?query` of every request.
    pub log: Vec<String>,
    /// identity → (subject, audience, lifetime of the tokens it issues, in seconds).
    pub identities: HashMap<String, (String, String, i64)>,
    /// The JWTs presented to `/v3/auth/oidc`, in order.
    pub exchanged: Vec<String>,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeDoppler {
    pub url: String,
    pub state: Shared,
}

impl FakeDoppler {
    pub async fn start() -> FakeDoppler {
        let state: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/v3/configs/config/secrets/download", get(download))
            .route("/v3/projects", get(projects))
            .route("/v3/auth/oidc", axum::routing::post(oidc))
            .fallback(|| async { error(404, "Not found") })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake Doppler server") });
        FakeDoppler { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn secret(&self, project: &str, config: &str, name: &str, value: &str) {
        self.lock().configs.entry((project.into(), config.into())).or_default().insert(name.into(), value.into());
    }

    pub fn remove(&self, project: &str, config: &str, name: &str) {
        self.lock().configs.get_mut(&(project.into(), config.into())).unwrap().remove(name);
    }

    /// A service token bound to one config.
    pub fn service_token(&self, token: &str, project: &str, config: &str) {
        self.lock().tokens.insert(token.into(), Some((project.into(), config.into())));
    }

    pub fn personal_token(&self, token: &str) {
        self.lock().tokens.insert(token.into(), None);
    }

    /// A service account identity trusting JWTs for `subject` with `audience`; the tokens it
    /// issues act as personal tokens (they name project and config) and live `ttl` seconds.
    pub fn oidc_identity(&self, identity: &str, subject: &str, audience: &str, ttl: i64) {
        self.lock().identities.insert(identity.into(), (subject.into(), audience.into(), ttl));
    }

    /// The JWTs exchanged so far.
    pub fn exchanged(&self) -> Vec<String> {
        self.lock().exchanged.clone()
    }

    pub fn fail(&self, path_part: &str, status: u16, times: u32, retry_after: Option<u64>) {
        self.lock().faults.push((path_part.into(), status, times, retry_after));
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }
}

fn error(status: u16, message: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(json!({"messages": [message], "success": false}))).into_response()
}

/// The token of a request: basic auth user name (empty password) or bearer.
fn token_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(bearer) = value.strip_prefix("Bearer ") {
        return Some(bearer.to_string());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':').map_or(text.clone(), |(user, _)| user.to_string()))
}

/// Log, faults and the token check; the token's service scope when it has one.
fn admit(state: &Shared, headers: &HeaderMap, uri: &Uri) -> Result<Option<(String, String)>, Response> {
    let mut s = state.lock().unwrap();
    s.log.push(format!("GET {uri}"));
    let path = uri.path().to_string();
    if let Some(f) = s.faults.iter_mut().find(|f| f.2 > 0 && path.contains(&f.0)) {
        f.2 -= 1;
        let mut resp = error(f.1, "Fault injected by the test");
        if let Some(after) = f.3 {
            resp.headers_mut().insert("Retry-After", after.to_string().parse().unwrap());
        }
        return Err(resp);
    }
    match token_of(headers).and_then(|t| s.tokens.get(&t).cloned()) {
        Some(scope) => Ok(scope),
        None => Err(error(401, "Invalid Auth token")),
    }
}

async fn projects(AxState(s): AxState<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(resp) = admit(&s, &headers, &uri) {
        return resp;
    }
    let names: Vec<String> = s.lock().unwrap().configs.keys().map(|(p, _)| p.clone()).collect();
    let list: Vec<_> = names.iter().map(|p| json!({"id": p, "slug": p, "name": p})).collect();
    axum::Json(json!({"projects": list, "page": 1, "success": true})).into_response()
}

/// Doppler's name transformers (`API_KEY` → `apiKey`, …).
fn transform(name: &str, how: &str) -> String {
    let words: Vec<String> = name.split('_').filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    let capital = |w: &String| w[..1].to_uppercase() + &w[1..];
    match how {
        "camel" => words.iter().enumerate().map(|(i, w)| if i == 0 { w.clone() } else { capital(w) }).collect(),
        "upper-camel" => words.iter().map(capital).collect(),
        "lower-snake" => words.join("_"),
        "lower-kebab" => words.join("-"),
        "tf-var" => format!("TF_VAR_{}", words.join("_")),
        "dotnet-env" => name
            .split("__")
            .map(|part| part.split('_').filter(|w| !w.is_empty()).map(|w| capital(&w.to_lowercase())).collect::<String>())
            .collect::<Vec<_>>()
            .join("__"),
        _ => name.to_string(),
    }
}

async fn download(AxState(s): AxState<Shared>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, uri: Uri) -> Response {
    let scope = match admit(&s, &headers, &uri) {
        Ok(scope) => scope,
        Err(resp) => return resp,
    };
    // A service token implies its config; naming another one is refused.
    let (project, config) = match (scope, q.get("project"), q.get("config")) {
        (Some((p, c)), qp, qc) => {
            if qp.is_some_and(|x| x != &p) || qc.is_some_and(|x| x != &c) {
                return error(403, "This token does not have access to requested project");
            }
            (p, c)
        }
        (None, Some(p), Some(c)) => (p.clone(), c.clone()),
        (None, _, _) => return error(400, "You must specify a project and config"),
    };
    let Some(secrets) = s.lock().unwrap().configs.get(&(project.clone(), config.clone())).cloned() else {
        return error(404, &format!("Could not find requested config '{config}'"));
    };
    let only: Option<Vec<&str>> = q.get("secrets").map(|list| list.split(',').collect());
    let how = q.get("name_transformer").map(String::as_str).unwrap_or("");
    let picked: BTreeMap<String, String> = secrets
        .into_iter()
        .filter(|(k, _)| only.as_ref().is_none_or(|o| o.contains(&k.as_str())))
        .map(|(k, v)| (transform(&k, how), v))
        .collect();
    match q.get("format").map(String::as_str).unwrap_or("json") {
        "json" => axum::Json(json!(picked)).into_response(),
        "dotnet-json" => {
            axum::Json(json!(picked.iter().map(|(k, v)| (transform(k, "dotnet-env"), v)).collect::<BTreeMap<_, _>>())).into_response()
        }
        "env" => picked.iter().map(|(k, v)| format!("{k}=\"{v}\"\n")).collect::<String>().into_response(),
        "docker" => picked.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>().into_response(),
        "yaml" => picked.iter().map(|(k, v)| format!("{k}: {v:?}\n")).collect::<String>().into_response(),
        other => error(400, &format!("Invalid format '{other}'")),
    }
}

/// The claims of a JWT, unverified.
pub fn claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

async fn oidc(AxState(s): AxState<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut st = s.lock().unwrap();
    st.log.push("POST /v3/auth/oidc".into());
    if !headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json")) {
        return error(400, "Content-Type must be application/json");
    }
    let Ok(req) = serde_json::from_str::<serde_json::Value>(&body) else { return error(400, "Invalid JSON body") };
    let (Some(identity), Some(jwt)) = (req["identity"].as_str(), req["token"].as_str()) else {
        return error(400, "identity and token are required");
    };
    st.exchanged.push(jwt.to_string());
    let Some((subject, audience, ttl)) = st.identities.get(identity).cloned() else {
        return error(404, "Could not find requested identity");
    };
    let Some(c) = claims(jwt) else { return error(401, "Invalid OIDC token") };
    let audiences: Vec<&str> = match &c["aud"] {
        serde_json::Value::String(a) => vec![a.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|a| a.as_str()).collect(),
        _ => vec![],
    };
    if c["sub"].as_str() != Some(subject.as_str()) || !audiences.contains(&audience.as_str()) {
        return error(401, "OIDC token claims do not match the identity");
    }
    let token = format!("dp.sa.{identity}.{}", st.exchanged.len());
    st.tokens.insert(token.clone(), None);
    let expires_at = (chrono::Utc::now() + chrono::Duration::seconds(ttl)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    axum::Json(json!({"success": true, "token": token, "expires_at": expires_at})).into_response()
}
