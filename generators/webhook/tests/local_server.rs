//! The Webhook generator against a local HTTP and HTTPS server: the templated request reaches the
//! server with the generator's credential, the answer's object becomes the output map, the CA comes
//! from `caBundle` or `caProvider`, and what the server refuses or overfills is an error that
//! never shows a value.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, KeyPair};
use serde_json::json;
use sesame_generator_core::{Generator, GeneratorContext, GeneratorError, ProviderContext};
use sesame_generator_webhook::{TYPE_LABEL, Webhook, WebhookSpec};
use sesame_provider_core::{CaProvider, CredentialSource, NoCalls, SecretKeySelector, SecretValue, ServiceAccountSelector};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto::aws_lc_rs};

/// What the server received: method, path and query, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

async fn answer(seen: Seen, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (method, uri) = (req.method().to_string(), req.uri().to_string());
    let authorized = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer s3cr3t-token");
    let body = String::from_utf8_lossy(&req.into_body().collect().await.unwrap().to_bytes()).into_owned();
    seen.lock().unwrap().push((method, uri.clone(), body));
    let respond = |status: u16, body: String| Ok(Response::builder().status(status).body(Full::new(Bytes::from(body))).unwrap());
    if !authorized {
        return respond(401, "{}".into());
    }
    match uri.split('?').next().unwrap_or_default() {
        "/token" => respond(200, json!({"issued": {"token": "gen-abc", "ttl": 3600, "scopes": ["read"]}, "other": 1}).to_string()),
        "/flat" => respond(200, json!({"user": "u1", "pass": "p1"}).to_string()),
        "/big" => respond(200, format!("{{\"v\":\"{}\"}}", "x".repeat(2 * 1024 * 1024))),
        "/redirect" => Ok(Response::builder().status(302).header("location", "http://127.0.0.1:1/flat").body(Full::default()).unwrap()),
        _ => respond(404, String::new()),
    }
}

async fn serve(seen: Seen, tls: Option<Arc<ServerConfig>>) -> SocketAddr {
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
fn tls() -> (String, Arc<ServerConfig>) {
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

/// Secret keys (`name/key`), Secret labels and one CA bundle, as the controller's credential
/// source serves them.
#[derive(Default)]
struct Creds {
    secrets: BTreeMap<String, Vec<u8>>,
    labels: BTreeMap<String, BTreeMap<String, String>>,
    ca: Option<String>,
}

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, selector: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, GeneratorError> {
        assert_eq!(selector.namespace, None, "a generator's Secret is always in its own namespace");
        let name = format!("{}/{}", selector.name, selector.key.as_deref().unwrap_or_default());
        self.secrets.get(&name).map(|v| SecretValue::from(v.clone())).ok_or_else(|| GeneratorError::NotFound(format!("secret {name}")))
    }
    async fn secret_labels(&self, selector: &SecretKeySelector) -> Result<BTreeMap<String, String>, GeneratorError> {
        let prefix = format!("{}/", selector.name);
        if !self.secrets.keys().any(|k| k.starts_with(&prefix)) {
            return Err(GeneratorError::NotFound(format!("secret {prefix}")));
        }
        Ok(self.labels.get(&selector.name).cloned().unwrap_or_default())
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, GeneratorError> {
        Err(GeneratorError::NotFound("service account".into()))
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, GeneratorError> {
        Err(GeneratorError::NotFound("service account".into()))
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, GeneratorError> {
        self.ca.clone().map(String::into_bytes).ok_or_else(|| GeneratorError::NotFound("ca".into()))
    }
}

/// The Secret `api` labelled `external-secrets.io/type: <value>`.
fn labelled(value: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    BTreeMap::from([("api".to_string(), BTreeMap::from([(TYPE_LABEL.0.to_string(), value.to_string())]))])
}

fn ctx(ca: Option<String>) -> GeneratorContext {
    let secrets = BTreeMap::from([("api/token".to_string(), b"s3cr3t-token".to_vec()), ("api/team".to_string(), b"a b&c".to_vec())]);
    GeneratorContext {
        namespace: "tenant".into(),
        provider: ProviderContext { credentials: Arc::new(Creds { secrets, labels: labelled("webhook"), ca }), calls: Arc::new(NoCalls) },
    }
}

fn generator(base: &str, path: &str, extra: serde_json::Value) -> Webhook {
    let mut spec = json!({
        "url": format!("{base}{path}?team={{{{ .creds.team }}}}"),
        "headers": {"Authorization": "Bearer {{ .creds.token }}"},
        "result": {},
        "timeout": "10s",
        "secrets": [
            {"name": "creds", "secretRef": {"name": "api", "key": "token"}},
            {"name": "creds", "secretRef": {"name": "api", "key": "team"}},
        ],
    });
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    Webhook::new(serde_json::from_value::<WebhookSpec>(spec).unwrap()).unwrap()
}

fn text(data: &BTreeMap<String, Vec<u8>>) -> BTreeMap<&str, &str> {
    data.iter().map(|(k, v)| (k.as_str(), std::str::from_utf8(v).unwrap())).collect()
}

#[tokio::test]
async fn the_answer_becomes_the_output_map_over_http_and_https() {
    let seen: Seen = Arc::default();
    let http = format!("http://{}", serve(seen.clone(), None).await);
    let (ca, config) = tls();
    let https = format!("https://{}", serve(seen.clone(), Some(config)).await);

    // The whole answer, over plain HTTP: one key per member.
    let flat = generator(&http, "/flat", json!({})).generate(&ctx(None)).await.unwrap();
    assert_eq!(text(&flat.data), BTreeMap::from([("pass", "p1"), ("user", "u1")]));
    assert_eq!(flat.state, None, "nothing remote to clean up");

    // The object the JSON path picks, over HTTPS trusted through caBundle, with a templated body.
    let bundle = base64::engine::general_purpose::STANDARD.encode(&ca);
    let extra =
        json!({"method": "POST", "body": "{\"team\":\"{{ .creds.team }}\"}", "result": {"jsonPath": "$.issued"}, "caBundle": bundle});
    let issued = generator(&https, "/token", extra).generate(&ctx(None)).await.unwrap();
    assert_eq!(text(&issued.data), BTreeMap::from([("scopes", "[\"read\"]"), ("token", "gen-abc"), ("ttl", "3600")]));
    // ...and through caProvider, read at generation time.
    let extra = json!({"result": {"jsonPath": "$.issued"}, "caProvider": {"type": "ConfigMap", "name": "ca", "key": "ca.crt"}});
    let again = generator(&https, "/token", extra).generate(&ctx(Some(ca))).await.unwrap();
    assert_eq!(again.data, issued.data);

    let seen = seen.lock().unwrap().clone();
    // As in ESO, `secrets[]` values enter the URL unescaped (only a store's remoteRef is escaped);
    // the HTTP client still percent-encodes what cannot stand in a URL.
    assert!(seen.contains(&("GET".into(), "/flat?team=a%20b&c".into(), String::new())), "{seen:?}");
    assert!(seen.contains(&("POST".into(), "/token?team=a%20b&c".into(), r#"{"team":"a b&c"}"#.into())), "{seen:?}");
}

#[tokio::test]
async fn refusals_are_errors_that_never_show_a_value() {
    let seen: Seen = Arc::default();
    let http = format!("http://{}", serve(seen.clone(), None).await);
    let (_, config) = tls();
    let https = format!("https://{}", serve(seen.clone(), Some(config)).await);
    let err = |e: GeneratorError| {
        let text = e.to_string();
        assert!(!text.contains("s3cr3t-token") && !text.contains("gen-abc"), "{text}");
        e
    };

    let missing = err(generator(&http, "/nope", json!({})).generate(&ctx(None)).await.unwrap_err());
    assert!(missing.is_not_found(), "{missing}");
    let big = err(generator(&http, "/big", json!({})).generate(&ctx(None)).await.unwrap_err());
    assert!(big.to_string().contains("larger than 1048576 bytes"), "{big}");
    let redirect = err(generator(&http, "/redirect", json!({})).generate(&ctx(None)).await.unwrap_err());
    assert!(matches!(redirect, GeneratorError::Invalid(ref m) if m.contains("302")), "redirects are not followed: {redirect}");
    let not_object =
        err(generator(&http, "/token", json!({"result": {"jsonPath": "$.issued.token"}})).generate(&ctx(None)).await.unwrap_err());
    assert!(not_object.to_string().contains("failed to parse response json from jsonpath"), "{not_object}");
    // A server the generator does not trust (no CA given): the TLS handshake fails.
    let untrusted = err(generator(&https, "/flat", json!({})).generate(&ctx(None)).await.unwrap_err());
    assert!(matches!(untrusted, GeneratorError::Transient(_)), "{untrusted}");
    // A missing credential names the Secret, and no request is sent.
    let before = seen.lock().unwrap().len();
    let mut creds = ctx(None);
    creds.provider.credentials = Arc::new(Creds::default());
    let no_creds = err(generator(&http, "/flat", json!({})).generate(&creds).await.unwrap_err());
    assert!(no_creds.to_string().contains("secret api/"), "{no_creds}");
    assert_eq!(seen.lock().unwrap().len(), before);
}

#[tokio::test]
async fn a_secret_without_the_webhook_type_label_is_refused_before_any_value_is_read_or_sent() {
    let seen: Seen = Arc::default();
    let http = format!("http://{}", serve(seen.clone(), None).await);
    let secrets = BTreeMap::from([("api/token".to_string(), b"s3cr3t-token".to_vec()), ("api/team".to_string(), b"a".to_vec())]);
    for (labels, why) in [
        (BTreeMap::new(), "Secret api lacks the label external-secrets.io/type: webhook"),
        (labelled("other"), "Secret api is labelled external-secrets.io/type but not with \"webhook\""),
    ] {
        let creds = Creds { secrets: secrets.clone(), labels, ca: None };
        let ctx = GeneratorContext {
            namespace: "tenant".into(),
            provider: ProviderContext { credentials: Arc::new(creds), calls: Arc::new(NoCalls) },
        };
        let err = generator(&http, "/flat", json!({})).generate(&ctx).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, GeneratorError::Invalid(_)) && text.contains(why) && text.contains("secrets[creds]"), "{text}");
        assert!(!text.contains("s3cr3t-token"), "{text}");
    }
    assert!(seen.lock().unwrap().is_empty(), "no request without the label");
}
