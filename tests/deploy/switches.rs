//! The chart's opt-in switches that change what the controller may do or what the CRDs hold:
//! `genericTargets` (the flag and exactly the RBAC it needs, chart and kustomize component) and
//! `crds.selectableFields` (ESO's selectableFields for Kubernetes >= 1.30).
use serde_json::Value;

use crate::tools::{self, docs, find, helm_template, kind, name, one, repo};

const GENERIC: &str = "deploy/kustomize/components/generic-targets";
const FLAG: &str = "--unsafe-allow-generic-targets";
const ROLLOUT: &str = "deploy/kustomize/components/rollout-restart";

fn args(out: &[Value]) -> Vec<String> {
    let d = one(out, "Deployment");
    d["spec"]["template"]["spec"]["containers"][0]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

/// The rules of the generic-targets role (ClusterRole or Role), if rendered.
fn generic_rules(out: &[Value]) -> Option<Value> {
    out.iter().find(|d| matches!(kind(d), "ClusterRole" | "Role") && name(d).ends_with("generic-targets")).map(|r| r["rules"].clone())
}

const VERBS: [&str; 6] = ["get", "list", "watch", "create", "patch", "delete"];

#[test]
fn generic_targets_are_off_by_default_and_the_switch_grants_exactly_the_listed_kinds() {
    let default = docs(&helm_template("rel", "ops", "v1.20.2", &[]));
    assert!(!args(&default).contains(&FLAG.to_string()), "off by default");
    assert_eq!(generic_rules(&default), None, "no grant by default");

    let dir = tools::TempDir::new("generic");
    let values = dir.file(
        "values.yaml",
        "genericTargets:\n  enabled: true\n  resources:\n    - {apiGroups: [\"\"], resources: [configmaps]}\n    - {apiGroups: [example.io], resources: [databases]}\n",
    );
    let on = docs(&helm_template("rel", "ops", "v1.20.2", &["-f", &values.to_string_lossy()]));
    assert!(args(&on).contains(&FLAG.to_string()), "{:?}", args(&on));
    let rules = generic_rules(&on).expect("the generic-targets ClusterRole");
    let want = serde_json::json!([
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": VERBS},
        {"apiGroups": ["example.io"], "resources": ["databases"], "verbs": VERBS},
    ]);
    assert_eq!(rules, want, "get/list/watch to see drift, create/patch by server-side apply, delete for deletionPolicy Delete");
    let binding = find(&on, "ClusterRoleBinding").into_iter().find(|b| name(b) == "rel-sesame-generic-targets").expect("its binding");
    assert_eq!(binding["roleRef"]["name"], "rel-sesame-generic-targets");
    crate::render::check_rbac_has_no_wildcards("helm genericTargets", &on);

    // A single-namespace install grants them in that namespace only.
    let scoped = docs(&helm_template("rel", "ops", "v1.20.2", &["-f", &values.to_string_lossy(), "--set", "watchNamespace=apps"]));
    let role = find(&scoped, "Role").into_iter().find(|r| name(r) == "rel-sesame-generic-targets").expect("a Role");
    assert_eq!(role["metadata"]["namespace"], "apps");

    // The schema refuses a wildcard.
    let bad = tools::run(
        "helm",
        &[
            "template",
            "rel",
            tools::chart().to_str().unwrap(),
            "--set",
            "genericTargets.enabled=true",
            "--set",
            "genericTargets.resources[0].apiGroups[0]=*",
            "--set",
            "genericTargets.resources[0].resources[0]=*",
        ],
        None,
    );
    assert!(!bad.status.success(), "a wildcard resource must be refused by values.schema.json");
}

#[test]
fn the_kustomize_generic_targets_component_passes_the_flag_and_grants_config_maps() {
    let out = docs(&tools::kustomize_into("deploy/kustomize/base", "sesame-system", "", &[GENERIC]));
    assert!(args(&out).contains(&FLAG.to_string()));
    assert_eq!(args(&out)[0], "run", "the flag is appended to `run`'s arguments");
    let rules = generic_rules(&out).expect("the component's ClusterRole");
    assert_eq!(rules, serde_json::json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": VERBS}]));
    let base = docs(&tools::kustomize("deploy/kustomize/base"));
    assert!(!args(&base).contains(&FLAG.to_string()) && generic_rules(&base).is_none(), "the base has neither");
}

#[test]
fn the_kustomize_rollout_restart_component_binds_the_service_account_of_the_overlays_namespace() {
    let binding = |out: &[Value]| -> Value {
        find(out, "ClusterRoleBinding").into_iter().find(|b| name(b).starts_with("sesame-rollout-restart")).expect("the binding").clone()
    };
    for namespace in ["sesame-system", "secrets-operator"] {
        let out = docs(&tools::kustomize_into("deploy/kustomize/base", namespace, "", &[ROLLOUT]));
        let sa = one(&out, "ServiceAccount");
        assert_eq!(sa["metadata"]["namespace"], namespace);
        let subjects = binding(&out)["subjects"].clone();
        assert_eq!(subjects, serde_json::json!([{"kind": "ServiceAccount", "name": name(sa), "namespace": namespace}]), "{namespace}");
    }
    // An overlay that keeps the base's namespace (no `namespace:` of its own) works too.
    let dir = tools::TempDir::new("rollout");
    let rel = |p: &str| tools::relative_to(dir.path(), &repo().join(p));
    let overlay = format!("resources:\n  - {}\ncomponents:\n  - {}\n", rel("deploy/kustomize/base"), rel(ROLLOUT));
    dir.file("kustomization.yaml", &overlay);
    let out = docs(&tools::kubectl(&["kustomize", &dir.path().to_string_lossy()]));
    assert_eq!(binding(&out)["subjects"][0]["namespace"], "sesame-system");
}

#[test]
fn crds_selectable_fields_switch_installs_the_external_secret_crd_that_has_them() {
    let crd_of = |out: &[Value]| -> Value {
        find(out, "CustomResourceDefinition")
            .into_iter()
            .find(|c| name(c) == "externalsecrets.external-secrets.io")
            .expect("ES CRD")
            .clone()
    };
    let paths = |crd: &Value| -> Vec<String> {
        crd["spec"]["versions"][0]["selectableFields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f["jsonPath"].as_str().unwrap().to_string())
            .collect()
    };
    let default = docs(&helm_template("rel", "ops", "v1.20.2", &["--show-only", "templates/crds.yaml"]));
    assert!(paths(&crd_of(&default)).is_empty(), "the default CRDs apply on Kubernetes 1.20");
    let on = docs(&helm_template("rel", "ops", "v1.30.0", &["--show-only", "templates/crds.yaml", "--set", "crds.selectableFields=true"]));
    assert_eq!(
        paths(&crd_of(&on)),
        [".spec.secretStoreRef.name", ".spec.secretStoreRef.kind", ".spec.target.name", ".spec.refreshInterval"]
    );
    assert_eq!(on.len(), default.len(), "the same CRDs, one of them replaced");
    assert_eq!(crd_of(&on)["metadata"]["annotations"]["helm.sh/resource-policy"], "keep", "the chart's labels and annotations still apply");
    // ESO's CEL rule on the AWS store's customSessionTags comes with the same switch.
    let rules = |out: &[Value], kind: &str| -> Value {
        let crd = find(out, "CustomResourceDefinition").into_iter().find(|c| c["spec"]["names"]["kind"] == kind).expect("CRD").clone();
        let aws =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["provider"]["properties"]["aws"];
        aws["properties"]["customSessionTags"]["x-kubernetes-validations"].clone()
    };
    for kind in ["SecretStore", "ClusterSecretStore"] {
        assert_eq!(rules(&default, kind), Value::Null, "the default {kind} CRD applies on Kubernetes 1.20");
        assert!(rules(&on, kind)[0]["rule"].as_str().is_some_and(|r| r.contains("'esoNamespace' in self")), "{kind}");
    }
    // The chart's copies are the generated ones.
    let mut files: Vec<String> = std::fs::read_dir(repo().join("crds/selectable-fields"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in files {
        let generated = std::fs::read(repo().join("crds/selectable-fields").join(&file)).unwrap();
        let copy = std::fs::read(tools::chart().join("files/crds-selectable-fields").join(&file)).unwrap_or_default();
        assert!(generated == copy, "{file}: cp crds/selectable-fields/*.yaml deploy/helm/sesame/files/crds-selectable-fields/");
    }
}
