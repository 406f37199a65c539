//! The fault proxy itself, against a local echo server (no test environment needed): each mode
//! does what the fault tests rely on.
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::proxy::{Mode, Proxy};

async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Send `ping`, read what comes back within 2 s: Ok(bytes) or the I/O error.
async fn ping(proxy: &Proxy) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(proxy.addr).await?;
    s.write_all(b"ping").await?;
    let mut buf = vec![0u8; 256];
    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
        Ok(Ok(n)) => Ok(buf[..n].to_vec()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer")),
    }
}

#[tokio::test]
async fn the_fault_proxy_passes_drops_resets_delays_blackholes_and_answers_status() {
    let proxy = Proxy::start(echo_server().await).await;
    assert_eq!(ping(&proxy).await.unwrap(), b"ping");

    proxy.set(Mode::Drop);
    assert_eq!(ping(&proxy).await.map(|b| b.len()).unwrap_or(0), 0, "Drop closes without a byte");

    proxy.set(Mode::Reset);
    assert!(ping(&proxy).await.map(|b| b.is_empty()).unwrap_or(true), "Reset answers nothing");

    proxy.set(Mode::Blackhole);
    let e = ping(&proxy).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "Blackhole never answers: {e}");

    proxy.set(Mode::Delay(Duration::from_millis(500)));
    let started = Instant::now();
    assert_eq!(ping(&proxy).await.unwrap(), b"ping");
    assert!(started.elapsed() >= Duration::from_millis(500));

    proxy.set(Mode::Status(503));
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");

    // A live connection is cut by reset_all.
    proxy.set(Mode::Pass);
    let mut live = TcpStream::connect(proxy.addr).await.unwrap();
    live.write_all(b"a").await.unwrap();
    let mut one = [0u8; 1];
    live.read_exact(&mut one).await.unwrap();
    proxy.reset_all();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut buf = [0u8; 8];
    let after = match live.write_all(b"b").await {
        Ok(()) => live.read(&mut buf).await,
        Err(e) => Err(e),
    };
    assert!(matches!(after, Ok(0) | Err(_)), "the live connection survived reset_all: {after:?}");
    assert!(proxy.connections() >= 7 && proxy.faults() >= 6, "counters: {} {}", proxy.connections(), proxy.faults());
}
