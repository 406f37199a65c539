//! A fake bitwarden-sdk-server, written from its source (external-secrets/bitwarden-sdk-server,
//! `pkg/server`, `pkg/bitwarden`): the routes under `/rest/api/1` (`GET /secret`, `GET /secrets`,
//! `GET /secrets-by-ids`, `POST|PUT|DELETE /secret`), each taking a JSON body (a GET too) decoded
//! as Go decodes it (field names case-insensitive, unknown fields ignored), and its answers:
//! the SDK's JSON on success, Go `http.Error` text otherwise: 401 without a token, 400 for a
//! failed login and for the SDK's errors, which carry Bitwarden's own status
//! (`Received error message from server: [404 Not Found] {…}`). HTTPS only, with a test CA made
//! fresh for every fake, on `127.0.0.1:0`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto::aws_lc_rs};

/// Bitwarden's 404 body, as the SDK quotes it.
const NOT_FOUND: &str = "Received error message from server: [404 Not Found] {\"message\":\"Resource not found.\",\"validationErrors\":null,\"exceptionMessage\":null,\"exceptionStackTrace\":null,\"innerExceptionMessage\":null,\"object\":\"error\"}";
const BAD_LOGIN: &str = "failed to login to bitwarden using access token: bitwarden login: Received error message from server: [400 Bad Request] {\"error\":\"invalid_client\"}";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub token: String,
    pub api_url: String,
    pub identity_url: String,
}

#[derive(Default)]
pub struct State {
    /// Secrets in creation order (the order `GET /secrets` lists them in), as the SDK's JSON.
    pub secrets: Vec<Value>,
    /// Access tokens that log in.
    pub tokens: Vec<String>,
    /// (path, status, body, remaining): the next matching requests answer so.
    pub faults: Vec<(String, u16, String, u32)>,
    pub log: Vec<Seen>,
    next_id: u64,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeSdkServer {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The PEM of the CA that signed the server's certificate.
    pub ca_pem: String,
    pub state: Shared,
}

impl FakeSdkServer {
    pub async fn start() -> FakeSdkServer {
        let state: Shared = Arc::default();
        let (ca_pem, config) = pki();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let addr: SocketAddr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(config);
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = service_fn(move |req| dispatch(shared.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        FakeSdkServer { url: format!("https://{addr}"), ca_pem, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// An access token that logs in (any organization).
    pub fn token(&self, token: &str) {
        self.lock().tokens.push(token.into());
    }

    /// Every token stops logging in (a machine account's tokens revoked).
    pub fn revoke_all(&self) {
        self.lock().tokens.clear();
    }

    /// A secret; its id.
    pub fn secret(&self, org: &str, project: Option<&str>, key: &str, value: &str, note: &str) -> String {
        let mut s = self.lock();
        let id = s.new_id();
        let secret = secret_json(&id, org, project, key, value, note);
        s.secrets.push(secret);
        id
    }

    pub fn remove(&self, id: &str) {
        self.lock().secrets.retain(|s| s["id"] != id);
    }

    pub fn set_value(&self, id: &str, value: &str) {
        let mut s = self.lock();
        let secret = s.secrets.iter_mut().find(|s| s["id"] == id).expect("a secret of the fake");
        secret["value"] = json!(value);
    }

    /// The secrets named `key`, in list order.
    pub fn named(&self, key: &str) -> Vec<Value> {
        self.lock().secrets.iter().filter(|s| s["key"] == key).cloned().collect()
    }

    pub fn fail(&self, path: &str, status: u16, body: &str, times: u32) {
        self.lock().faults.push((path.into(), status, body.into(), times));
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.lock().log.clone()
    }
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}-b1d0-4e5a-9c3f-{:012x}", self.next_id * 7919, self.next_id)
    }

    fn find(&self, id: &str) -> Option<&Value> {
        self.secrets.iter().find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
    }
}

fn secret_json(id: &str, org: &str, project: Option<&str>, key: &str, value: &str, note: &str) -> Value {
    let mut secret = json!({"creationDate": "2026-12-01T10:00:00.000000Z", "id": id, "key": key, "note": note,
        "organizationId": org, "revisionDate": "2026-12-01T10:00:00.000000Z", "value": value});
    if let Some(p) = project {
        secret["projectId"] = json!(p);
    }
    secret
}

/// A test CA and a certificate for 127.0.0.1 and localhost signed by it: (CA PEM, server config).
fn pki() -> (String, Arc<ServerConfig>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "bitwarden-sdk-server test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    leaf.distinguished_name.push(DnType::CommonName, "bitwarden-sdk-server");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();
    let chain = vec![CertificateDer::from(leaf.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), Arc::new(config))
}

type Resp = Response<Full<Bytes>>;

/// Go's `http.Error`: the text and a newline, as text/plain.
fn text(status: u16, message: &str) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .body(Full::new(Bytes::from(format!("{message}\n"))))
        .unwrap()
}

fn ok(body: Value) -> Resp {
    Response::builder().status(200).body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

/// A field of the request object, its name matched as Go's decoder matches it.
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).or_else(|| body.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

fn string(body: &Map<String, Value>, name: &str) -> String {
    field(body, name).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn strings(body: &Map<String, Value>, name: &str) -> Vec<String> {
    field(body, name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

async fn dispatch(shared: Shared, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let path = parts.uri.path().to_string();
    let mut s = shared.lock().unwrap();
    s.log.push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        token: header("warden-access-token"),
        api_url: header("warden-api-url"),
        identity_url: header("warden-identity-url"),
    });
    let Some(route) = path.strip_prefix("/rest/api/1") else { return Ok(text(404, "404 page not found")) };
    let known = matches!(
        (&parts.method, route),
        (&Method::GET, "/secret" | "/secrets" | "/secrets-by-ids") | (&Method::POST | &Method::PUT | &Method::DELETE, "/secret")
    );
    if !known {
        let exists = matches!(route, "/secret" | "/secrets" | "/secrets-by-ids");
        return Ok(if exists { text(405, "") } else { text(404, "404 page not found") });
    }
    // The Warden middleware: a token, and a login with it, before any route.
    let token = header("warden-access-token");
    if token.is_empty() {
        return Ok(text(401, "Missing Warden access token"));
    }
    if !s.tokens.contains(&token) {
        return Ok(text(400, BAD_LOGIN));
    }
    if let Some(f) = s.faults.iter_mut().find(|f| f.3 > 0 && route == f.0) {
        f.3 -= 1;
        return Ok(text(f.1, &f.2.clone()));
    }
    // The handlers' decode: a GET answers a bad body with 500, the writes with 400.
    let parsed: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(_) => return Ok(text(if parts.method == Method::GET { 500 } else { 400 }, "unexpected end of JSON input")),
    };
    Ok(match (parts.method.clone(), route) {
        (Method::GET, "/secret") => match s.find(&string(&parsed, "id")) {
            Some(secret) => ok(secret.clone()),
            None => text(400, &format!("failed to get secret: {NOT_FOUND}")),
        },
        (Method::GET, "/secrets") => {
            let org = string(&parsed, "organizationId");
            let data: Vec<Value> = s
                .secrets
                .iter()
                .filter(|x| x["organizationId"] == org.as_str())
                .map(|x| json!({"id": x["id"], "organizationId": x["organizationId"], "key": x["key"]}))
                .collect();
            ok(json!({"data": data}))
        }
        (Method::GET, "/secrets-by-ids") => {
            let ids = strings(&parsed, "ids");
            let found: Vec<Value> = ids.iter().filter_map(|id| s.find(id).cloned()).collect();
            if found.len() != ids.len() { text(400, &format!("failed to get secrets: {NOT_FOUND}")) } else { ok(json!({"data": found})) }
        }
        (Method::POST, "/secret") => {
            let (key, org) = (string(&parsed, "key"), string(&parsed, "organizationId"));
            if key.is_empty() || org.is_empty() {
                return Ok(text(400, "failed to create secret: Invalid command value: key and organizationId are required"));
            }
            let projects = strings(&parsed, "projectIds");
            let id = s.new_id();
            let secret =
                secret_json(&id, &org, projects.first().map(String::as_str), &key, &string(&parsed, "value"), &string(&parsed, "note"));
            s.secrets.push(secret.clone());
            ok(secret)
        }
        (Method::PUT, "/secret") => {
            let id = string(&parsed, "id");
            let Some(at) = s.secrets.iter().position(|x| x["id"] == id.as_str()) else {
                return Ok(text(400, &format!("failed to update secret: {NOT_FOUND}")));
            };
            let projects = strings(&parsed, "projectIds");
            let secret = secret_json(
                &id,
                &string(&parsed, "organizationId"),
                projects.first().map(String::as_str),
                &string(&parsed, "key"),
                &string(&parsed, "value"),
                &string(&parsed, "note"),
            );
            s.secrets[at] = secret.clone();
            ok(secret)
        }
        (Method::DELETE, "/secret") => {
            let ids = strings(&parsed, "ids");
            if ids.iter().any(|id| s.find(id).is_none()) {
                return Ok(text(400, NOT_FOUND));
            }
            s.secrets.retain(|x| !ids.iter().any(|id| x["id"] == id.as_str()));
            ok(json!({"data": ids.iter().map(|id| json!({"id": id, "error": null})).collect::<Vec<_>>()}))
        }
        _ => unreachable!("routes are matched above"),
    })
}
