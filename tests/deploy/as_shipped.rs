//! The controller as a user installs it. Each test renders one install tree (the Helm chart, the
//! Kustomize base, the single-namespace overlay), applies everything but the CRDs (the repository's
//! own, installed once), mints a token for the tree's own ServiceAccount with a real TokenRequest,
//! and runs the binary with exactly the Deployment's args and environment under that token. Only
//! the metrics address moves to a free loopback port. Two replicas run, as the Deployment has.
//!
//! Each tree gets its own controller class (the chart's `controllerClass` value; for Kustomize the
//! `--controller-class` flag a user's overlay would add to the Deployment), so the other tests'
//! controllers, which run as cluster-admin, never touch these stores: what syncs here was synced
//! under the shipped RBAC.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{ClusterObjects, Namespace, create_namespaces, install_crds, kubectl_apply};
use crate::tools::{self, TempDir, docs, kind, kubectl, name, one};

/// What the rendered Deployment runs.
struct Shipped {
    args: Vec<String>,
    env: Vec<Value>,
    service_account: String,
    namespace: String,
}

impl Shipped {
    fn of(docs: &[Value], namespace: &str) -> Shipped {
        let deployment = one(docs, "Deployment");
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let strings = |v: &Value| v.as_array().into_iter().flatten().map(|a| a.as_str().expect("a string arg").to_string()).collect();
        assert!(container["command"].is_null(), "the image's entrypoint is the binary; the Deployment sets only args");
        Shipped {
            args: strings(&container["args"]),
            env: container["env"].as_array().cloned().unwrap_or_default(),
            service_account: pod["serviceAccountName"].as_str().expect("serviceAccountName").to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// The environment a pod named `pod` gets (downward API fields resolved as the kubelet would).
    fn environment(&self, pod: &str) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|e| {
                let var = e["name"].as_str().expect("env name").to_string();
                if let Some(v) = e["value"].as_str() {
                    return (var, v.to_string());
                }
                let value = match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    Some("metadata.name") => pod.to_string(),
                    Some("metadata.namespace") => self.namespace.clone(),
                    other => panic!("env {var} comes from {other:?}: teach this test how the kubelet fills it"),
                };
                (var, value)
            })
            .collect()
    }
}

/// One replica: the binary under test with the Deployment's args, under the ServiceAccount token.
struct Replica {
    child: Child,
    log: PathBuf,
    metrics: String,
    pod: String,
}

impl Replica {
    fn start(shipped: &Shipped, pod: &str, kubeconfig: &Path, logs: &Path) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut moved = false;
        let args: Vec<String> = shipped
            .args
            .iter()
            .map(|a| match a.strip_prefix("--metrics-addr") {
                Some(_) => {
                    moved = true;
                    format!("--metrics-addr=127.0.0.1:{port}")
                }
                None => a.clone(),
            })
            .collect();
        assert!(moved, "the Deployment sets no --metrics-addr: {args:?}");
        let log = logs.join(format!("{pod}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(&args)
            .env_clear()
            .env("KUBECONFIG", kubeconfig)
            .envs(shipped.environment(pod))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the sesame binary");
        Replica { child, log, metrics: format!("127.0.0.1:{port}"), pod: pod.to_string() }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn readyz(&self) -> Option<u16> {
        let mut stream = std::net::TcpStream::connect(&self.metrics).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.metrics).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kubeconfig holding a token minted for the ServiceAccount by a real TokenRequest.
fn service_account_kubeconfig(dir: &TempDir, shipped: &Shipped) -> PathBuf {
    let token = kubectl(&["create", "token", &shipped.service_account, "-n", &shipped.namespace, "--duration=2h"]);
    let env = sesame_testsupport::env();
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "test", "cluster": {"server": env.kube_server, "certificate-authority": env.kube_ca}}],
        "users": [{"name": "sa", "user": {"token": token.trim()}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": "sa"}}],
    });
    dir.file("kubeconfig", &serde_json::to_string(&config).unwrap())
}

/// Applies every document but the CRDs; returns guards for what it created.
fn apply_all_but_crds(rendered: Vec<Value>) -> (Vec<Namespace>, ClusterObjects) {
    install_crds();
    let rendered: Vec<Value> = rendered.into_iter().filter(|d| kind(d) != "CustomResourceDefinition").collect();
    let (namespaces, rest) = create_namespaces(rendered);
    let mut cluster = ClusterObjects::default();
    for d in &rest {
        if matches!(kind(d), "ClusterRole" | "ClusterRoleBinding") {
            cluster.0.push(format!("{}/{}", kind(d).to_lowercase(), name(d)));
        }
        kubectl_apply(d);
    }
    (namespaces, cluster)
}

fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>, context: impl Fn() -> String) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}\n{}", context());
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn secret_value(namespace: &str, secret: &str, key: &str) -> Option<String> {
    let out = tools::run("kubectl", &["get", "secret", secret, "-n", namespace, "-o", "json"], None);
    let s: Value = serde_json::from_slice(&out.stdout).ok()?;
    let b64 = s["data"][key].as_str()?;
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()
}

/// The application side: a fake SecretStore, a ClusterSecretStore limited by a namespace label,
/// a template ConfigMap, and three ExternalSecrets (plain, templated, through the cluster store).
fn application(namespace: &str, class: &str, tenant: &str) -> ClusterObjects {
    kubectl(&["label", "namespace", namespace, &format!("sesame.test/tenant={tenant}"), "--overwrite"]);
    let fake = json!({"fake": {"data": [{"key": "/app/db", "value": "{\"password\":\"pw-shipped-1\"}"}]}});
    kubectl_apply(&json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": namespace},
        "spec": {"controller": class, "provider": fake},
    }));
    let cluster_store = format!("shipped-{tenant}");
    kubectl_apply(&json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": cluster_store},
        "spec": {"controller": class, "provider": fake,
                 "conditions": [{"namespaceSelector": {"matchLabels": {"sesame.test/tenant": tenant}}}]},
    }));
    kubectl_apply(&json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tmpl", "namespace": namespace},
        "data": {"config.yaml": "password={{ .password }}"},
    }));
    let es = |es_name: &str, store: Value, template: Option<Value>| {
        let mut target = json!({"name": es_name});
        if let Some(t) = template {
            target["template"] = t;
        }
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": es_name, "namespace": namespace},
            "spec": {"refreshInterval": "1h", "secretStoreRef": store, "target": target,
                     "data": [{"secretKey": "password", "remoteRef": {"key": "/app/db", "property": "password"}}]},
        })
    };
    let local = json!({"name": "fake", "kind": "SecretStore"});
    kubectl_apply(&es("plain", local.clone(), None));
    let template = json!({"templateFrom": [{"configMap": {"name": "tmpl", "items": [{"key": "config.yaml"}]}}]});
    kubectl_apply(&es("templated", local, Some(template)));
    kubectl_apply(&es("cluster", json!({"name": cluster_store, "kind": "ClusterSecretStore"}), None));
    ClusterObjects(vec![format!("clustersecretstore/{cluster_store}")])
}

/// Runs two replicas of `rendered` as shipped and checks that they do the job under their own
/// ServiceAccount: ready, one leader and one standby, every path synced, nothing forbidden.
fn runs_as_shipped(tree: &str, rendered: Vec<Value>, install_ns: &str, app_ns: &str, class: &str) {
    let shipped = Shipped::of(&rendered, install_ns);
    let (_namespaces, _cluster) = apply_all_but_crds(rendered);
    let dir = TempDir::new("shipped");
    let kubeconfig = service_account_kubeconfig(&dir, &shipped);
    let first = Replica::start(&shipped, "sesame-7d9f-a", &kubeconfig, dir.path());
    let second = Replica::start(&shipped, "sesame-7d9f-b", &kubeconfig, dir.path());
    let replicas = [&first, &second];
    let context = || replicas.iter().map(|r| format!("--- {} ({tree}):\n{}", r.pod, r.logs())).collect::<Vec<_>>().join("\n");

    for r in replicas {
        wait_for(&format!("{tree}: /readyz of {}", r.pod), Duration::from_secs(60), || (r.readyz() == Some(200)).then_some(()), context);
    }
    let leader = wait_for(
        &format!("{tree}: a leader"),
        Duration::from_secs(60),
        || replicas.into_iter().find(|r| r.logs().contains("acquired leadership")),
        context,
    );
    let tenant = tools::unique("t");
    let _cluster_store = application(app_ns, class, &tenant);

    let synced = |secret: &str, key: &str, want: &str| {
        let what = format!("{tree}: Secret {app_ns}/{secret} key {key} = {want:?}");
        wait_for(
            &what,
            Duration::from_secs(60),
            || (secret_value(app_ns, secret, key).as_deref() == Some(want)).then_some(()),
            || format!("{}\n{}", kubectl(&["get", "externalsecrets", "-n", app_ns, "-o", "yaml"]), context()),
        );
    };
    synced("plain", "password", "pw-shipped-1");
    synced("cluster", "password", "pw-shipped-1");
    synced("templated", "config.yaml", "password=pw-shipped-1");
    // The ConfigMap watch works under the shipped RBAC: an edit re-renders at once (1 h interval).
    kubectl_apply(&json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tmpl", "namespace": app_ns},
        "data": {"config.yaml": "pw is {{ .password }}"},
    }));
    synced("templated", "config.yaml", "pw is pw-shipped-1");

    let standby = replicas.into_iter().find(|r| r.pod != leader.pod).unwrap();
    assert!(!standby.logs().contains("acquired leadership"), "{tree}: both replicas lead\n{}", context());
    // A standby is ready at once; the leader only once its caches have listed under this RBAC.
    for r in replicas {
        wait_for(
            &format!("{tree}: /readyz of {} after the sync", r.pod),
            Duration::from_secs(30),
            || (r.readyz() == Some(200)).then_some(()),
            context,
        );
    }
    assert!(leader.logs().contains("caches synced"), "{tree}: the leader never listed its caches\n{}", context());
    let lease: Value =
        serde_json::from_str(&kubectl(&["get", "lease", "sesame-leader", "-n", install_ns, "-o", "json"])).expect("lease JSON");
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or_default();
    assert!(holder.starts_with(&leader.pod), "{tree}: the lease is held by {holder:?}, not by {}", leader.pod);
    for r in replicas {
        let log = r.logs().to_lowercase();
        assert!(!log.contains("forbidden"), "{tree}: {} met a forbidden request under the shipped RBAC:\n{}", r.pod, r.logs());
        assert!(!log.contains("pw-shipped-1"), "{tree}: a secret value reached the log of {}", r.pod);
    }
}

#[test]
fn the_helm_chart_runs_under_its_own_service_account() {
    let release = tools::unique("shp");
    let class = tools::unique("helm");
    let install = Namespace::create("shp-helm");
    let app = Namespace::create("shp-app");
    let values = format!("controllerClass={class}");
    let rendered = docs(&tools::helm_template(&release, &install.0, &tools::server_version(), &["--set", &values]));
    runs_as_shipped("helm", rendered, &install.0, &app.0, &class);
}

/// Adds the flag a user's overlay would add to the Deployment's args.
fn with_class(mut rendered: Vec<Value>, class: &str) -> Vec<Value> {
    let deployment = rendered.iter_mut().find(|d| kind(d) == "Deployment").expect("a Deployment");
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].as_array_mut().expect("args");
    args.push(json!(format!("--controller-class={class}")));
    rendered
}

const PDB_V1BETA1: &str = "deploy/kustomize/components/pdb-policy-v1beta1";

#[test]
fn the_kustomize_base_runs_under_its_own_service_account() {
    let install = tools::unique("shp-base");
    let app = Namespace::create("shp-app");
    let class = tools::unique("base");
    let rendered = docs(&tools::kustomize_into("deploy/kustomize/base", &install, &tools::unique("b"), &[PDB_V1BETA1]));
    runs_as_shipped("kustomize base", with_class(rendered, &class), &install, &app.0, &class);
}

#[test]
fn the_single_namespace_overlay_runs_under_its_own_service_account() {
    let watched = tools::unique("shp-one");
    let class = tools::unique("one");
    let tree = "deploy/kustomize/overlays/single-namespace";
    let rendered = docs(&tools::kustomize_into(tree, &watched, &tools::unique("s"), &[PDB_V1BETA1]));
    assert!(rendered.iter().any(|d| kind(d) == "Namespace"), "the overlay creates its namespace");
    runs_as_shipped("single-namespace overlay", with_class(rendered, &class), &watched, &watched, &class);
}
