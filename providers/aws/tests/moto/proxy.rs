//! A recording, fault-injecting HTTP proxy on 127.0.0.1 in front of moto.
//!
//! Every request the SDK sends through it is recorded with its AWS operation, the access key
//! that signed it, and both bodies; a test can make the next N requests of an operation fail
//! with a given AWS error instead of reaching moto.
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One request that went through the proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `GetSecretValue`, `AssumeRole`, … (from `X-Amz-Target` or the query `Action`).
    pub op: String,
    /// The access key id in the SigV4 `Authorization` header.
    pub access_key: Option<String>,
    /// Whether a session token was sent (`X-Amz-Security-Token`).
    pub session_token: bool,
    /// The request body, form-decoded for STS.
    pub request: String,
    pub response: String,
}

/// An AWS error returned instead of forwarding.
#[derive(Debug, Clone)]
pub struct Fault {
    pub op: &'static str,
    pub status: u16,
    pub code: &'static str,
    /// How many requests fail; `None` for all of them.
    pub times: Option<usize>,
}

#[derive(Default)]
struct State {
    upstream: String,
    log: Mutex<Vec<Exchange>>,
    faults: Mutex<Vec<Fault>>,
}

pub struct Proxy {
    pub url: String,
    state: Arc<State>,
}

impl Proxy {
    /// Start a proxy forwarding to `upstream` (moto), on a free port of 127.0.0.1.
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the test proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State { upstream: upstream.trim_end_matches('/').to_string(), ..Default::default() });
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, client) = (shared.clone(), client.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), client.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Proxy { url, state }
    }

    /// Fail requests of an operation with an AWS error.
    pub fn inject(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }

    /// Every request so far, in order.
    pub fn log(&self) -> Vec<Exchange> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many HTTP requests of `op` went through (retries included).
    pub fn count(&self, op: &str) -> usize {
        self.state.log.lock().unwrap().iter().filter(|e| e.op == op).count()
    }

    pub fn of(&self, op: &str) -> Vec<Exchange> {
        self.log().into_iter().filter(|e| e.op == op).collect()
    }
}

type Upstream = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn handle(state: Arc<State>, client: Upstream, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string);
    let json = target.is_some();
    let request = if json { String::from_utf8_lossy(&body).into_owned() } else { form_decode(&body) };
    let op = match &target {
        Some(t) => t.rsplit('.').next().unwrap_or_default().to_string(),
        None => request.split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or("?").to_string(),
    };
    let access_key = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .map(str::to_string);
    let session_token = parts.headers.contains_key("x-amz-security-token");

    let fault = {
        let mut faults = state.faults.lock().unwrap();
        let found = faults.iter_mut().find(|f| f.op == op && f.times != Some(0));
        found.map(|f| {
            if let Some(n) = f.times.as_mut() {
                *n -= 1;
            }
            f.clone()
        })
    };
    let (status, headers, response) = match fault {
        Some(f) => fault_response(&f, json),
        None => {
            let uri = format!("{}{}", state.upstream, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
            let mut forward = Request::builder().method(parts.method.clone()).uri(uri);
            for (name, value) in &parts.headers {
                forward = forward.header(name, value);
            }
            match client.request(forward.body(Full::new(body.clone())).unwrap()).await {
                Ok(resp) => {
                    let (p, b) = resp.into_parts();
                    let bytes = b.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    (p.status.as_u16(), p.headers, bytes)
                }
                Err(e) => panic!("the test proxy could not reach moto at {}: {e}", state.upstream),
            }
        }
    };
    state.log.lock().unwrap().push(Exchange {
        op,
        access_key,
        session_token,
        request,
        response: String::from_utf8_lossy(&response).into_owned(),
    });
    let mut out = Response::builder().status(status);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "transfer-encoding" | "connection" | "content-length") {
            out = out.header(name, value);
        }
    }
    Ok(out.body(Full::new(response)).unwrap())
}

fn fault_response(f: &Fault, json: bool) -> (u16, hyper::HeaderMap, Bytes) {
    let mut headers = hyper::HeaderMap::new();
    let message = format!("injected by the test proxy: {}", f.code);
    let body = if json {
        headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        headers.insert("x-amzn-errortype", f.code.parse().unwrap());
        serde_json::json!({"__type": f.code, "message": message}).to_string()
    } else {
        headers.insert("content-type", "text/xml".parse().unwrap());
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>",
            f.code
        )
    };
    (f.status, headers, Bytes::from(body))
}

/// `a=b%2Fc&d=e` → `a=b/c&d=e` (values only; good enough to read STS requests).
fn form_decode(body: &[u8]) -> String {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < body.len() => {
                let hex = std::str::from_utf8(&body[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `Tags.member.N.Key` / `.Value` pairs of a form-decoded STS request, sorted by key.
pub fn sent_tags(request: &str) -> Vec<(String, String)> {
    let field = |n: usize, part: &str| {
        let prefix = format!("Tags.member.{n}.{part}=");
        request.split('&').find_map(|kv| kv.strip_prefix(prefix.as_str())).map(str::to_string)
    };
    let mut tags: Vec<(String, String)> =
        (1..=50).map_while(|n| field(n, "Key").map(|k| (k, field(n, "Value").unwrap_or_default()))).collect();
    tags.sort();
    tags
}
