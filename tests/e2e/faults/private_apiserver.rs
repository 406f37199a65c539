//! A private kube-apiserver (and its own etcd) for tests that stop, restart and compact: the
//! shared servers are never touched. Same binaries, flags, certificates and tokens as the test
//! environment's, read from the running processes (`<state>/pids/<name>.pid` and `/proc`).
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{eventually, tail};

/// The binary and arguments of a running test-environment server. Panics (a missing server is a
/// failure, never a skip) when it is not running.
pub fn testenv_process(name: &str) -> (PathBuf, Vec<String>) {
    let pidfile = sesame_testsupport::env().state_dir.join("pids").join(format!("{name}.pid"));
    let text = std::fs::read_to_string(&pidfile).unwrap_or_else(|e| panic!("{name} is not running ({}: {e})", pidfile.display()));
    let pid = text.split_whitespace().next().unwrap_or_default();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_else(|e| panic!("{name} (pid {pid}) is not running: {e}"));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).skip(1).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    (exe, args)
}

/// `n` distinct free loopback ports (held together while chosen, so never the same twice).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// Start an etcd in `dir`; another process may take a chosen port first, so try a few times.
async fn start_etcd(exe: &std::path::Path, dir: &std::path::Path) -> (Child, String) {
    for _ in 0..3 {
        let ports = free_ports(2);
        let url = format!("http://127.0.0.1:{}", ports[0]);
        let peer = format!("http://127.0.0.1:{}", ports[1]);
        let _ = std::fs::remove_dir_all(dir.join("etcd"));
        let mut child = Command::new(exe)
            .args(["--name", "private", "--unsafe-no-fsync", "--log-level", "warn"])
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .args([format!("--listen-client-urls={url}"), format!("--advertise-client-urls={url}")])
            .args([format!("--listen-peer-urls={peer}"), format!("--initial-advertise-peer-urls={peer}")])
            .arg(format!("--initial-cluster=private={peer}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("etcd.log")).unwrap())
            .spawn()
            .expect("start a private etcd");
        if eventually(Duration::from_secs(20), || async { revision(&url).await.is_some() }).await {
            return (child, url);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("the private etcd did not come up:\n{}", tail(&std::fs::read_to_string(dir.join("etcd.log")).unwrap_or_default()));
}

/// etcd's current revision (through its JSON gateway), `None` while it is not serving.
async fn revision(etcd_url: &str) -> Option<i64> {
    let body = etcd_post(etcd_url, "/v3/kv/range", r#"{"key": "AA=="}"#).await?;
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    json["header"]["revision"].as_str()?.parse().ok()
}

/// `args` with the value of `--flag` (either `--flag=v` or `--flag v`) replaced, or appended.
fn set_flag(args: &mut Vec<String>, flag: &str, value: &str) {
    let eq = format!("{flag}=");
    if let Some(i) = args.iter().position(|a| a.starts_with(&eq)) {
        args[i] = format!("{flag}={value}");
    } else if let Some(i) = args.iter().position(|a| a == flag) {
        args[i + 1] = value.to_string();
    } else {
        args.push(format!("{flag}={value}"));
    }
}

/// A private etcd and kube-apiserver on their own ports, with the test environment's
/// certificates and tokens (so its admin kubeconfig works with the server swapped). Both are
/// killed when dropped.
pub struct PrivateCluster {
    etcd: Child,
    apiserver: Option<Child>,
    exe: PathBuf,
    args: Vec<String>,
    dir: PathBuf,
    pub etcd_url: String,
    pub kubeconfig: PathBuf,
    /// Times the apiserver was started.
    pub starts: u32,
}

impl PrivateCluster {
    pub async fn start(name: &str) -> PrivateCluster {
        let (etcd_exe, _) = testenv_process("etcd");
        let (exe, mut args) = testenv_process("kube-apiserver");
        let api_port = free_ports(1)[0];
        let dir = std::env::temp_dir().join("sesame-e2e").join(format!("{name}-{api_port}"));
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        let (etcd, etcd_url) = start_etcd(&etcd_exe, &dir).await;
        set_flag(&mut args, "--etcd-servers", &etcd_url);
        set_flag(&mut args, "--secure-port", &api_port.to_string());
        set_flag(&mut args, "--cert-dir", &dir.join("certs").to_string_lossy());
        let env = sesame_testsupport::env();
        let text = std::fs::read_to_string(&env.kubeconfig).expect("read the kubeconfig");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, text.replace(&env.kube_server, &format!("https://127.0.0.1:{api_port}"))).unwrap();
        let mut cluster = PrivateCluster { etcd, apiserver: None, exe, args, dir, etcd_url, kubeconfig, starts: 0 };
        cluster.start_apiserver().await;
        let api: Api<CustomResourceDefinition> = Api::all(cluster.client().await);
        for (_, crd) in sesame::crdgen::all() {
            let name = crd.metadata.name.clone().unwrap();
            api.patch(&name, &PatchParams::apply("sesame-e2e").force(), &Patch::Apply(&crd)).await.expect("install a CRD");
            let established = eventually(Duration::from_secs(30), || async {
                let conditions = api.get(&name).await.ok().and_then(|c| c.status).and_then(|s| s.conditions);
                conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
            });
            assert!(established.await, "CRD {name} never became Established on the private apiserver");
        }
        cluster
    }

    fn log(&self, name: &str) -> String {
        tail(&std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default())
    }

    /// An admin client of this apiserver.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("read the private kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
        Client::try_from(config).unwrap()
    }

    /// Start the apiserver (again) and wait until it serves.
    pub async fn start_apiserver(&mut self) {
        assert!(self.apiserver.is_none(), "the private apiserver is already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("apiserver.log")).unwrap();
        let child =
            Command::new(&self.exe).args(&self.args).stdout(Stdio::null()).stderr(log).spawn().expect("start a private kube-apiserver");
        self.apiserver = Some(child);
        self.starts += 1;
        let client = self.client().await;
        let ns: Api<Namespace> = Api::all(client);
        let up = eventually(Duration::from_secs(120), || async { ns.get("default").await.is_ok() }).await;
        assert!(up, "the private kube-apiserver did not come up:\n{}", self.log("apiserver"));
    }

    /// Stop the apiserver with SIGTERM, as a rolling restart does. It drains open watches for up
    /// to a minute (new connections are refused at once); after `grace` it is killed. Returns
    /// whether it exited by itself.
    pub async fn stop_apiserver(&mut self, grace: Duration) -> bool {
        let mut child = self.apiserver.take().expect("the private apiserver is running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM the private apiserver");
        let exited = eventually(grace, || {
            let done = child.try_wait().ok().flatten().is_some();
            async move { done }
        })
        .await;
        if !exited {
            let _ = child.kill();
        }
        let _ = child.wait();
        exited
    }

    /// Compact etcd's history up to its current revision: every older resourceVersion is gone,
    /// so a watch resuming from one gets 410 Gone.
    pub async fn compact(&self) -> i64 {
        let revision = revision(&self.etcd_url).await.expect("etcd revision");
        let body = format!(r#"{{"revision": "{revision}", "physical": true}}"#);
        let answer = etcd_post(&self.etcd_url, "/v3/kv/compaction", &body).await.expect("compact etcd");
        assert!(!answer.contains("\"error\""), "compaction failed: {answer}");
        revision
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for child in self.apiserver.iter_mut().chain(std::iter::once(&mut self.etcd)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// POST a JSON body over plain HTTP/1.1 (loopback etcd); the answer's body.
async fn etcd_post(base: &str, path: &str, body: &str) -> Option<String> {
    let host = base.strip_prefix("http://")?;
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}
