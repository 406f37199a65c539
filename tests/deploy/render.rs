//! Rendering checks that need the tools but not the apiserver: helm lint/template, the values
//! schema, kustomize builds, CRD copies, and what the rendered Deployment and RBAC contain.
use std::collections::BTreeSet;

use serde_json::Value;

use crate::tools::{self, docs, find, helm_template, kind, kustomize, name, one, repo};

/// Non-default values touching every knob (also used by the dry-run and lint).
pub const CUSTOM_VALUES: &str = r#"
image: {repository: registry.example.com/sesame, tag: "9.9.9", pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
replicaCount: 3
leaderElection: {enabled: true, id: sesame-custom-leader, leaseDuration: 20s}
controllerClass: team-a
concurrency: 4
defaultRefreshInterval: 30m
storeRequeueInterval: 1m
maxBackoff: 2m
refuseSecretStoreControllerIdentity: false
templates: {maxOutput: 1048576, timeout: 5s, maxSteps: 500000, maxMemory: 16777216, maxValue: 524288, maxConcurrentRenders: 1}
limits: {minRefreshInterval: 30s, findMaxMatches: 50, findMaxBytes: 2097152, namespaceConcurrency: 2}
log: {level: "sesame=debug,kube=info", format: text}
extraArgs: ["--coalesce-window=20ms"]
extraEnv: [{name: HTTPS_PROXY, value: "http://proxy.example.com:3128"}]
crds: {install: false}
rbac: {create: true, aggregateRoles: false}
serviceAccount: {create: true, name: sesame-custom, annotations: {example.com/role: reader}}
metrics: {port: 9090}
serviceMonitor: {enabled: true, interval: 15s, additionalLabels: {release: prom}}
prometheusRule: {enabled: true, additionalLabels: {release: prom}}
podDisruptionBudget: {enabled: true, minAvailable: 2, apiVersion: policy/v1beta1}
resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 128Mi}}
podAnnotations: {example.com/scrape: "true"}
podLabels: {team: platform}
priorityClassName: system-cluster-critical
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: platform, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}]}}}
"#;

pub fn custom_values_file(dir: &tools::TempDir, watch_namespace: &str) -> String {
    let text = format!("{CUSTOM_VALUES}watchNamespace: {watch_namespace}\n");
    dir.file("custom-values.yaml", &text).to_string_lossy().into_owned()
}

#[test]
fn helm_lint_passes_with_default_and_custom_values() {
    let dir = tools::TempDir::new("lint");
    let chart = tools::chart();
    let chart = chart.to_str().unwrap();
    tools::ok("helm", &["lint", "--strict", chart], None);
    let values = custom_values_file(&dir, "apps");
    // --strict turns helm's deprecation warning for a forced policy/v1beta1 PDB into a failure;
    // that value is checked by helm_custom_values_reach_the_manifests.
    tools::ok("helm", &["lint", "--strict", chart, "-f", &values, "--set", "podDisruptionBudget.apiVersion=policy/v1"], None);
}

#[test]
fn helm_default_install_is_the_documented_one() {
    let out = docs(&helm_template("sesame", "sesame-system", "v1.33.0", &[]));
    let crds: BTreeSet<String> = find(&out, "CustomResourceDefinition").into_iter().map(|c| name(c).to_string()).collect();
    assert_eq!(crds, generated_crd_names(), "the default install ships every CRD of crds/");
    for crd in find(&out, "CustomResourceDefinition") {
        assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep", "CRDs survive helm uninstall");
    }
    check_deployment(one(&out, "Deployment"), 2);
    let args = strings(&one(&out, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]);
    for limit in ["--min-refresh-interval=10s", "--find-max-matches=500", "--find-max-bytes=1048576", "--namespace-concurrency=4"] {
        assert!(args.contains(&limit.to_string()), "the default limits are passed as integers: {limit} not in {args:?}");
    }
    assert_eq!(one(&out, "PodDisruptionBudget")["apiVersion"], "policy/v1", "policy/v1 from Kubernetes 1.21");
    assert_eq!(one(&out, "PodDisruptionBudget")["spec"]["maxUnavailable"], 1);
    assert!(find(&out, "ServiceMonitor").is_empty() && find(&out, "PrometheusRule").is_empty());
    let cluster_roles: BTreeSet<&str> = find(&out, "ClusterRole").into_iter().map(name).collect();
    assert_eq!(cluster_roles, BTreeSet::from(["sesame-controller", "sesame-edit", "sesame-view", "sesame-store-admin"]));
    check_rbac_has_no_wildcards("helm default", &out);

    // On the 1.20 test apiserver, helm picks the PDB version that exists there.
    let old = docs(&helm_template("sesame", "sesame-system", "v1.20.2", &[]));
    assert_eq!(one(&old, "PodDisruptionBudget")["apiVersion"], "policy/v1beta1");
}

#[test]
fn helm_custom_values_reach_the_manifests() {
    let dir = tools::TempDir::new("custom");
    let values = custom_values_file(&dir, "apps");
    let out = docs(&helm_template("rel", "ops", "v1.20.2", &["-f", &values]));
    assert!(find(&out, "CustomResourceDefinition").is_empty(), "crds.install=false");
    assert!(find(&out, "ClusterRole").iter().all(|r| !name(r).ends_with("-edit")), "aggregateRoles=false");
    let d = one(&out, "Deployment");
    assert_eq!(d["spec"]["replicas"], 3);
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.example.com/sesame:9.9.9");
    assert_eq!(c["imagePullPolicy"], "Always");
    let args = strings(&c["args"]);
    for a in [
        "--namespace=apps",
        "--controller-class=team-a",
        "--concurrency=4",
        "--log-format=text",
        "--log-level=sesame=debug,kube=info",
        "--leader-election-id=sesame-custom-leader",
        "--leader-election-lease-duration=20s",
        "--metrics-addr=0.0.0.0:9090",
        "--coalesce-window=20ms",
        "--default-refresh-interval=30m",
        "--refuse-secretstore-controller-identity=false",
        "--template-max-output=1048576",
        "--template-timeout=5s",
        "--template-max-steps=500000",
        "--template-max-memory=16777216",
        "--template-max-value=524288",
        "--max-concurrent-renders=1",
        "--min-refresh-interval=30s",
        "--find-max-matches=50",
        "--find-max-bytes=2097152",
        "--namespace-concurrency=2",
    ] {
        assert!(args.contains(&a.to_string()), "missing {a} in {args:?}");
    }
    check_flags_exist(&args);
    assert_eq!(pod["serviceAccountName"], "sesame-custom");
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert!(pod["affinity"]["nodeAffinity"].is_object());
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(d["spec"]["template"]["metadata"]["annotations"]["example.com/scrape"], "true");
    assert_eq!(c["env"][1]["name"], "HTTPS_PROXY");
    assert_eq!(one(&out, "PodDisruptionBudget")["apiVersion"], "policy/v1beta1");
    assert_eq!(one(&out, "PodDisruptionBudget")["spec"]["minAvailable"], 2);
    assert_eq!(one(&out, "ServiceMonitor")["metadata"]["labels"]["release"], "prom");
    assert_eq!(one(&out, "PrometheusRule")["metadata"]["labels"]["release"], "prom");
    // watchNamespace: the controller's grants are a Role in that namespace.
    let role = find(&out, "Role").into_iter().find(|r| name(r) == "rel-sesame-controller").expect("controller Role");
    assert_eq!(role["metadata"]["namespace"], "apps");
    assert!(find(&out, "ClusterRole").iter().all(|r| name(r) != "rel-sesame-controller"));
    check_rbac_has_no_wildcards("helm custom", &out);
}

#[test]
fn helm_schema_refuses_bad_values() {
    let chart = tools::chart();
    for (bad, expect) in [
        ("replicaCount=two", "replicaCount"),
        ("log.format=xml", "format"),
        ("replicas=2", "replicas"),
        ("defaultRefreshInterval=1 hour", "defaultRefreshInterval"),
        ("podDisruptionBudget.apiVersion=policy/v2", "apiVersion"),
        ("watchNamespace=Not_A_Namespace", "watchNamespace"),
    ] {
        let out = tools::run("helm", &["template", "x", chart.to_str().unwrap(), "--set", bad], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "helm accepted the bad value {bad}");
        assert!(stderr.contains("schema") || stderr.contains(expect), "refusal of {bad} does not name the problem: {stderr}");
        assert!(stderr.contains(expect), "refusal of {bad} does not mention {expect}: {stderr}");
    }
}

#[test]
fn kustomize_builds_every_tree() {
    for tree in tools::KUSTOMIZE_TREES.iter().chain(tools::GITOPS_TREES) {
        let out = docs(&kustomize(tree));
        assert!(!out.is_empty(), "{tree} renders nothing");
        check_rbac_has_no_wildcards(tree, &out);
    }
    // Moved into another namespace with a name suffix (as a user's overlay would), every binding
    // still names the ServiceAccount and role that are rendered.
    for tree in tools::KUSTOMIZE_TREES {
        let moved = docs(&tools::kustomize_into(tree, "elsewhere", "x1", &[]));
        check_bindings_resolve(tree, &moved);
    }
    check_bindings_resolve("helm", &docs(&helm_template("r", "ops", "v1.33.0", &[])));
    let base = docs(&kustomize("deploy/kustomize/base"));
    check_deployment(one(&base, "Deployment"), 2);
    assert_eq!(one(&base, "PodDisruptionBudget")["apiVersion"], "policy/v1");
    let single = docs(&kustomize("deploy/kustomize/overlays/single-namespace"));
    assert!(find(&single, "ClusterRole").iter().all(|r| name(r) != "sesame-controller"), "single-namespace drops the ClusterRole");
    let env = &one(&single, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env.as_array().unwrap().iter().any(|e| e["name"] == "SESAME_NAMESPACE"), "single-namespace sets SESAME_NAMESPACE");
    let monitoring = docs(&kustomize("deploy/kustomize/overlays/monitoring"));
    for k in ["ServiceMonitor", "PrometheusRule", "ConfigMap"] {
        one(&monitoring, k);
    }
}

#[test]
fn gitops_overlays_change_only_store_interval_and_key_prefix() {
    let base = docs(&kustomize("examples/gitops/apps/payments/base"));
    for env in ["dev", "stg", "prod"] {
        let out = docs(&kustomize(&format!("examples/gitops/apps/payments/overlays/{env}")));
        assert_eq!(out.len(), base.len(), "{env}: the environment ConfigMap is local-config and never rendered");
        for es in &out {
            assert_eq!(kind(es), "ExternalSecret");
            let b = base.iter().find(|b| name(b) == name(es)).expect("same objects as the base");
            let mut expected = b.clone();
            expected["metadata"]["namespace"] = Value::from(format!("payments-{env}"));
            expected["spec"]["secretStoreRef"]["name"] = Value::from(format!("vault-{env}"));
            expected["spec"]["refreshInterval"] = es["spec"]["refreshInterval"].clone();
            let text = serde_json::to_string(&expected).unwrap().replace("\"env/payments/", &format!("\"{env}/payments/"));
            assert_eq!(
                es,
                &serde_json::from_str::<Value>(&text).unwrap(),
                "{env}: {} differs in more than store/interval/prefix",
                name(es)
            );
        }
    }
    // No secret value anywhere in the GitOps tree: no Secret objects, no inline values.
    for tree in tools::GITOPS_TREES {
        let out = docs(&kustomize(tree));
        assert!(find(&out, "Secret").is_empty(), "{tree} holds a Secret");
        let text = serde_json::to_string(&out).unwrap();
        for needle in ["\"data\":{", "stringData", "\"value\":", "\"token\"", "password\":\""] {
            assert!(!text.contains(needle), "{tree} contains {needle}");
        }
    }
}

fn numbers_as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_floats).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), numbers_as_floats(v))).collect()),
        other => other.clone(),
    }
}

/// The names of the CRDs in crds/ (`<plural>.<group>`), from the file names `<group>_<plural>.yaml`.
fn generated_crd_names() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("crds"))
        .unwrap()
        .filter_map(|e| {
            let file = e.unwrap().file_name().to_string_lossy().into_owned();
            let (group, plural) = file.strip_suffix(".yaml")?.split_once('_')?;
            Some(format!("{plural}.{group}"))
        })
        .collect()
}

#[test]
fn chart_crds_are_identical_to_the_generated_ones() {
    let repo_crds = repo().join("crds");
    let chart_crds = tools::chart().join("files/crds");
    let list = |dir: &std::path::Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
            .collect()
    };
    assert_eq!(list(&repo_crds), list(&chart_crds), "deploy/helm/sesame/files/crds lists other files than crds/");
    for f in list(&repo_crds) {
        let a = std::fs::read(repo_crds.join(&f)).unwrap();
        let b = std::fs::read(chart_crds.join(&f)).unwrap();
        assert!(a == b, "deploy/helm/sesame/files/crds/{f} differs from crds/{f}: cp crds/*.yaml deploy/helm/sesame/files/crds/");
    }
    // What helm renders from them is the same CRD (only labels/annotations added).
    let out = docs(&helm_template("sesame", "sesame-system", "v1.33.0", &["--show-only", "templates/crds.yaml"]));
    for crd in &out {
        let (plural, group) = name(crd).split_once('.').unwrap();
        let file = repo_crds.join(format!("{group}_{plural}.yaml"));
        let original = &docs(&std::fs::read_to_string(&file).unwrap())[0];
        // Helm's YAML round trip writes `8192.0` (k8s-openapi's float bounds) as `8192`: compare numbers by value.
        assert_eq!(numbers_as_floats(&crd["spec"]), numbers_as_floats(&original["spec"]), "helm changed the spec of {}", name(crd));
    }
}

/// The Deployment carries what HA and the restricted profile need.
pub fn check_deployment(d: &Value, replicas: u64) {
    assert_eq!(d["spec"]["replicas"], replicas);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["containers"][0];
    let args = strings(&c["args"]);
    assert_eq!(args.first().map(String::as_str), Some("run"));
    assert!(args.contains(&"--enable-leader-election".to_string()), "{args:?}");
    check_flags_exist(&args);
    let pod_name = c["env"].as_array().unwrap().iter().find(|e| e["name"] == "POD_NAME").expect("POD_NAME");
    assert_eq!(pod_name["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
}

/// Every `--flag` passed to `sesame run` exists in src/cli.rs.
fn check_flags_exist(args: &[String]) {
    let cli = std::fs::read_to_string(repo().join("src/cli.rs")).expect("src/cli.rs");
    let re = regex::Regex::new(r"pub (\w+): ").unwrap();
    let flags: BTreeSet<String> = re.captures_iter(&cli).map(|c| format!("--{}", c[1].replace('_', "-"))).collect();
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let flag = a.split('=').next().unwrap();
        assert!(flags.contains(flag), "{flag} is not a flag of sesame (src/cli.rs has {flags:?})");
    }
}

/// No `*` in any rule of any Role or ClusterRole.
pub fn check_rbac_has_no_wildcards(what: &str, docs: &[Value]) {
    for r in docs.iter().filter(|d| kind(d) == "Role" || kind(d) == "ClusterRole") {
        for rule in r["rules"].as_array().into_iter().flatten() {
            for field in ["apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"] {
                for v in rule[field].as_array().into_iter().flatten() {
                    assert!(!v.as_str().unwrap_or_default().contains('*'), "{what}: {} {} has a wildcard in {field}", kind(r), name(r));
                }
            }
        }
    }
}

/// Every RoleBinding/ClusterRoleBinding names a rendered role (or a built-in one) and the
/// rendered ServiceAccount in its namespace.
fn check_bindings_resolve(what: &str, docs: &[Value]) {
    let sas: BTreeSet<(String, String)> = find(docs, "ServiceAccount")
        .into_iter()
        .map(|sa| (sa["metadata"]["namespace"].as_str().unwrap_or_default().to_string(), name(sa).to_string()))
        .collect();
    assert!(!sas.is_empty(), "{what}: no ServiceAccount");
    for b in docs.iter().filter(|d| kind(d) == "RoleBinding" || kind(d) == "ClusterRoleBinding") {
        let role_kind = b["roleRef"]["kind"].as_str().unwrap();
        let role = b["roleRef"]["name"].as_str().unwrap();
        assert!(
            docs.iter().any(|d| kind(d) == role_kind && name(d) == role),
            "{what}: {} {} refers to a {role_kind} {role} that is not rendered",
            kind(b),
            name(b)
        );
        for s in b["subjects"].as_array().expect("subjects") {
            let key = (s["namespace"].as_str().unwrap_or_default().to_string(), s["name"].as_str().unwrap_or_default().to_string());
            assert!(sas.contains(&key), "{what}: {} {} binds ServiceAccount {key:?}, rendered are {sas:?}", kind(b), name(b));
        }
    }
}
