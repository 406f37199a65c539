//! The client the controller talks to the apiserver with: kube's own middleware (base URI,
//! server-error retries, auth, impersonation headers, connect/read/write timeouts) over a
//! connection pool that is bounded.
//!
//! kube's default pool keeps every connection it ever opened. HTTP/1.1 carries one request at a
//! time, so a first sync of thousands of objects at `--concurrency 64` opens well over a hundred
//! connections, and each idle one keeps its read buffer (grown up to ~400 kB by list pages) and
//! dispatch queue for the life of the process: ≈ 7 MB in a heap profile at N = 3,000, half of
//! everything else live. Here an idle connection beyond a few is closed, idle ones expire, and a
//! connection's buffers stay small (watch events and responses are streamed through them).
//!
//! Not HTTP/2 (one connection for everything, as client-go): tried (28b8574) and measured at
//! N = 10,000, it cost ~300 watch restarts during a first sync, a slower first sync and twice the
//! idle CPU for 1 MiB (BENCHMARKS.md, *Memory, fourth cut*).

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{ClientBuilder, ConfigExt as _, retry::RetryPolicy};
use tower::{BoxError, ServiceBuilder, retry::RetryLayer};

/// Idle connections kept for reuse. Busy ones are not limited: a burst still runs at full
/// concurrency, and what it opened beyond this is closed as each request ends.
pub const MAX_IDLE_CONNECTIONS: usize = 8;
/// An idle connection is closed after this (kube's and Go's net/http default).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// A connection's read and write buffers grow to at most this (hyper's default is ~400 kB).
/// Bodies stream through the buffer, so it bounds only response headers, which are small.
pub const MAX_BUFFER: usize = 64 * 1024;

/// The client for the environment's configuration (in-cluster or kubeconfig).
pub async fn connect() -> anyhow::Result<kube::Client> {
    let config = kube::Config::infer().await?;
    Ok(from_config(config)?)
}

/// kube's stack with a bounded pool. A proxy or a client certificate from an exec plugin (which
/// kube's own builder handles, with the certificate's expiry) keeps kube's default client.
pub fn from_config(config: kube::Config) -> kube::Result<kube::Client> {
    if config.proxy_url.is_some() || config.auth_info.exec.is_some() {
        return kube::Client::try_from(config);
    }
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Only fails when another thread installed one first, which is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let mut connector = hyper_timeout::TimeoutConnector::new(config.rustls_https_connector_with_connector(http)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let pool: hyper_util::client::legacy::Client<_, kube::client::Body> = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
        .pool_idle_timeout(IDLE_TIMEOUT)
        // Without a timer hyper never expires an idle connection.
        .pool_timer(TokioTimer::new())
        .http1_max_buf_size(MAX_BUFFER)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| RetryLayer::new(RetryPolicy::server_retry())))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(pool);
    Ok(ClientBuilder::new(service, config.default_namespace).build())
}

#[cfg(test)]
#[path = "apiserver_client_tests.rs"]
mod tests;
