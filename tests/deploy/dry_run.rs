//! Every rendered manifest is accepted by the real apiserver (server-side dry-run), after the
//! CRDs were applied for real. The ServiceMonitor and PrometheusRule are checked against
//! minimal copies of the Prometheus Operator's CRDs (see cluster.rs).
use crate::cluster::{Namespace, create_namespaces, dry_run, install_crds};
use crate::render::custom_values_file;
use crate::tools::{self, docs, helm_template, server_version};

/// On the 1.20 test apiserver a PodDisruptionBudget exists only as policy/v1beta1.
const PDB_V1BETA1: &str = "deploy/kustomize/components/pdb-policy-v1beta1";

fn needs_v1beta1_pdb() -> bool {
    let v = server_version();
    let minor: u32 = v.trim_start_matches('v').split('.').nth(1).and_then(|m| m.trim_end_matches('+').parse().ok()).unwrap_or(99);
    minor < 21
}

fn dry_run_kustomize(tree: &str) {
    install_crds();
    let ns = tools::unique("dpl-k");
    let components: &[&str] = if needs_v1beta1_pdb() { &[PDB_V1BETA1] } else { &[] };
    let out = docs(&tools::kustomize_into(tree, &ns, "", components));
    let (_guards, rest) = create_namespaces(out);
    dry_run(tree, &rest);
}

#[test]
fn kustomize_base_is_accepted_by_the_apiserver() {
    dry_run_kustomize("deploy/kustomize/base");
}

#[test]
fn kustomize_single_namespace_is_accepted_by_the_apiserver() {
    dry_run_kustomize("deploy/kustomize/overlays/single-namespace");
}

#[test]
fn kustomize_monitoring_is_accepted_by_the_apiserver() {
    dry_run_kustomize("deploy/kustomize/overlays/monitoring");
}

#[test]
fn helm_default_and_custom_installs_are_accepted_by_the_apiserver() {
    install_crds();
    let version = server_version();
    let ns = Namespace::create("dpl-h");
    let out = docs(&helm_template("sesame", &ns.0, &version, &[]));
    dry_run("helm default values", &out);

    let watched = Namespace::create("dpl-hw");
    let dir = tools::TempDir::new("values");
    let values = custom_values_file(&dir, &watched.0);
    let out = docs(&helm_template("custom", &ns.0, &version, &["-f", &values]));
    dry_run("helm custom values", &out);
}

#[test]
fn gitops_example_is_accepted_by_the_apiserver() {
    install_crds();
    // The platform tree names fixed namespaces; give them this run's names.
    let suffix = tools::unique("g");
    let rename = |text: String| {
        ["payments-dev", "payments-stg", "payments-prod", "sesame-system"]
            .iter()
            .fold(text, |t, n| t.replace(n, &format!("{n}-{suffix}")))
    };
    let platform = docs(&rename(tools::kustomize("examples/gitops/platform")));
    let (_guards, rest) = create_namespaces(platform);
    let provider_keys = cluster_store_provider_keys();
    for store in rest.iter().filter(|d| tools::kind(d) == "ClusterSecretStore") {
        for key in store["spec"]["provider"].as_object().expect("spec.provider").keys() {
            assert!(
                provider_keys.iter().any(|k| k == key),
                "the ClusterSecretStore CRD (crds/, from src/api/provider.rs) has no provider `{key}` yet (it has {provider_keys:?}); \
                 examples/gitops/platform cannot be applied until it does"
            );
        }
    }
    dry_run("examples/gitops/platform", &rest);
    for env in ["dev", "stg", "prod"] {
        let tree = format!("examples/gitops/apps/payments/overlays/{env}");
        let out = docs(&rename(tools::kustomize(&tree)));
        dry_run(&tree, &out);
    }
}

/// The provider keys the generated ClusterSecretStore CRD accepts.
fn cluster_store_provider_keys() -> Vec<String> {
    let text = std::fs::read_to_string(tools::repo().join("crds/external-secrets.io_clustersecretstores.yaml")).expect("CRD");
    let crd = &docs(&text)[0];
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["provider"]["properties"];
    schema.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}
