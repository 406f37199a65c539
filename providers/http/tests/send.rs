//! `send` against a local server: bodies are capped while streaming, headers and statuses come
//! back for the provider to judge, and an unreachable server is a transient error.
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use sesame_provider_http::{ClientOptions, send};

async fn serve() -> String {
    let app = Router::new()
        .route("/small", get(|| async { (StatusCode::OK, "hello") }))
        .route("/big", get(|| async { "x".repeat(10_000) }))
        .route(
            "/busy",
            get(|| async {
                let mut h = HeaderMap::new();
                h.insert("retry-after", "4".parse().unwrap());
                (StatusCode::TOO_MANY_REQUESTS, h, r#"{"message":"slow down"}"#)
            }),
        )
        .route("/moved", get(|| async { (StatusCode::FOUND, [("location", "/small")], "") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client(base: &str) -> reqwest::Client {
    ClientOptions::for_url(&base.parse().unwrap()).build("test").unwrap()
}

#[tokio::test]
async fn answers_are_read_whole_within_the_cap_and_refused_beyond_it() {
    let base = serve().await;
    let http = client(&base);
    let ok = send("Test", "GET /small", http.get(format!("{base}/small")), 100).await.unwrap().success("GET /small", &[]).unwrap();
    assert_eq!(ok.body, b"hello");
    let err = send("Test", "GET /big", http.get(format!("{base}/big")), 1000).await.unwrap_err();
    assert_eq!(err.kind(), "invalid");
    assert!(err.to_string().contains("larger than 1000 bytes"), "{err}");
}

#[tokio::test]
async fn a_throttled_answer_carries_retry_after_and_redirects_are_not_followed() {
    let base = serve().await;
    let http = client(&base);
    let busy = send("Test", "GET /busy", http.get(format!("{base}/busy")), 100).await.unwrap();
    let err = busy.success("GET /busy", &["message"]).unwrap_err();
    assert_eq!(
        err,
        sesame_provider_core::ProviderError::Throttled {
            message: "GET /busy: HTTP 429 slow down".into(),
            retry_after: Some(std::time::Duration::from_secs(4)),
        }
    );
    let moved = send("Test", "GET /moved", http.get(format!("{base}/moved")), 100).await.unwrap();
    assert_eq!(moved.status, 302);
    assert_eq!(moved.header("location"), Some("/small"));
}

#[tokio::test]
async fn an_unreachable_server_is_transient_and_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = send("Test", "GET /x", client(&base).get(format!("{base}/x")), 100).await.unwrap_err();
    assert_eq!(err.kind(), "transient");
    assert!(err.to_string().contains("cannot reach Test"), "{err}");
}
