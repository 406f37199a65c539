//! A fault-injection proxy on 127.0.0.1 for the fault tests: TCP level (so it sits in front of
//! the TLS kube-apiserver unchanged) with an HTTP mode for plain-HTTP upstreams (moto, OpenBao).
//!
//! Modes apply to new connections; [`Proxy::reset_all`] cuts the live ones (RST to both sides),
//! which is what a load-balancer failover or an apiserver restart looks like to a watch.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What happens to a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Pass,
    /// Accept, then close at once without a byte (the peer sees EOF).
    Drop,
    /// Accept and never answer (a hung server or a black-holed route).
    Blackhole,
    /// Forward, after waiting this long before connecting upstream.
    Delay(Duration),
    /// Accept, then reset (RST).
    Reset,
    /// Read one HTTP/1.1 request and answer it with this status (5xx, 429) without forwarding.
    Status(u16),
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    faults: AtomicU64,
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    counters: Arc<Counters>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listen on a free loopback port and forward to `upstream` (a loopback address).
    pub async fn start(upstream: SocketAddr) -> Proxy {
        assert!(upstream.ip().is_loopback(), "the fault proxy only forwards to loopback, not {upstream}");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fault proxy");
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let counters = Arc::new(Counters::default());
        let (cut, _) = watch::channel(0u64);
        let task = {
            let (mode, counters, cut) = (mode.clone(), counters.clone(), cut.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    let current = *mode.lock().unwrap();
                    if current != Mode::Pass {
                        counters.faults.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::spawn(serve(client, upstream, current, cut.subscribe()));
                }
            })
        };
        Proxy { addr, mode, counters, cut, task }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Reset every live connection; returns how many generations of cuts so far.
    pub fn reset_all(&self) -> u64 {
        self.counters.faults.fetch_add(1, Ordering::Relaxed);
        self.cut.send_modify(|g| *g += 1);
        *self.cut.borrow()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Faults injected so far: connections served in a non-pass mode, plus each `reset_all`.
    pub fn faults(&self) -> u64 {
        self.counters.faults.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut.send_modify(|g| *g += 1);
    }
}

#[allow(deprecated)] // set_linger(0) never blocks: it turns close into an immediate RST
fn rst(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mode: Mode, mut cut: watch::Receiver<u64>) {
    let _ = client.set_nodelay(true);
    match mode {
        Mode::Drop => return,
        Mode::Reset => return rst(&client),
        Mode::Blackhole => {
            let _ = cut.changed().await;
            return rst(&client);
        }
        Mode::Status(code) => return answer(client, code).await,
        Mode::Delay(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = cut.changed() => return rst(&client),
            }
        }
        Mode::Pass => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else { return rst(&client) };
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.changed() => {
            rst(&client);
            rst(&server);
        }
    }
}

/// Answer one plain HTTP/1.1 request with `code`, as a throttling or failing server does.
async fn answer(mut client: TcpStream, code: u16) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    // Read the request head (bodies are ignored: the connection closes after the answer).
    while got < buf.len() {
        match tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf[got..])).await {
            Ok(Ok(n)) if n > 0 => got += n,
            _ => break,
        }
        if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let reason = match code {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Fault",
    };
    let body = format!("{{\"__type\":\"ThrottlingException\",\"message\":\"injected {code}\",\"errors\":[\"injected {code}\"]}}");
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}
