use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use sesame_testsupport::eventually;
use tokio::sync::watch;

use super::{MAX_IDLE_CONNECTIONS, from_config};

/// An HTTP/1.1 server that counts its open connections and answers every request once `release`
/// turns true, so a test can hold many requests in flight at once.
struct HeldServer {
    url: String,
    open: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

impl HeldServer {
    async fn start() -> HeldServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let open = Arc::new(AtomicUsize::new(0));
        let (release, released) = watch::channel(false);
        let counter = open.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (open, released) = (counter.clone(), released.clone());
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let answer = hyper::service::service_fn(move |_req| {
                        let mut released = released.clone();
                        async move {
                            let _ = released.wait_for(|go| *go).await;
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"{}"))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), answer).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        HeldServer { url, open, release }
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// The open-connection count once `done` holds for it (the project's `eventually` poll).
    async fn wait_open(&self, what: &str, done: impl Fn(usize) -> bool) -> usize {
        eventually(what, Duration::from_secs(10), || async { Some(self.open()).filter(|open| done(*open)) }).await
    }
}

#[tokio::test]
async fn a_burst_runs_at_full_concurrency_and_keeps_only_a_few_connections_after() {
    let server = HeldServer::start().await;
    let client = from_config(kube::Config::new(server.url.parse().unwrap())).unwrap();
    let burst = 4 * MAX_IDLE_CONNECTIONS;
    let requests: Vec<_> = (0..burst)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.request_text(http::Request::get(format!("/burst/{i}")).body(Vec::new()).unwrap()).await })
        })
        .collect();
    // Busy connections are not limited: every request of the burst is on the wire at once.
    assert_eq!(server.wait_open("every request of the burst on its own connection", |open| open >= burst).await, burst);
    server.release.send(true).unwrap();
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap(), "{}");
    }
    // Idle ones beyond the bound are closed as their request ends.
    let left = server.wait_open("the idle connections beyond the bound closed", |open| open <= MAX_IDLE_CONNECTIONS).await;
    assert!(left <= MAX_IDLE_CONNECTIONS, "{left} connections left open after the burst");
    // and the ones kept are reused.
    client.request_text(http::Request::get("/again").body(Vec::new()).unwrap()).await.unwrap();
    assert!(server.open() <= MAX_IDLE_CONNECTIONS);
}
