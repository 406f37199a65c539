//! Objects this test really creates on the apiserver: the CRDs, minimal monitoring CRDs,
//! namespaces (deleted on drop), and server-side dry-runs.
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::tools::{self, TempDir, kind, kubectl, name};

static CRDS: Mutex<bool> = Mutex::new(false);

/// Applies the repository's crds/ for real (server-side, idempotent) and waits until they are
/// established, once per test process.
pub fn install_crds() {
    let mut done = CRDS.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let crds = tools::repo().join("crds");
    kubectl(&["apply", "--server-side", "--force-conflicts", "--field-manager=sesame-deploy-test", "-f", &crds.to_string_lossy()]);
    install_monitoring_crds();
    kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/externalsecrets.external-secrets.io",
        "crd/secretstores.external-secrets.io",
        "crd/clustersecretstores.external-secrets.io",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com",
    ]);
    *done = true;
}

/// The test apiserver has no Prometheus Operator. These are minimal stand-ins for its
/// ServiceMonitor and PrometheusRule CRDs: the real group/version/kind and the fields Sesame's
/// manifests use, typed as in the operator's schema (unknown fields are kept, not validated).
fn install_monitoring_crds() {
    let crd = |plural: &str, kind_: &str, spec: Value| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": format!("{plural}.monitoring.coreos.com"),
                "labels": {"sesame.test/minimal-copy": "true"},
            },
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {"plural": plural, "singular": plural.trim_end_matches('s'), "kind": kind_, "listKind": format!("{kind_}List")},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}},
                }],
            },
        })
    };
    let keep = json!(true);
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let service_monitor = json!({
        "type": "object", "required": ["selector", "endpoints"], "x-kubernetes-preserve-unknown-fields": keep,
        "properties": {
            "selector": {"type": "object", "x-kubernetes-preserve-unknown-fields": keep},
            "endpoints": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": keep, "properties": {
                "port": {"type": "string"}, "path": {"type": "string"}, "interval": {"type": "string"}, "scrapeTimeout": {"type": "string"},
            }}},
        },
    });
    let prometheus_rule = json!({
        "type": "object", "x-kubernetes-preserve-unknown-fields": keep,
        "properties": {"groups": {"type": "array", "items": {
            "type": "object", "required": ["name"], "x-kubernetes-preserve-unknown-fields": keep,
            "properties": {"name": {"type": "string", "minLength": 1}, "rules": {"type": "array", "items": {
                "type": "object", "required": ["expr"],
                "properties": {
                    "alert": {"type": "string"}, "record": {"type": "string"},
                    "expr": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
                    "for": {"type": "string"}, "labels": string_map, "annotations": string_map,
                },
            }}},
        }}},
    });
    let docs = [crd("servicemonitors", "ServiceMonitor", service_monitor), crd("prometheusrules", "PrometheusRule", prometheus_rule)];
    tools::kubectl_stdin(
        &["apply", "--server-side", "--force-conflicts", "--field-manager=sesame-deploy-test", "-f", "-"],
        &tools::to_yaml(&docs),
    );
}

/// A namespace that exists for the guard's lifetime.
pub struct Namespace(pub String);

impl Namespace {
    pub fn create(prefix: &str) -> Namespace {
        let ns = tools::unique(prefix);
        kubectl(&["create", "namespace", &ns]);
        Namespace(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = tools::run("kubectl", &["delete", "namespace", &self.0, "--wait=false"], None);
    }
}

/// Cluster-scoped objects deleted on drop (`kind/name`).
#[derive(Default)]
pub struct ClusterObjects(pub Vec<String>);

impl Drop for ClusterObjects {
    fn drop(&mut self) {
        for o in &self.0 {
            let _ = tools::run("kubectl", &["delete", o, "--ignore-not-found", "--wait=false"], None);
        }
    }
}

/// `kubectl apply --dry-run=server` of every document; panics with the apiserver's answer when
/// any is refused, and checks that each was accepted by name. CustomResourceDefinitions are left
/// out: they are the generated ones (checked byte for byte and by
/// `generated_crds_are_accepted_by_the_apiserver`), applied for real by `install_crds`.
pub fn dry_run(what: &str, docs: &[Value]) {
    install_crds();
    let docs: Vec<Value> = docs.iter().filter(|d| kind(d) != "CustomResourceDefinition").cloned().collect();
    let docs = &docs[..];
    let dir = TempDir::new("dry-run");
    let file = dir.file("manifests.yaml", &tools::to_yaml(docs));
    let out = tools::run("kubectl", &["apply", "--dry-run=server", "-o", "json", "-f", &file.to_string_lossy()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: the apiserver refused a manifest in a server-side dry-run:\n{}\naccepted:\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{what}: kubectl's answer is not JSON ({e}): {stdout}"));
    let accepted: Vec<Value> = match answer["items"].as_array() {
        Some(items) => items.clone(),
        None => vec![answer.clone()],
    };
    for d in docs {
        let got = accepted
            .iter()
            .find(|a| kind(a) == kind(d) && name(a) == name(d))
            .unwrap_or_else(|| panic!("{what}: {} {} missing from the dry-run's answer", kind(d), name(d)));
        // The apiserver silently prunes fields its schema does not know; every field we wrote
        // must come back (defaults may be added).
        if let Err(path) = subset(&d["spec"], &got["spec"], "spec") {
            panic!("{what}: the apiserver dropped or changed {path} of {} {}:\nsent {}\ngot  {}", kind(d), name(d), d["spec"], got["spec"]);
        }
    }
}

/// Whether everything in `sent` is in `got` (objects may have more keys), else the first path
/// that differs.
fn subset(sent: &Value, got: &Value, path: &str) -> Result<(), String> {
    match (sent, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                subset(v, b.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().try_for_each(|(i, (x, y))| subset(x, y, &format!("{path}[{i}]")))
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        (a, b) if a == b => Ok(()),
        _ => Err(path.to_string()),
    }
}

/// Splits off Namespace documents, creating them for real (guards returned), to dry-run the rest
/// in them: a dry-run Namespace does not exist for the objects that follow it.
pub fn create_namespaces(docs: Vec<Value>) -> (Vec<Namespace>, Vec<Value>) {
    let (namespaces, rest): (Vec<Value>, Vec<Value>) = docs.into_iter().partition(|d| kind(d) == "Namespace");
    let guards = namespaces
        .iter()
        .map(|ns| {
            kubectl_apply(ns);
            Namespace(name(ns).to_string())
        })
        .collect();
    (guards, rest)
}

/// Really applies one document.
pub fn kubectl_apply(doc: &Value) {
    tools::kubectl_stdin(&["apply", "-f", "-"], &tools::to_yaml(std::slice::from_ref(doc)));
}
