//! Starting sesame, making test objects, and waiting for the cluster to reach a state.
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sesame::api::{ExternalSecret, SecretStore};

/// A running `sesame run` process; killed when dropped.
pub struct Sesame {
    child: Child,
    pub metrics_url: String,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Sesame {
    /// Start the controller with these extra flags (e.g. `--namespace`, `--controller-class`).
    pub fn start(name: &str, args: &[&str]) -> Sesame {
        Sesame::start_with_env(name, args, &[])
    }

    /// Start the controller with extra flags and environment variables.
    pub fn start_with_env(name: &str, args: &[&str], vars: &[(&str, &str)]) -> Sesame {
        let port = free_port();
        let dir = std::env::temp_dir().join("sesame-e2e");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{name}-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .arg(std::env::var("SESAME_E2E_LOG").unwrap_or_else(|_| "--log-level=info,sesame=debug".into()))
            .arg("run")
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .args(args)
            // The shipped controller RBAC, not cluster-admin (see identity.rs).
            .env("KUBECONFIG", crate::identity::controller_kubeconfig())
            // Tests refresh every few seconds to watch refreshes happen; the minimum interval has
            // its own test (attacker_limits.rs passes the flag, which wins over the variable).
            .env("SESAME_MIN_REFRESH_INTERVAL", "0s")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the sesame binary");
        Sesame { child, metrics_url: format!("http://127.0.0.1:{port}"), log }
    }

    /// The controller's own log, for failure messages and leak checks.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(&format!("{}{path}", self.metrics_url)).await
    }

    /// Wait until /readyz answers 200.
    pub async fn wait_ready(&self) {
        let ok = eventually(Duration::from_secs(30), || async { matches!(self.get("/readyz").await, Some((200, _))) }).await;
        assert!(ok, "sesame never became ready; log {}:\n{}", self.log.display(), tail(&self.logs()));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crashed pod.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill9();
        None
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Sesame {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.1 GET over loopback (the metrics endpoint), without another HTTP client crate.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, dechunk(&body)))
}

fn dechunk(body: &str) -> String {
    // axum answers with chunked encoding when the length is unknown.
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else { return body.to_string() };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { return body.to_string() };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_string();
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
}

/// The value of one sample of the exposition (first match of `series`, a name with labels).
pub fn sample(metrics: &str, series_prefix: &str, must_contain: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(series_prefix) && must_contain.iter().all(|c| l.contains(c)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Poll `check` until it is true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fresh namespace (and controller class) for one test.
pub struct Scene {
    pub client: Client,
    pub ns: String,
    pub class: String,
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{:x}{}", std::process::id() % 10_000, nanos % 0xffff, N.fetch_add(1, Ordering::SeqCst))
}

/// Install the CRDs generated from the API types (once per test process) and wait until the
/// apiserver serves them.
pub async fn install_crds() {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let client = sesame_testsupport::kube_client().await;
        crate::identity::set_up(&client).await;
        let api: Api<CustomResourceDefinition> = Api::all(client);
        for (_, crd) in sesame::crdgen::all() {
            let name = crd.metadata.name.clone().unwrap();
            api.patch(&name, &PatchParams::apply("sesame-e2e").force(), &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
            let established = eventually(Duration::from_secs(30), || async {
                api.get(&name)
                    .await
                    .ok()
                    .and_then(|c| c.status)
                    .and_then(|s| s.conditions)
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
            })
            .await;
            assert!(established, "CRD {name} never became Established");
        }
    })
    .await;
}

impl Scene {
    pub async fn new(prefix: &str) -> Scene {
        install_crds().await;
        let client = sesame_testsupport::kube_client().await;
        let ns = unique(prefix);
        create_namespace(&client, &ns, BTreeMap::new()).await;
        Scene { client, ns, class: unique("class") }
    }

    /// Start sesame for this scene: its namespace and class only.
    pub fn sesame(&self) -> Sesame {
        self.sesame_with(&[], &[])
    }

    /// Start sesame for this scene with extra flags and environment variables.
    pub fn sesame_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Sesame {
        let mut all = vec!["--namespace", &self.ns, "--controller-class", &self.class];
        all.extend_from_slice(args);
        Sesame::start_with_env(&self.ns, &all, vars)
    }

    /// Apply any store (JSON with `spec.provider`) in this scene's namespace and class.
    pub async fn store(&self, name: &str, provider: Value) {
        let store = json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {"controller": self.class, "provider": provider},
        });
        apply(&self.client, &self.ns, "secretstores", name, store).await;
    }

    /// A Kubernetes Secret with these string values (store credentials).
    pub async fn plain_secret(&self, name: &str, data: &[(&str, &str)]) {
        let secret = Secret {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            data: Some(data.iter().map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.as_bytes().to_vec()))).collect()),
            ..Default::default()
        };
        self.secrets().create(&PostParams::default(), &secret).await.expect("create secret");
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn externalsecrets(&self) -> Api<ExternalSecret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn stores(&self) -> Api<SecretStore> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// A fake SecretStore serving `data` (key → value) in this scene's class.
    pub async fn fake_store(&self, name: &str, data: &[(&str, &str)]) {
        let store = fake_store_json(name, Some(&self.ns), &self.class, data, "SecretStore");
        apply(&self.client, &self.ns, "secretstores", name, store).await;
    }

    /// Create or update an ExternalSecret from a JSON spec.
    pub async fn external_secret(&self, name: &str, spec: Value) {
        let es = json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        });
        apply(&self.client, &self.ns, "externalsecrets", name, es).await;
    }

    pub async fn es(&self, name: &str) -> ExternalSecret {
        self.externalsecrets().get(name).await.expect("ExternalSecret exists")
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets().get_opt(name).await.expect("reading a Secret")
    }

    /// The Secret's data as text.
    pub async fn secret_data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.secret(name).await.map(|s| text_data(&s))
    }

    /// Wait until the ExternalSecret's Ready condition has this status and reason.
    pub async fn wait_ready(&self, sesame: &Sesame, name: &str, status: &str, reason: &str) -> ExternalSecret {
        let ok = eventually(Duration::from_secs(30), || async {
            ready_condition(&self.es(name).await).is_some_and(|(s, r, _)| s == status && r == reason)
        })
        .await;
        let es = self.es(name).await;
        assert!(
            ok,
            "ExternalSecret {name} never reached Ready={status}/{reason}; it has {:?}\nsesame log {}:\n{}",
            ready_condition(&es),
            sesame.log.display(),
            tail(&sesame.logs())
        );
        es
    }

    pub async fn delete_namespace(&self) {
        let _ = Api::<Namespace>::all(self.client.clone()).delete(&self.ns, &DeleteParams::default()).await;
    }
}

pub async fn create_namespace(client: &Client, name: &str, labels: BTreeMap<String, String>) {
    let ns = Namespace {
        metadata: kube::api::ObjectMeta { name: Some(name.into()), labels: Some(labels), ..Default::default() },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("create namespace");
}

pub fn fake_store_json(name: &str, ns: Option<&str>, class: &str, data: &[(&str, &str)], kind: &str) -> Value {
    let data: Vec<Value> = data.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
    let mut metadata = json!({"name": name});
    if let Some(ns) = ns {
        metadata["namespace"] = ns.into();
    }
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": kind,
        "metadata": metadata,
        "spec": {"controller": class, "provider": {"fake": {"data": data}}},
    })
}

/// Server-side apply of any external-secrets.io object, as a test user would `kubectl apply`.
pub async fn apply(client: &Client, ns: &str, plural: &str, name: &str, body: Value) {
    let kind = body["kind"].as_str().unwrap().to_string();
    let gvk = kube::api::GroupVersionKind::gvk("external-secrets.io", "v1", &kind);
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<kube::api::DynamicObject> =
        if plural.starts_with("cluster") { Api::all_with(client.clone(), &ar) } else { Api::namespaced_with(client.clone(), ns, &ar) };
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
}

pub fn ready_condition(es: &ExternalSecret) -> Option<(String, String, String)> {
    es.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default()))
}

pub fn text_data(secret: &Secret) -> BTreeMap<String, String> {
    secret.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v.0).to_string())).collect()
}

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Events recorded for an object, as (type, reason, note).
pub async fn events_for(client: &Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// The Events of an object once one of them matches `wanted` (or after 30 s, for the caller to
/// assert on): Events are posted shortly after the sync that records them, not before its status.
pub async fn events_with<P>(client: &Client, ns: &str, name: &str, wanted: P) -> Vec<(String, String, String)>
where
    P: Fn(&(String, String, String)) -> bool,
{
    eventually(Duration::from_secs(30), || async { events_for(client, ns, name).await.iter().any(&wanted) }).await;
    events_for(client, ns, name).await
}

/// Wait until the Secret exists with exactly this data.
pub async fn wait_secret_data(scene: &Scene, sesame: &Sesame, name: &str, want: &BTreeMap<String, String>) -> Secret {
    let ok = eventually(Duration::from_secs(30), || async { scene.secret_data(name).await.as_ref() == Some(want) }).await;
    assert!(
        ok,
        "Secret {name} never held {want:?}; it has {:?}\nsesame log {}:\n{}",
        scene.secret_data(name).await,
        sesame.log.display(),
        tail(&sesame.logs())
    );
    scene.secret(name).await.unwrap()
}
