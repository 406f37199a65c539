//! Fault tests: the real binary against the real apiserver while things break — the controller
//! killed mid-sync, leader failover under load, the apiserver connection cut, a provider that
//! has nothing, and an attacker in another namespace. Every test watches every managed Secret for
//! the whole run and asserts "0 Secrets lost or emptied": each observed version of each Secret
//! is one of the complete versions the test expects, and the final one is the newest.
//!
//! Each test prints a `faults <test>: …` line with its figures (see them with `--nocapture`).
mod private_apiserver;
mod proxy;

mod apiserver;
mod apiserver_restart;
mod conflict;
mod crash;
mod failover;
mod notfound;
mod provider;
mod proxy_selftest;
mod tenancy;
mod tls;
mod undecodable;
mod vault;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crate::harness::*;

/// A `sesame run` process started with a kubeconfig of the test's choosing (e.g. one that goes
/// through the fault proxy). Killed when dropped.
pub struct Replica {
    child: Child,
    pub metrics_url: String,
    pub log: PathBuf,
}

impl Replica {
    pub fn start(name: &str, kubeconfig: &std::path::Path, args: &[String]) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join("sesame-e2e");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{name}-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .arg("--log-level=info,sesame=debug")
            .arg("run")
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            // The fault tests refresh every few seconds to watch recovery (see harness.rs).
            .env("SESAME_MIN_REFRESH_INTERVAL", "0s")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the sesame binary");
        Replica { child, metrics_url: format!("http://127.0.0.1:{port}"), log }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Provider calls so far (0 when unreachable): ESO's `externalsecret_provider_api_calls_count`
    /// summed over every label set, or, where a provider does not report it (the fake provider
    /// does not), the calls the fetch layer charged to store budgets.
    pub async fn provider_calls(&self) -> f64 {
        // An unreachable /metrics is a failure, not "0 calls": a count of 0 would pass every bound.
        let url = format!("{}/metrics", self.metrics_url);
        let Some((200, body)) = http_get(&url).await else { panic!("{url} is unreachable\n{}", self.describe()) };
        let sum = |prefix: &str| -> f64 {
            body.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
        };
        sum("externalsecret_provider_api_calls_count{").max(sum("sesame_store_provider_calls_total{"))
    }

    pub fn describe(&self) -> String {
        format!("sesame log {}:\n{}", self.log.display(), tail(&self.logs()))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The flags that confine a replica to the scene.
pub fn scene_args(scene: &Scene) -> Vec<String> {
    vec!["--namespace".into(), scene.ns.clone(), "--controller-class".into(), scene.class.clone()]
}

/// The admin kubeconfig of the test environment.
pub fn kubeconfig() -> PathBuf {
    sesame_testsupport::env().kubeconfig.clone()
}

/// `n` ExternalSecrets `es-0..es-{n-1}`, each reading `keys` remote keys `/s{i}/k{j}` into Secret
/// `es-i` (keys `k{j}`), with the given policies.
pub async fn many(scene: &Scene, prefix: &str, n: usize, keys: usize, creation: &str, deletion: &str) {
    for i in 0..n {
        let data: Vec<_> =
            (0..keys).map(|j| json!({"secretKey": format!("k{j}"), "remoteRef": {"key": format!("/{prefix}{i}/k{j}")}})).collect();
        let spec = json!({
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "store"},
            "target": {"name": format!("{prefix}-{i}"), "creationPolicy": creation, "deletionPolicy": deletion},
            "data": data,
        });
        scene.external_secret(&format!("{prefix}-{i}"), spec).await;
    }
}

/// Remote data for [`many`]: value `v{version}-{prefix}{i}-k{j}` for every key.
pub fn remote(prefix: &str, n: usize, keys: usize, version: u32) -> Vec<(String, String)> {
    (0..n).flat_map(|i| (0..keys).map(move |j| (format!("/{prefix}{i}/k{j}"), format!("v{version}-{prefix}{i}-k{j}")))).collect()
}

/// The Secret data [`many`] produces for object `i` at `version`.
pub fn expected(prefix: &str, i: usize, keys: usize, version: u32) -> BTreeMap<String, String> {
    (0..keys).map(|j| (format!("k{j}"), format!("v{version}-{prefix}{i}-k{j}"))).collect()
}

/// Serve `data` from the scene's fake store `store`.
pub async fn store(scene: &Scene, data: &[(String, String)]) {
    let pairs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    scene.fake_store("store", &pairs).await;
}

/// name → the successive data of that Secret (`None`: deleted).
type Histories = BTreeMap<String, Vec<Option<BTreeMap<String, String>>>>;

/// Every version of every Secret in a namespace, as a watch delivers them (every write).
#[derive(Clone, Default)]
pub struct Monitor {
    history: Arc<Mutex<Histories>>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Monitor {
    /// Watch the scene's Secrets from now on (through a direct, fault-free connection).
    pub async fn start(scene: &Scene) -> Monitor {
        let monitor = Monitor::default();
        let history = monitor.history.clone();
        let api: Api<Secret> = Api::namespaced(scene.client.clone(), &scene.ns);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let task = tokio::spawn(async move {
            // Backoff: an apiserver that is down (apiserver_restart) must not spin this loop.
            let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
            while let Some(event) = stream.next().await {
                let mut h = history.lock().unwrap();
                let mut record = |s: &Secret, data: Option<BTreeMap<String, String>>| {
                    let name = s.metadata.name.clone().unwrap_or_default();
                    let seq = h.entry(name).or_default();
                    if seq.last() != Some(&data) {
                        seq.push(data);
                    }
                };
                match event {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => record(&s, Some(text_data(&s))),
                    Ok(watcher::Event::Delete(s)) => record(&s, None),
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    _ => {}
                }
            }
        });
        // A monitor that never listed would see no history and pass "0 lost" vacuously.
        tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .expect("the Secret watch of the monitor did not list within 30 s")
            .expect("the monitor's watch task ended before listing");
        *monitor.task.lock().unwrap() = Some(task);
        monitor
    }

    /// The history of one Secret so far.
    pub fn history(&self, name: &str) -> Vec<Option<BTreeMap<String, String>>> {
        self.history.lock().unwrap().get(name).cloned().unwrap_or_default()
    }

    /// Number of Secret versions observed so far (every one of them is checked).
    pub fn observed(&self) -> usize {
        self.history.lock().unwrap().values().map(Vec::len).sum()
    }

    /// Check every observed version of Secret `name` with `ok`; returns the violations.
    /// A Secret never observed is a violation too: nothing checked is not "nothing lost".
    pub fn violations(&self, name: &str, ok: impl Fn(&Option<BTreeMap<String, String>>) -> bool) -> Vec<String> {
        let history = self.history(name);
        if history.is_empty() {
            return vec![format!("{name}: no version observed")];
        }
        history.iter().filter(|v| !ok(v)).map(|v| format!("{name}: {v:?}")).collect()
    }

    pub fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
    }
}

/// Wait until every `prefix-i` Secret holds `version`'s data.
pub async fn wait_all(scene: &Scene, prefix: &str, n: usize, keys: usize, version: u32, timeout: Duration) -> bool {
    eventually(timeout, || async {
        let list = scene.secrets().list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
        let have: BTreeMap<String, BTreeMap<String, String>> =
            list.iter().map(|s| (s.metadata.name.clone().unwrap_or_default(), text_data(s))).collect();
        (0..n).all(|i| have.get(&format!("{prefix}-{i}")) == Some(&expected(prefix, i, keys, version)))
    })
    .await
}

/// How many `prefix-i` Secrets hold `version`'s data now.
pub async fn count_at(scene: &Scene, prefix: &str, n: usize, keys: usize, version: u32) -> usize {
    let list = scene.secrets().list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
    let have: BTreeMap<String, BTreeMap<String, String>> =
        list.iter().map(|s| (s.metadata.name.clone().unwrap_or_default(), text_data(s))).collect();
    (0..n).filter(|i| have.get(&format!("{prefix}-{i}")) == Some(&expected(prefix, *i, keys, version))).count()
}

/// The version `data` is a complete copy of, if any (1..=`max`).
pub fn version_of(prefix: &str, i: usize, keys: usize, max: u32, data: &BTreeMap<String, String>) -> Option<u32> {
    (1..=max).find(|&v| *data == expected(prefix, i, keys, v))
}

/// "0 Secrets lost or emptied": every observed version of every `prefix-i` Secret is a complete
/// expected version, never deleted, never older than one seen before it (no flapping), and the
/// last one is `last`. Returns (versions checked, violations).
pub fn check_histories(monitor: &Monitor, prefix: &str, n: usize, keys: usize, last: u32) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut bad = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        let history = monitor.history(&name);
        let mut seen = 0;
        for data in &history {
            checked += 1;
            match data.as_ref().map(|d| (d, version_of(prefix, i, keys, last, d))) {
                None => bad.push(format!("{name}: deleted")),
                Some((d, None)) => bad.push(format!("{name}: partial, empty or foreign data {d:?}")),
                Some((_, Some(v))) if v < seen => bad.push(format!("{name}: went back from v{seen} to v{v}")),
                Some((_, Some(v))) => seen = v,
            }
        }
        if seen != last {
            bad.push(format!("{name}: ends at v{seen}, want v{last} (history {history:?})"));
        }
    }
    (checked, bad)
}
