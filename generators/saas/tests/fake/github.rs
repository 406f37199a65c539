//! A fake GitHub App API, written from the public REST reference for
//! `POST /app/installations/{installation_id}/access_tokens`. One per test, on `127.0.0.1:0`, over
//! plain HTTP (the generator's `url` points at it as at a GitHub Enterprise Server API).
//!
//! As GitHub it refuses a request without a `User-Agent` (403), authenticates the app with the
//! `Authorization: Bearer <JWT>` alone: an RS256 JWT whose signature verifies with the app's
//! public key, `iss` the app id, `exp` in the future and at most 10 minutes after `iat` (401
//! `{"message": "A JSON web token could not be decoded"}` or the claim's complaint otherwise); an
//! installation of another app or none is 404 `{"message": "Not Found"}`; repositories or
//! permissions the installation does not have are 422. It answers 201 with `token`
//! (`ghs_…`), `expires_at`, `permissions` and `repository_selection`.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// An app installation: what its tokens may reach.
pub struct Installation {
    pub app_id: String,
    pub repositories: BTreeSet<String>,
    pub permissions: BTreeMap<String, String>,
}

/// A token the fake issued, with what it was narrowed to.
#[derive(Clone, Debug)]
pub struct Issued {
    pub token: String,
    pub installation: u64,
    pub repositories: Vec<String>,
    pub permissions: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct State {
    /// App id → the DER RSAPublicKey its JWTs verify with.
    pub apps: BTreeMap<String, Vec<u8>>,
    pub installations: BTreeMap<u64, Installation>,
    pub issued: Vec<Issued>,
    /// `POST path` of every request, in order.
    pub log: Vec<String>,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeGithub {
    pub url: String,
    pub state: Shared,
}

/// A fresh RSA app key: `(PKCS#8 PEM, PKCS#1 PEM, DER public key)`; GitHub hands out PKCS#1.
pub fn app_key() -> (String, String, Vec<u8>) {
    let key = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).expect("PKCS#8").as_ref().to_vec();
    let pkcs1 = pkcs1_of(&pkcs8);
    let public = key.public_key().as_ref().to_vec();
    (pem("PRIVATE KEY", &pkcs8), pem("RSA PRIVATE KEY", &pkcs1), public)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo: SEQUENCE { INTEGER, SEQUENCE, OCTET STRING }.
fn pkcs1_of(pkcs8: &[u8]) -> Vec<u8> {
    // (tag, content start, content end) of the DER element at `at`.
    fn element(der: &[u8], at: usize) -> (u8, usize, usize) {
        let tag = der[at];
        let first = der[at + 1] as usize;
        if first < 0x80 {
            return (tag, at + 2, at + 2 + first);
        }
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n].iter().fold(0usize, |acc, b| acc << 8 | *b as usize);
        (tag, at + 2 + n, at + 2 + n + len)
    }
    let (_, body, _) = element(pkcs8, 0);
    let (_, _, version_end) = element(pkcs8, body);
    let (_, _, algorithm_end) = element(pkcs8, version_end);
    let (tag, start, end) = element(pkcs8, algorithm_end);
    assert_eq!(tag, 0x04, "PKCS#8 holds its key in an OCTET STRING");
    pkcs8[start..end].to_vec()
}

impl FakeGithub {
    pub async fn start() -> FakeGithub {
        let state: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/app/installations/{id}/access_tokens", post(create_token))
            .fallback(|| async { message(404, "Not Found") })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake GitHub server") });
        FakeGithub { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn app(&self, app_id: &str, public_key: Vec<u8>) {
        self.lock().apps.insert(app_id.into(), public_key);
    }

    pub fn installation(&self, id: u64, app_id: &str, repositories: &[&str], permissions: &[(&str, &str)]) {
        let installation = Installation {
            app_id: app_id.into(),
            repositories: repositories.iter().map(|r| r.to_string()).collect(),
            permissions: permissions.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        self.lock().installations.insert(id, installation);
    }

    pub fn issued(&self) -> Vec<Issued> {
        self.lock().issued.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }
}

fn message(status: u16, text: &str) -> Response {
    let body = json!({"message": text, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The app a bearer JWT proves, or GitHub's complaint.
fn authenticate(state: &State, headers: &HeaderMap) -> Result<String, Response> {
    let undecodable = || message(401, "A JSON web token could not be decoded");
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| message(401, "Requires authentication"))?;
    let parts: Vec<&str> = bearer.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err(undecodable()) };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    let header: Value = decode(header).and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(undecodable)?;
    let claims: Value = decode(claims).and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(undecodable)?;
    let signature = decode(signature).ok_or_else(undecodable)?;
    if header["alg"] != "RS256" {
        return Err(undecodable());
    }
    let iss = claims["iss"].as_str().map(str::to_string).or_else(|| claims["iss"].as_i64().map(|n| n.to_string())).unwrap_or_default();
    let key = state.apps.get(&iss).ok_or_else(|| message(401, "Integration not found"))?;
    let signed = bearer.rsplit_once('.').unwrap().0;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| message(401, "A JSON web token could not be decoded"))?;
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    if iat > now() + 60 {
        return Err(message(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past."));
    }
    if exp <= now() || exp - iat > 600 {
        return Err(message(401, "'Expiration time' claim ('exp') is too far in the future"));
    }
    Ok(iss)
}

async fn create_token(AxState(state): AxState<Shared>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut state = state.lock().unwrap();
    state.log.push(format!("POST /app/installations/{id}/access_tokens"));
    if headers.get("user-agent").is_none() {
        return message(403, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header");
    }
    let app = match authenticate(&state, &headers) {
        Ok(app) => app,
        Err(resp) => return resp,
    };
    let Some((id, installation)) = id.parse::<u64>().ok().and_then(|id| state.installations.get(&id).map(|i| (id, i))) else {
        return message(404, "Not Found");
    };
    if installation.app_id != app {
        return message(404, "Not Found");
    }
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return message(400, "Problems parsing JSON"),
        }
    };
    let repositories: Vec<String> =
        request["repositories"].as_array().map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect()).unwrap_or_default();
    if repositories.iter().any(|r| !installation.repositories.contains(r)) {
        return message(422, "There is at least one repository that does not exist or is not accessible to the parent installation.");
    }
    let permissions: BTreeMap<String, String> = match request.get("permissions") {
        Some(p) => serde_json::from_value(p.clone()).unwrap_or_default(),
        None => installation.permissions.clone(),
    };
    let grants = |k: &String, v: &String| installation.permissions.get(k).is_some_and(|have| have == "write" || have == v);
    if !permissions.iter().all(|(k, v)| grants(k, v)) {
        return message(422, "The permissions requested are not granted to this installation.");
    }
    let token = format!("ghs_{}{:08}", "x".repeat(28), state.issued.len() + 1);
    let selection = if repositories.is_empty() { "all" } else { "selected" };
    state.issued.push(Issued { token: token.clone(), installation: id, repositories, permissions: permissions.clone() });
    let expires = chrono::DateTime::from_timestamp(now() + 3600, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({"token": token, "expires_at": expires, "permissions": permissions, "repository_selection": selection});
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
