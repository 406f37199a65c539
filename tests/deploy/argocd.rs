//! Argo CD shows ExternalSecrets as Healthy or Degraded with its stock health check for
//! `external-secrets.io/ExternalSecret` (resource_customizations/external-secrets.io/ExternalSecret/
//! health.lua in argoproj/argo-cd). That check reads the `Ready` condition: status "True" is
//! Healthy, "False" is Degraded, both with the condition's message; without a Ready condition it
//! is Progressing. With `refreshPolicy: OnChange` it only trusts a condition whose
//! `lastTransitionTime` is not older than `status.refreshTime`. This test runs the real controller
//! and applies those rules to the status it writes.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{Namespace, install_crds, kubectl_apply};
use crate::tools::{self, kubectl};

/// Argo CD's verdict for an ExternalSecret, following its health check's rules.
fn argocd_health(es: &Value) -> (&'static str, String) {
    let status = &es["status"];
    for c in status["conditions"].as_array().into_iter().flatten() {
        let on_change = es["spec"]["refreshPolicy"] == "OnChange";
        // RFC 3339 UTC timestamps compare as strings, as the Lua check compares them.
        let fresh = c["lastTransitionTime"].as_str().unwrap_or_default() >= status["refreshTime"].as_str().unwrap_or_default();
        if c["type"] == "Ready" && (!on_change || fresh) {
            let message = c["message"].as_str().unwrap_or_default().to_string();
            match c["status"].as_str() {
                Some("True") => return ("Healthy", message),
                Some("False") => return ("Degraded", message),
                _ => return ("Unknown", message),
            }
        }
    }
    ("Progressing", "Waiting for ExternalSecret".into())
}

struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_health(ns: &str, name: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let es: Value = serde_json::from_str(&kubectl(&["get", "externalsecret", name, "-n", ns, "-o", "json"])).unwrap();
        if argocd_health(&es).0 == want {
            return es;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name}: Argo CD would show {:?}, expected {want}; status {}",
            argocd_health(&es),
            es["status"]
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn argocd_health_check_reads_sesames_status() {
    install_crds();
    let ns = Namespace::create("dpl-argo");
    let class = tools::unique("argo");
    let _controller = Controller(
        Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(["run", "--metrics-addr", "127.0.0.1:0", "--namespace", &ns.0, "--controller-class", &class])
            .env("KUBECONFIG", &sesame_testsupport::env().kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sesame"),
    );
    let store = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "demo", "namespace": ns.0},
        "spec": {"controller": class, "provider": {"fake": {"data": [{"key": "/app/db", "value": "{\"password\":\"pw\"}"}]}}},
    });
    kubectl_apply(&store);
    let es = |name: &str, key: &str| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": ns.0},
            "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "demo", "kind": "SecretStore"},
                     "data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]},
        })
    };
    kubectl_apply(&es("good", "/app/db"));
    kubectl_apply(&es("broken", "/app/missing"));

    let good = wait_for_health(&ns.0, "good", "Healthy");
    let ready = good["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["reason"], "SecretSynced", "{ready}");
    assert!(ready["lastTransitionTime"].is_string(), "{ready}");
    assert!(good["status"]["refreshTime"].is_string(), "{}", good["status"]);

    let broken = wait_for_health(&ns.0, "broken", "Degraded");
    let (_, message) = argocd_health(&broken);
    let ready = broken["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["reason"], "SecretSyncedError", "{ready}");
    assert!(!message.is_empty(), "Argo CD shows the Ready message; it is empty: {ready}");
    assert!(!message.contains("pw"), "a value leaked into the message: {message}");
}
