//! The fake's network side: a test CA made fresh for every fake, an HTTPS listener (vault and
//! Entra ID, told apart by the Host header) and a plain-HTTP listener (IMDS, reached as a proxy).
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto::aws_lc_rs};

use super::{Shared, entra, imds, vault};

/// A request as the fake's handlers see it: body read, nothing else changed.
pub struct Req {
    pub method: hyper::Method,
    pub host: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// For IMDS, reached as a proxy: the authority of the absolute-form request target.
    pub target_authority: Option<String>,
}

impl Req {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub type Resp = Response<Full<Bytes>>;

/// A test CA and a server certificate for the given names, signed by it.
pub struct Pki {
    pub ca_pem: String,
    pub server_config: Arc<ServerConfig>,
}

pub fn pki(names: &[&str]) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "Sesame test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, names[0]);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();
    let chain = vec![CertificateDer::from(leaf.der().to_vec()), CertificateDer::from(ca.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Pki { ca_pem: ca.pem(), server_config: Arc::new(config) }
}

/// Serve HTTPS on a loopback port until the test's runtime ends.
pub async fn serve_https(shared: Shared, config: Arc<ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req| dispatch(shared.clone(), req, false));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    addr
}

/// Serve plain HTTP (the IMDS proxy target) on a loopback port.
pub async fn serve_http(shared: Shared) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| dispatch(shared.clone(), req, true));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    });
    addr
}

async fn dispatch(shared: Shared, req: Request<Incoming>, plain: bool) -> Result<Resp, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let req = Req {
        method: parts.method,
        host,
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers,
        body,
        target_authority: parts.uri.authority().map(|a| a.to_string()),
    };
    let resp = if plain {
        imds::handle(&shared, &req)
    } else if req.host == shared.vault_host {
        vault::handle(&shared, &req)
    } else if shared.login_hosts.contains(&req.host) {
        entra::handle(&shared, &req)
    } else {
        json(421, serde_json::json!({"error": {"code": "MisdirectedRequest", "message": "unknown host"}}))
    };
    shared.log(&req, resp.status().as_u16());
    Ok(resp)
}

pub fn json(status: u16, body: serde_json::Value) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}
