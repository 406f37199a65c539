use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{MAX_IDLE_CONNECTIONS, from_config};

/// A server that counts its open connections and the requests in flight, and answers every
/// request once `release` turns true, so a test can hold many requests on the wire at once.
struct HeldServer {
    config: kube::Config,
    open: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

/// Plain HTTP/1.1, or TLS offering only HTTP/2 (as a server that prefers it).
#[derive(Clone, Copy)]
enum Protocol {
    Http1,
    TlsHttp2,
}

impl HeldServer {
    async fn start(protocol: Protocol) -> HeldServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let mut config = match protocol {
            Protocol::Http1 => kube::Config::new(format!("http://{addr}").parse().unwrap()),
            Protocol::TlsHttp2 => kube::Config::new(format!("https://{addr}").parse().unwrap()),
        };
        config.root_cert = Some(vec![cert.cert.der().to_vec()]);
        let tls = {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
            let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
            let mut server = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
                .unwrap();
            server.alpn_protocols = vec![b"h2".to_vec()];
            tokio_rustls::TlsAcceptor::from(Arc::new(server))
        };
        let (open, in_flight) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (release, released) = watch::channel(false);
        let (open_count, flight_count) = (open.clone(), in_flight.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (open, in_flight, released, tls) = (open_count.clone(), flight_count.clone(), released.clone(), tls.clone());
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let answer = hyper::service::service_fn(move |_req| {
                        let (mut released, in_flight) = (released.clone(), in_flight.clone());
                        async move {
                            in_flight.fetch_add(1, Ordering::SeqCst);
                            let _ = released.wait_for(|go| *go).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"{}"))))
                        }
                    });
                    match protocol {
                        Protocol::Http1 => {
                            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), answer).await;
                        }
                        Protocol::TlsHttp2 => {
                            if let Ok(tls) = tls.accept(tcp).await {
                                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                    .serve_connection(TokioIo::new(tls), answer)
                                    .await;
                            }
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        HeldServer { config, open, in_flight, release }
    }

    /// Waits (bounded) until `done` holds for `counter`; returns its last value.
    async fn wait(counter: &AtomicUsize, done: impl Fn(usize) -> bool) -> usize {
        for _ in 0..1000 {
            let now = counter.load(Ordering::SeqCst);
            if done(now) {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        counter.load(Ordering::SeqCst)
    }

    /// Sends `count` requests that the server holds until released.
    fn burst(client: &kube::Client, count: usize) -> Vec<tokio::task::JoinHandle<kube::Result<String>>> {
        (0..count)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { client.request_text(http::Request::get(format!("/burst/{i}")).body(Vec::new()).unwrap()).await })
            })
            .collect()
    }
}

async fn answered(requests: Vec<tokio::task::JoinHandle<kube::Result<String>>>) {
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap(), "{}");
    }
}

#[tokio::test]
async fn over_http1_a_burst_runs_at_full_concurrency_and_keeps_only_a_few_connections_after() {
    let server = HeldServer::start(Protocol::Http1).await;
    let client = from_config(server.config.clone()).unwrap();
    let burst = 4 * MAX_IDLE_CONNECTIONS;
    let requests = HeldServer::burst(&client, burst);
    // Busy connections are not limited: every request of the burst is on the wire at once.
    assert_eq!(HeldServer::wait(&server.open, |open| open >= burst).await, burst);
    server.release.send(true).unwrap();
    answered(requests).await;
    // Idle ones beyond the bound are closed as their request ends,
    let left = HeldServer::wait(&server.open, |open| open <= MAX_IDLE_CONNECTIONS).await;
    assert!(left <= MAX_IDLE_CONNECTIONS, "{left} connections left open after the burst");
    // and the ones kept are reused.
    client.request_text(http::Request::get("/again").body(Vec::new()).unwrap()).await.unwrap();
    assert!(server.open.load(Ordering::SeqCst) <= MAX_IDLE_CONNECTIONS);
}

#[tokio::test]
async fn over_tls_every_request_of_a_burst_shares_one_http2_connection() {
    let server = HeldServer::start(Protocol::TlsHttp2).await;
    let client = from_config(server.config.clone()).unwrap();
    // The first request opens the connection (as `connect` does before the watches start).
    server.release.send(true).unwrap();
    client.request_text(http::Request::get("/version").body(Vec::new()).unwrap()).await.unwrap();
    server.release.send(false).unwrap();
    let burst = 40;
    let requests = HeldServer::burst(&client, burst);
    assert_eq!(HeldServer::wait(&server.in_flight, |n| n >= burst).await, burst, "all in flight at once");
    assert_eq!(server.open.load(Ordering::SeqCst), 1, "one connection carries them all");
    server.release.send(true).unwrap();
    answered(requests).await;
}
