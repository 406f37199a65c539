//! The `sesame` process under test: located, started on one namespace, scraped, restarted.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `sesame run`; killed when dropped.
pub struct Sesame {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

/// Where a sibling binary of the running executable lives: `target/<profile>/sesame` next to
/// `target/<profile>/sesame-bench`, or one level up from `target/<profile>/deps/<test>`.
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join(name), dir.parent()?.join(name)].into_iter().find(|p| p.is_file())
}

/// Build the release `sesame` (a no-op when fresh) and return its path. `cargo run` has released
/// the build lock by the time the harness runs.
pub fn build_release() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "sesame", "--bin", "sesame"])
        .status()
        .context("running cargo build for the sesame binary")?;
    if !status.success() {
        bail!("cargo build --release -p sesame failed");
    }
    sibling_binary("sesame").context("target/release/sesame not found next to the harness")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

impl Sesame {
    /// `sesame run` for one namespace and controller class, as an operator runs it (default
    /// concurrency, coalescing window and log level), leader election off.
    pub fn start(binary: &Path, namespace: &str, class: &str, args: &[String], vars: &[(&str, String)]) -> anyhow::Result<Sesame> {
        let env = sesame_testsupport::env();
        let port = free_port();
        let dir = std::env::temp_dir().join("sesame-bench");
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(format!("{namespace}-{port}.log"));
        // File-backed RSS depends on how the binary's pages entered the page cache: a binary just
        // copied or built is cached in large folios, which a fault maps whole (measured: 28.1 MiB
        // of file-backed RSS idle, against 22.7 MiB for the same file read back by faults). Every
        // run starts from the same state: the binary's cached pages dropped.
        let _ = Command::new("dd").arg(format!("if={}", binary.display())).args(["iflag=nocache", "count=0", "status=none"]).status();
        let child = Command::new(binary)
            .arg("run")
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .args(["--namespace", namespace, "--controller-class", class])
            .args(args)
            .env("KUBECONFIG", &env.kubeconfig)
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Sesame { child, port, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        sesame_http_get(self.port, path).await
    }

    pub async fn metrics(&self) -> anyhow::Result<String> {
        match self.get("/metrics").await {
            Some((200, body)) => Ok(body),
            other => bail!("sesame /metrics answered {:?}; log {}", other.map(|o| o.0), self.log.display()),
        }
    }

    /// Wait for `/readyz` (caches synced).
    pub async fn wait_ready(&mut self) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("sesame exited ({status}); log {}:\n{}", self.log.display(), self.tail());
            }
            if matches!(self.get("/readyz").await, Some((200, _))) {
                return Ok(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("sesame never became ready; log {}:\n{}", self.log.display(), self.tail())
    }

    /// SIGTERM (a rolling update), then wait for the exit.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Sesame {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.1 GET on loopback (sesame's metrics port), without another HTTP client crate.
async fn sesame_http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    // HTTP/1.0: the answer is never chunked and ends when the connection closes.
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}
