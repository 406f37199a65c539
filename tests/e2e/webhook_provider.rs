//! The Webhook provider against a local HTTP and HTTPS server started by the test: templated URL
//! and headers, a store `secrets[]` value in a header, `result.jsonPath`, a hostile remote key
//! that stays inside its path segment, an answer over the 1 MiB limit refused, and 404 as not
//! found (the Secret kept, Ready=False); a `secrets[]` entry without a key exposes every key of its
//! Secret, and `.remoteRef.property` is URL template data, as in ESO. As in ESO, every Secret of
//! `secrets[]` must be labelled `external-secrets.io/type: webhook`.
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kube::api::{Patch, PatchParams};
use rcgen::{CertificateParams, KeyPair};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto::aws_lc_rs};

use crate::harness::*;

/// The paths the server was asked for, as received (still escaped).
pub(crate) type Seen = Arc<Mutex<Vec<String>>>;

async fn answer(seen: Seen, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    seen.lock().unwrap().push(req.uri().to_string());
    let authorized = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer hook-token");
    let respond = |status: u16, body: Vec<u8>| Ok(Response::builder().status(status).body(Full::new(Bytes::from(body))).unwrap());
    if !authorized {
        return respond(401, b"{}".to_vec());
    }
    let Some(raw) = path.strip_prefix("/secrets/") else { return respond(404, Vec::new()) };
    // The path segment as the server's router would decode it.
    let key: String = url::form_urlencoded::parse(format!("k={raw}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default();
    match key.as_str() {
        "missing" => respond(404, Vec::new()),
        "big" => respond(200, format!("{{\"data\":{{\"value\":\"{}\"}}}}", "x".repeat(2 * 1024 * 1024)).into_bytes()),
        _ => respond(200, json!({"data": {"value": format!("value-of-{key}")}, "n": 3}).to_string().into_bytes()),
    }
}

pub(crate) async fn serve(seen: Seen, tls: Option<Arc<ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (seen, tls) = (seen.clone(), tls.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(seen.clone(), req));
                match tls {
                    Some(config) => {
                        if let Ok(stream) = TlsAcceptor::from(config).accept(tcp).await {
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                    None => {
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    addr
}

/// A self-signed certificate for 127.0.0.1: (PEM to trust, server config).
pub(crate) fn tls() -> (String, Arc<ServerConfig>) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().self_signed(&key).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], der)
        .unwrap();
    (cert.pem(), Arc::new(config))
}

fn store(base: &str, ca: Option<&str>) -> serde_json::Value {
    let mut hook = json!({
        "url": format!("{base}/secrets/{{{{ .remoteRef.key }}}}"),
        "headers": {"Authorization": "Bearer {{ .creds.token }}"},
        "result": {"jsonPath": "$.data.value"},
        "timeout": "10s",
        "secrets": [{"name": "creds", "secretRef": {"name": "hook-creds", "key": "token"}}],
    });
    if let Some(ca) = ca {
        hook["caBundle"] = base64::engine::general_purpose::STANDARD.encode(ca).into();
    }
    json!({"webhook": hook})
}

#[tokio::test]
async fn a_webhook_store_reads_json_values_over_http_and_https_within_its_limits() {
    let scene = Scene::new("e2e-webhook").await;
    let seen: Seen = Arc::default();
    let http = serve(seen.clone(), None).await;
    let (ca, config) = tls();
    let https = serve(seen.clone(), Some(config)).await;
    scene.plain_secret("hook-creds", &[("token", "hook-token")]).await;
    scene.plain_secret("raw-creds", &[("token", "raw-token")]).await;
    let labelled = json!({"metadata": {"labels": {"external-secrets.io/type": "webhook"}}});
    scene.secrets().patch("hook-creds", &PatchParams::default(), &Patch::Merge(&labelled)).await.unwrap();
    let mut unlabelled = store(&format!("http://{http}"), None);
    unlabelled["webhook"]["secrets"][0]["secretRef"]["name"] = "raw-creds".into();
    scene.store("unlabelled", unlabelled).await;
    scene.store("plain", store(&format!("http://{http}"), None)).await;
    scene.store("tls", store(&format!("https://{https}"), Some(&ca))).await;
    let mut whole = store(&format!("http://{http}"), None);
    whole["webhook"]["url"] = format!("http://{http}/secrets/{{{{ .remoteRef.key }}}}-{{{{ .remoteRef.property }}}}").into();
    whole["webhook"]["secrets"] = json!([{"name": "creds", "secretRef": {"name": "hook-creds"}}]);
    scene.store("whole", whole).await;
    let sesame = scene.sesame();

    let one = |store: &str, key: &str| json!({"secretStoreRef": {"name": store}, "data": [{"secretKey": "v", "remoteRef": {"key": key}}]});
    scene.external_secret("plain", one("plain", "db")).await;
    scene.external_secret("tls", one("tls", "api")).await;
    wait_secret_data(&scene, &sesame, "plain", &map(&[("v", "value-of-db")])).await;
    wait_secret_data(&scene, &sesame, "tls", &map(&[("v", "value-of-api")])).await;

    // No `secretRef.key`: `.creds.token` is one of the Secret's keys. The property reaches the URL
    // (escaped) and selects nothing in the answer.
    let with_property =
        json!({"secretStoreRef": {"name": "whole"}, "data": [{"secretKey": "v", "remoteRef": {"key": "db", "property": "p q"}}]});
    scene.external_secret("property", with_property).await;
    wait_secret_data(&scene, &sesame, "property", &map(&[("v", "value-of-db-p q")])).await;
    assert!(seen.lock().unwrap().iter().any(|p| p == "/secrets/db-p+q"), "{:?}", seen.lock().unwrap());

    // A key that tries to leave its path segment is URL-escaped into it, as ESO does.
    let hostile = "../admin?x=1#@evil.example";
    scene.external_secret("hostile", one("plain", hostile)).await;
    wait_secret_data(&scene, &sesame, "hostile", &map(&[("v", &format!("value-of-{hostile}"))])).await;
    assert!(
        seen.lock().unwrap().iter().any(|p| p == "/secrets/..%2Fadmin%3Fx%3D1%23%40evil.example"),
        "the server saw the escaped key: {:?}",
        seen.lock().unwrap()
    );

    scene.external_secret("big", one("plain", "big")).await;
    let es = scene.wait_ready(&sesame, "big", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("larger than 1048576 bytes"), "{message}");

    scene.external_secret("missing", one("plain", "missing")).await;
    let es = scene.wait_ready(&sesame, "missing", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("404"), "{:?}", ready_condition(&es));
    assert!(scene.secret("missing").await.is_none());

    // A Secret without the label: refused by name before it is read or any request is sent.
    scene.external_secret("unlabelled", one("unlabelled", "never-sent")).await;
    let es = scene.wait_ready(&sesame, "unlabelled", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(message.contains("Secret raw-creds lacks the label external-secrets.io/type: webhook"), "{message}");
    assert!(scene.secret("unlabelled").await.is_none());
    assert!(!seen.lock().unwrap().iter().any(|p| p.contains("never-sent")), "no request for a store whose Secret is unlabelled");
    assert!(!sesame.logs().contains("hook-token"), "the templated credential stays out of the logs");
    assert!(!message.contains("raw-token") && !sesame.logs().contains("raw-token"));
    scene.delete_namespace().await;
}
