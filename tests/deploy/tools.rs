//! Running helm, kubectl and promtool from the test environment, rendering the trees, and small
//! YAML helpers.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart() -> PathBuf {
    repo().join("deploy/helm/sesame")
}

/// Every Kustomize tree a user may build, relative to the repository root.
pub const KUSTOMIZE_TREES: &[&str] =
    &["deploy/kustomize/base", "deploy/kustomize/overlays/single-namespace", "deploy/kustomize/overlays/monitoring"];

pub const GITOPS_TREES: &[&str] = &[
    "examples/gitops/platform",
    "examples/gitops/apps/payments/base",
    "examples/gitops/apps/payments/overlays/dev",
    "examples/gitops/apps/payments/overlays/stg",
    "examples/gitops/apps/payments/overlays/prod",
];

fn tool(name: &str) -> PathBuf {
    let env = sesame_testsupport::env();
    let path = match name {
        "helm" => env.helm.clone(),
        "kubectl" => env.kubectl.clone(),
        "promtool" => env.promtool.clone(),
        other => panic!("unknown tool {other}"),
    };
    assert!(
        path.is_file(),
        "{name} is missing at {} (from the test environment's env.json); run `tests/env/testenv setup`",
        path.display()
    );
    path
}

/// Runs a tool; returns its output whatever the exit status.
pub fn run(name: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(tool(name));
    cmd.args(args).current_dir(repo()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if name == "kubectl" || name == "helm" {
        cmd.env("KUBECONFIG", &sesame_testsupport::env().kubeconfig);
        // Keep helm's caches away from $HOME and from other runs.
        let home = std::env::temp_dir().join(format!("sesame-deploy-helm-{}", std::process::id()));
        cmd.env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
    }
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{name} did not finish: {e}"))
}

/// Runs a tool and returns its stdout, panicking with both streams when it fails.
pub fn ok(name: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(name, args, stdin);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`{name} {}` failed ({}):\n{}\n{stdout}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn kubectl(args: &[&str]) -> String {
    ok("kubectl", args, None)
}

pub fn kubectl_stdin(args: &[&str], input: &str) -> String {
    ok("kubectl", args, Some(input))
}

/// `kubectl kustomize` of a tree given relative to the repository root.
pub fn kustomize(tree: &str) -> String {
    kubectl(&["kustomize", &repo().join(tree).to_string_lossy()])
}

/// Kustomize `tree` wrapped in a throw-away overlay: into `namespace`, with `suffix` on every
/// name (so cluster-scoped objects are unique too) and the extra `components`.
pub fn kustomize_into(tree: &str, namespace: &str, suffix: &str, components: &[&str]) -> String {
    let dir = TempDir::new("kustomize");
    let rel = |p: &str| relative_to(dir.path(), &repo().join(p));
    let mut k = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - {}\n",
        rel(tree)
    );
    if !suffix.is_empty() {
        k.push_str(&format!("nameSuffix: -{suffix}\n"));
    }
    if !components.is_empty() {
        k.push_str("components:\n");
        for c in components {
            k.push_str(&format!("  - {}\n", rel(c)));
        }
    }
    std::fs::write(dir.path().join("kustomization.yaml"), k).expect("write kustomization");
    kubectl(&["kustomize", &dir.path().to_string_lossy()])
}

/// A relative path from `from` to `to` (kustomize accepts no absolute resource paths).
pub fn relative_to(from: &Path, to: &Path) -> String {
    let depth = from.components().count() - 1;
    format!("{}{}", "../".repeat(depth), to.strip_prefix("/").expect("absolute path").display())
}

/// The Kubernetes version of the test apiserver, e.g. `v1.20.2`.
pub fn server_version() -> String {
    let v: Value = serde_json::from_str(&kubectl(&["version", "-o", "json"])).expect("kubectl version JSON");
    v["serverVersion"]["gitVersion"].as_str().expect("serverVersion.gitVersion").to_string()
}

/// `helm template` of the chart (as `helm install` would render it against `kube_version`).
pub fn helm_template(release: &str, namespace: &str, kube_version: &str, extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec!["template", release, chart.to_str().unwrap(), "--namespace", namespace, "--kube-version", kube_version];
    args.extend_from_slice(extra);
    ok("helm", &args, None)
}

/// The documents of a multi-document YAML stream, without empty ones.
pub fn docs(yaml: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("invalid YAML: {e}\n{yaml}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

pub fn to_yaml(docs: &[Value]) -> String {
    docs.iter().map(|d| format!("---\n{}\n", serde_json::to_string(d).expect("JSON"))).collect()
}

pub fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

pub fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn find<'a>(docs: &'a [Value], kind_: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == kind_).collect()
}

pub fn one<'a>(docs: &'a [Value], kind_: &str) -> &'a Value {
    let found = find(docs, kind_);
    assert_eq!(found.len(), 1, "expected exactly one {kind_}, found {}", found.len());
    found[0]
}

/// A name no other test uses: `prefix-<pid>-<counter>-<time>`, a DNS label.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mut s = format!("{prefix}-{}-{}-{:x}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos);
    s.truncate(40);
    s.trim_end_matches('-').to_string()
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique(&format!("sesame-deploy-{prefix}")));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
