//! A fake Azure Container Registry token service, written from the ACR authentication reference
//! (Azure/acr `docs/AAD-OAuth.md`, and the REST reference "Refresh Tokens - Get From Exchange"
//! and "Access Tokens - Get"): `POST /oauth2/exchange` takes an Entra ID access token for Azure
//! Resource Manager and answers an ACR refresh token; `POST /oauth2/token` takes a refresh token
//! and a scope and answers an access token. The Entra ID tokens it checks are those the Azure
//! fake (providers/azure/tests/fake) issued. Errors are ACR's `{"errors":[{"code","message"}]}`.
use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::fake::entra::{ARM_RESOURCES, random_token};
use crate::fake::{Shared as EntraShared, now, server};

pub const REGISTRY: &str = "sesametest.azurecr.io";
/// ACR refresh tokens live three hours.
const REFRESH_LIFETIME: i64 = 3 * 3600;

/// An access token as issued: for whom, for what scope, and whether the role allows it.
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: String,
    pub scope: String,
    /// ACR issues a token even without the role; its `access` claim is then empty.
    pub granted: bool,
}

#[derive(Default)]
pub struct State {
    /// refresh token → (principal, expiry).
    pub refresh: HashMap<String, (String, i64)>,
    pub access: HashMap<String, Access>,
    /// (principal, repository) pairs with AcrPull.
    pub pull: BTreeSet<(String, String)>,
    /// `METHOD path` of every request.
    pub log: Vec<String>,
}

pub struct FakeAcr {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeAcr {
    pub async fn start(entra: EntraShared) -> FakeAcr {
        let pki = server::pki(&[REGISTRY]);
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shared, config) = (state.clone(), pki.server_config);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (state, entra, config) = (shared.clone(), entra.clone(), config.clone());
                tokio::spawn(async move {
                    let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await else { return };
                    let service = service_fn(move |req| answer(state.clone(), entra.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        FakeAcr { addr, ca_pem: pki.ca_pem, state }
    }

    pub fn allow_pull(&self, principal: &str, repository: &str) {
        self.state.lock().unwrap().pull.insert((principal.into(), repository.into()));
    }
}

type Resp = Response<Full<Bytes>>;

fn reply(status: u16, body: serde_json::Value) -> Result<Resp, Infallible> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap())
}

fn acr_error(status: u16, code: &str, message: &str) -> Result<Resp, Infallible> {
    reply(status, json!({"errors": [{"code": code, "message": message}]}))
}

async fn answer(state: Arc<Mutex<State>>, entra: EntraShared, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let host =
        req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().split(':').next().unwrap_or_default().to_string();
    let form_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()) == Some("application/x-www-form-urlencoded");
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    state.lock().unwrap().log.push(format!("{method} {path}"));
    if host != REGISTRY {
        return acr_error(404, "NAME_UNKNOWN", "registry not found");
    }
    if method != hyper::Method::POST || !form_type {
        return acr_error(405, "UNSUPPORTED", "POST an application/x-www-form-urlencoded body");
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("service") != REGISTRY {
        return acr_error(400, "UNSUPPORTED", "the service parameter must name this registry");
    }
    match path.as_str() {
        "/oauth2/exchange" => {
            if field("grant_type") != "access_token" {
                return acr_error(400, "UNSUPPORTED", "grant_type must be access_token");
            }
            if !form.contains_key("tenant") {
                return acr_error(400, "UNSUPPORTED", "tenant is required");
            }
            // The token must be Entra ID's, current, and for Azure Resource Manager.
            let issued = entra.state.lock().unwrap().tokens.get(field("access_token")).cloned();
            let Some(issued) = issued.filter(|t| t.expires > now()) else {
                return acr_error(401, "UNAUTHORIZED", "the access token is invalid or expired");
            };
            if !ARM_RESOURCES.iter().any(|r| r.trim_end_matches('/') == issued.audience.trim_end_matches('/')) {
                return acr_error(401, "UNAUTHORIZED", "the access token has the wrong audience");
            }
            let token = format!("acr-refresh.{}", random_token());
            state.lock().unwrap().refresh.insert(token.clone(), (issued.principal, now() + REFRESH_LIFETIME));
            reply(200, json!({"refresh_token": token}))
        }
        "/oauth2/token" => {
            if field("grant_type") != "refresh_token" {
                return acr_error(400, "UNSUPPORTED", "grant_type must be refresh_token");
            }
            let scope = field("scope").to_string();
            let Some(repository) = scope.strip_prefix("repository:").and_then(|s| s.split(':').next()).filter(|r| !r.is_empty()) else {
                return acr_error(400, "UNSUPPORTED", "scope must read repository:<name>:<actions>");
            };
            let mut s = state.lock().unwrap();
            let Some((principal, _)) = s.refresh.get(field("refresh_token")).cloned().filter(|(_, exp)| *exp > now()) else {
                return acr_error(401, "UNAUTHORIZED", "the refresh token is invalid or expired");
            };
            let granted = s.pull.contains(&(principal.clone(), repository.to_string()));
            let token = format!("acr-access.{}", random_token());
            s.access.insert(token.clone(), Access { principal, scope, granted });
            reply(200, json!({"access_token": token}))
        }
        _ => acr_error(404, "NOT_FOUND", "no such endpoint"),
    }
}
