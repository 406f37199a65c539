//! What a test needs to reach the real servers that `tests/env/testenv up` started.
//!
//! `tests/env/testenv up` writes `env.json` into its state directory (default `<repo>/.testenv`,
//! or `$SESAME_TESTENV_STATE`); `SESAME_TESTENV` may point at the file directly. A test that runs
//! without it fails with a message naming the missing server: a missing server is never a skip.
#![forbid(unsafe_code)]
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// Everything `testenv up` started, as it wrote it to `env.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TestEnv {
    /// Admin kubeconfig for the real kube-apiserver.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT` of the kube-apiserver.
    pub kube_server: String,
    /// The CA that signed the kube-apiserver's serving certificate (and its client certificates).
    pub kube_ca: PathBuf,
    /// A static bearer token of a cluster admin (group `system:masters`), e.g. for OpenBao's
    /// kubernetes auth `token_reviewer_jwt`.
    pub kube_token: String,
    /// `--service-account-issuer` (also the only `--api-audiences` entry) of the kube-apiserver.
    pub kube_sa_issuer: String,
    /// `http://127.0.0.1:PORT` of the OpenBao dev server.
    pub vault_addr: String,
    /// Root token of the OpenBao dev server.
    pub vault_token: String,
    /// `http://127.0.0.1:PORT` of moto server (`POST /moto-api/reset` clears it; prefer unique names).
    pub aws_endpoint: String,
    /// The region to use with moto.
    pub aws_region: String,
    /// Paths of the tool binaries.
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    pub promtool: PathBuf,
    /// The state directory of this run (logs in `logs/`, certificates in `pki/`).
    pub state_dir: PathBuf,
}

static ENV: OnceLock<TestEnv> = OnceLock::new();

/// The running test environment. Panics with a clear message when it is not up.
pub fn env() -> &'static TestEnv {
    ENV.get_or_init(|| {
        let path = env_file();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the test environment is not running ({}: {e}); start it with `tests/env/testenv up` \
                 or run the whole suite with `tests/env/testenv test`",
                path.display()
            )
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not a valid test environment file: {e}", path.display()))
    })
}

fn env_file() -> PathBuf {
    if let Some(p) = std::env::var_os("SESAME_TESTENV") {
        return PathBuf::from(p);
    }
    let state = std::env::var_os("SESAME_TESTENV_STATE").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".testenv"));
    state.join("env.json")
}

/// The repository root (this crate lives in `tests/support`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A kube client for the real apiserver, as cluster admin.
pub async fn kube_client() -> kube::Client {
    let env = env();
    let kubeconfig = kube::config::Kubeconfig::read_from(&env.kubeconfig)
        .unwrap_or_else(|e| panic!("cannot read kubeconfig {}: {e}", env.kubeconfig.display()));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("kubeconfig is usable");
    kube::Client::try_from(config).expect("kube client")
}

/// A name no other test (in this run, a parallel run or an earlier run against the same servers)
/// uses: `prefix-<pid>-<counter>-<time>`, lower case, at most 63 characters (a DNS-1123 label).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() % 1_000_000_000_000).unwrap_or_default();
    let mut name = format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()).to_ascii_lowercase();
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// Static credentials that moto accepts (any are accepted).
pub const AWS_ACCESS_KEY_ID: &str = "testing";
pub const AWS_SECRET_ACCESS_KEY: &str = "testing";

/// Polls `check` every 200 ms until it returns `Some`, panicking with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
