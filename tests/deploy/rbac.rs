//! RBAC, really applied and checked by impersonation (`kubectl --as`, `kubectl auth can-i --as`).
//!
//! Each test applies the roles under its own names (a kustomize nameSuffix) in its own
//! namespaces and removes them afterwards.
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{ClusterObjects, Namespace, install_crds, kubectl_apply};
use crate::tools::{self, docs, kind, name};

const ES: &str = "externalsecrets.external-secrets.io";
const SS: &str = "secretstores.external-secrets.io";
const CSS: &str = "clustersecretstores.external-secrets.io";
const CES: &str = "clusterexternalsecrets.external-secrets.io";
const PS: &str = "pushsecrets.external-secrets.io";
const CPS: &str = "clusterpushsecrets.external-secrets.io";
/// Generator objects the controller reads (operator objects: never in `edit`/`view`).
const GENERATORS: &[&str] = &[
    "passwords.generators.external-secrets.io",
    "uuids.generators.external-secrets.io",
    "fakes.generators.external-secrets.io",
    "sshkeys.generators.external-secrets.io",
    "mfas.generators.external-secrets.io",
    "ecrauthorizationtokens.generators.external-secrets.io",
    "stssessiontokens.generators.external-secrets.io",
    "vaultdynamicsecrets.generators.external-secrets.io",
    "githubaccesstokens.generators.external-secrets.io",
    "gitlabdeploytokens.generators.external-secrets.io",
    "quayaccesstokens.generators.external-secrets.io",
    "grafanas.generators.external-secrets.io",
    "cloudsmithaccesstokens.generators.external-secrets.io",
    "webhooks.generators.external-secrets.io",
    "gcraccesstokens.generators.external-secrets.io",
    "acraccesstokens.generators.external-secrets.io",
];
const CLUSTER_GENERATORS: &str = "clustergenerators.generators.external-secrets.io";
const GENERATOR_STATES: &str = "generatorstates.generators.external-secrets.io";

/// Where a question is asked.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Ns(&'a str),
    AllNamespaces,
    Cluster,
}

fn can_i(user: &str, verb: &str, resource: &str, scope: Scope, subresource: Option<&str>) -> bool {
    let mut args = vec!["auth", "can-i", verb, resource, "--as", user];
    match scope {
        Scope::Ns(ns) => args.extend(["-n", ns]),
        Scope::AllNamespaces => args.push("-A"),
        Scope::Cluster => {}
    }
    let sub;
    if let Some(s) = subresource {
        sub = format!("--subresource={s}");
        args.push(&sub);
    }
    let out = tools::run("kubectl", &args, None);
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => panic!("`kubectl {}` answered {other:?}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)),
    }
}

/// Really reads the Namespace object as `user`. A Namespace is cluster-scoped, but a request for
/// the Namespace object itself is authorized in that namespace, so a RoleBinding there grants it.
fn can_i_get_namespace(user: &str, namespace: &str) -> bool {
    let out = tools::run("kubectl", &["get", "namespace", namespace, "--as", user, "-o", "name"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() || stderr.contains("forbidden"), "kubectl get namespace {namespace} --as {user}: {stderr}");
    out.status.success()
}

fn expect(user: &str, allowed: bool, verb: &str, resource: &str, scope: Scope, subresource: Option<&str>) {
    let where_ = match scope {
        Scope::Ns(ns) => format!("in {ns}"),
        Scope::AllNamespaces => "in all namespaces".into(),
        Scope::Cluster => "cluster-wide".into(),
    };
    let sub = subresource.map(|s| format!("/{s}")).unwrap_or_default();
    assert_eq!(
        can_i(user, verb, resource, scope, subresource),
        allowed,
        "{user} {} {verb} {resource}{sub} {where_}",
        if allowed { "should be allowed to" } else { "must not be allowed to" }
    );
}

/// Renders `tree` into `namespace` with names suffixed, applies its RBAC objects for real and
/// returns the controller's ServiceAccount user name plus a guard for the cluster-scoped objects.
fn apply_rbac(tree: &str, namespace: &str, suffix: &str) -> (String, ClusterObjects) {
    apply_rbac_with(tree, namespace, suffix, &[])
}

/// [`apply_rbac`] with kustomize components added.
fn apply_rbac_with(tree: &str, namespace: &str, suffix: &str, components: &[&str]) -> (String, ClusterObjects) {
    install_crds();
    let out = docs(&tools::kustomize_into(tree, namespace, suffix, components));
    let mut cluster = ClusterObjects::default();
    let mut sa = None;
    for d in &out {
        match kind(d) {
            "ServiceAccount" | "Role" | "RoleBinding" => {}
            "ClusterRole" | "ClusterRoleBinding" => cluster.0.push(format!("{}/{}", kind(d).to_lowercase(), name(d))),
            _ => continue,
        }
        if kind(d) == "ServiceAccount" {
            sa = Some(name(d).to_string());
        }
        kubectl_apply(d);
    }
    let sa = sa.expect("a ServiceAccount in the tree");
    (format!("system:serviceaccount:{namespace}:{sa}"), cluster)
}

fn create_as(user: &str, namespace: &str, doc: &Value) -> Result<String, String> {
    let out =
        tools::run("kubectl", &["create", "--as", user, "-n", namespace, "-f", "-"], Some(&tools::to_yaml(std::slice::from_ref(doc))));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn bind(namespace: &str, role_kind: &str, role: &str, user: &str) {
    kubectl_apply(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": format!("{}-{}", role.trim_start_matches("sesame-"), user.len()), "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }));
}

#[test]
fn developer_with_edit_writes_externalsecrets_but_not_stores() {
    let ctrl = Namespace::create("dpl-rbac");
    let suffix = tools::unique("r");
    let (_sa, _cluster) = apply_rbac("deploy/kustomize/base", &ctrl.0, &suffix);
    let dev_ns = Namespace::create("dpl-dev");
    let dev = format!("dev-{suffix}");
    bind(&dev_ns.0, "ClusterRole", "edit", &dev);

    // The built-in `edit` role picks sesame-edit up through the clusterrole-aggregation
    // controller of kube-controller-manager.
    let start = Instant::now();
    while !can_i(&dev, "create", ES, Scope::Ns(&dev_ns.0), None) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "after 60 s the built-in `edit` ClusterRole still does not grant ExternalSecrets: is kube-controller-manager \
             running the clusterrole-aggregation controller (--controllers=...,clusterrole-aggregation)?\nedit = {}",
            tools::kubectl(&["get", "clusterrole", "edit", "-o", "json"])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for verb in ["get", "list", "watch", "update", "patch", "delete"] {
        expect(&dev, true, verb, ES, Scope::Ns(&dev_ns.0), None);
        expect(&dev, true, verb, PS, Scope::Ns(&dev_ns.0), None);
    }
    expect(&dev, false, "create", SS, Scope::Ns(&dev_ns.0), None);
    expect(&dev, false, "update", SS, Scope::Ns(&dev_ns.0), None);
    expect(&dev, false, "create", CSS, Scope::Cluster, None);
    expect(&dev, false, "create", CES, Scope::Cluster, None);
    expect(&dev, false, "create", CPS, Scope::Cluster, None);
    expect(&dev, false, "create", ES, Scope::Ns(&ctrl.0), None);
    // Generators are operator objects: `edit` neither writes nor reads them.
    for g in GENERATORS.iter().copied().chain([GENERATOR_STATES]) {
        expect(&dev, false, "create", g, Scope::Ns(&dev_ns.0), None);
        expect(&dev, false, "get", g, Scope::Ns(&dev_ns.0), None);
    }
    expect(&dev, false, "create", CLUSTER_GENERATORS, Scope::Cluster, None);

    // Really, as the developer.
    let es = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "app"},
        "spec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
                 "data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]},
    });
    create_as(&dev, &dev_ns.0, &es).unwrap_or_else(|e| panic!("a developer with edit cannot create an ExternalSecret: {e}"));
    let store = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "mine"},
        "spec": {"provider": {"fake": {"data": []}}},
    });
    let refused = create_as(&dev, &dev_ns.0, &store).expect_err("a developer with edit created a SecretStore");
    assert!(refused.contains("forbidden"), "{refused}");
    let mut cluster_store = store.clone();
    cluster_store["kind"] = json!("ClusterSecretStore");
    cluster_store["metadata"]["name"] = json!(format!("mine-{suffix}"));
    let refused = create_as(&dev, &dev_ns.0, &cluster_store).expect_err("a developer with edit created a ClusterSecretStore");
    assert!(refused.contains("forbidden"), "{refused}");

    // An operator bound to sesame-store-admin in the namespace manages its stores.
    let ops = format!("ops-{suffix}");
    bind(&dev_ns.0, "ClusterRole", &format!("sesame-store-admin-{suffix}"), &ops);
    expect(&ops, true, "create", SS, Scope::Ns(&dev_ns.0), None);
    expect(&ops, false, "create", ES, Scope::Ns(&dev_ns.0), None);
    // `view` shows ExternalSecrets but does not write them.
    let viewer = format!("viewer-{suffix}");
    bind(&dev_ns.0, "ClusterRole", "view", &viewer);
    let start = Instant::now();
    while !can_i(&viewer, "list", ES, Scope::Ns(&dev_ns.0), None) {
        assert!(start.elapsed() < Duration::from_secs(60), "`view` never aggregated sesame-view");
        std::thread::sleep(Duration::from_millis(500));
    }
    expect(&viewer, false, "create", ES, Scope::Ns(&dev_ns.0), None);
    for &g in GENERATORS {
        expect(&viewer, false, "list", g, Scope::Ns(&dev_ns.0), None);
    }
}

#[test]
fn controller_service_account_can_do_its_job_and_no_more() {
    let ctrl = Namespace::create("dpl-ctl");
    let suffix = tools::unique("c");
    let (sa, _cluster) = apply_rbac("deploy/kustomize/base", &ctrl.0, &suffix);
    let all = Scope::AllNamespaces;
    let app = Scope::Ns("default");
    let own = Scope::Ns(&ctrl.0);
    for r in [ES, SS] {
        for verb in ["get", "list", "watch"] {
            expect(&sa, true, verb, r, all, None);
        }
        expect(&sa, true, "patch", r, all, Some("status"));
    }
    for verb in ["get", "list", "watch"] {
        expect(&sa, true, verb, CSS, Scope::Cluster, None);
    }
    expect(&sa, true, "patch", CSS, Scope::Cluster, Some("status"));
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        expect(&sa, true, verb, "secrets", app, None);
    }
    // Server-side apply only: no update of Secrets or of any status.
    expect(&sa, false, "update", "secrets", app, None);
    for r in [ES, SS] {
        expect(&sa, false, "update", r, all, Some("status"));
    }
    expect(&sa, false, "update", CSS, Scope::Cluster, Some("status"));
    expect(&sa, true, "create", "events.events.k8s.io", app, None);
    expect(&sa, true, "create", "events", app, None);
    expect(&sa, true, "get", "serviceaccounts", app, None);
    expect(&sa, true, "create", "serviceaccounts", app, Some("token"));
    // Namespaces: a ClusterSecretStore's conditions and ClusterExternalSecret selectors.
    for verb in ["get", "list", "watch"] {
        expect(&sa, true, verb, "namespaces", Scope::Cluster, None);
        expect(&sa, true, verb, CES, Scope::Cluster, None);
        expect(&sa, true, verb, CPS, Scope::Cluster, None);
    }
    expect(&sa, true, "patch", CES, Scope::Cluster, Some("status"));
    expect(&sa, true, "patch", CPS, Scope::Cluster, Some("status"));
    // PushSecrets: read, finalizer (patch), status.
    for verb in ["get", "list", "watch", "patch"] {
        expect(&sa, true, verb, PS, all, None);
    }
    expect(&sa, true, "patch", PS, all, Some("status"));
    expect(&sa, false, "update", "namespaces", Scope::Cluster, None);
    // Template ConfigMaps are watched (metadata) so a change re-renders at once.
    for verb in ["get", "list", "watch"] {
        expect(&sa, true, verb, "configmaps", all, None);
    }
    // Generators: read and watched (an edit regenerates); GeneratorStates managed, no update.
    for verb in ["get", "list", "watch"] {
        for &g in GENERATORS {
            expect(&sa, true, verb, g, all, None);
        }
        expect(&sa, true, verb, CLUSTER_GENERATORS, Scope::Cluster, None);
    }
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        expect(&sa, true, verb, GENERATOR_STATES, app, None);
    }
    for verb in ["create", "update", "patch", "delete"] {
        expect(&sa, false, verb, GENERATORS[0], app, None);
        expect(&sa, false, verb, CLUSTER_GENERATORS, Scope::Cluster, None);
    }
    expect(&sa, true, "create", "leases.coordination.k8s.io", own, None);
    expect(&sa, true, "update", "leases.coordination.k8s.io/sesame-leader", own, None);

    // The ExternalSecrets of ClusterExternalSecrets and the PushSecrets of ClusterPushSecrets, by
    // server-side apply.
    for verb in ["create", "patch", "delete"] {
        expect(&sa, true, verb, ES, app, None);
        expect(&sa, true, verb, PS, app, None);
    }
    // What it has no business doing.
    expect(&sa, false, "update", ES, app, None);
    expect(&sa, false, "update", PS, app, None);
    for verb in ["create", "update", "patch", "delete"] {
        expect(&sa, false, verb, CES, Scope::Cluster, None);
        expect(&sa, false, verb, CPS, Scope::Cluster, None);
        expect(&sa, false, verb, SS, app, None);
        expect(&sa, false, verb, CSS, Scope::Cluster, None);
    }
    expect(&sa, false, "update", "configmaps", app, None);
    // ConfigMaps are written only with the generic-targets component (next test but one).
    expect(&sa, false, "create", "configmaps", app, None);
    expect(&sa, false, "patch", "configmaps", app, None);
    expect(&sa, false, "create", "serviceaccounts", app, None);
    expect(&sa, false, "get", "pods", app, None);
    expect(&sa, false, "create", "pods", app, None);
    expect(&sa, false, "delete", "namespaces", Scope::Cluster, None);
    expect(&sa, false, "create", "clusterrolebindings", Scope::Cluster, None);
    expect(&sa, false, "impersonate", "serviceaccounts", app, None);
    expect(&sa, false, "create", "leases.coordination.k8s.io", app, None);
    expect(&sa, false, "update", "leases.coordination.k8s.io/kube-controller-manager", own, None);
    expect(&sa, false, "delete", "leases.coordination.k8s.io/sesame-leader", own, None);
    // Documented limit of the cluster-wide install: RBAC cannot restrict Secrets by label, so the
    // controller may read Secrets everywhere. overlays/single-namespace confines it (next test).
    expect(&sa, true, "get", "secrets", Scope::Ns("kube-system"), None);
}

#[test]
fn the_generic_targets_component_lets_the_controller_write_config_maps_and_nothing_more() {
    let ctrl = Namespace::create("dpl-gen");
    let suffix = tools::unique("g");
    let (sa, _cluster) = apply_rbac_with("deploy/kustomize/base", &ctrl.0, &suffix, &["deploy/kustomize/components/generic-targets"]);
    let app = Scope::Ns("default");
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        expect(&sa, true, verb, "configmaps", app, None);
    }
    // Server-side apply only; and no other kind comes with it.
    expect(&sa, false, "update", "configmaps", app, None);
    expect(&sa, false, "create", "pods", app, None);
    expect(&sa, false, "create", "deployments.apps", app, None);
    expect(&sa, false, "create", "rolebindings.rbac.authorization.k8s.io", app, None);
    expect(&sa, false, "update", "secrets", app, None);
}

#[test]
fn the_rollout_restart_component_binds_the_controller_wherever_it_is_installed() {
    // Not sesame-system: the component's binding must follow the overlay's namespace.
    let ctrl = Namespace::create("dpl-rr");
    let suffix = tools::unique("r");
    let (sa, _cluster) = apply_rbac_with("deploy/kustomize/base", &ctrl.0, &suffix, &["deploy/kustomize/components/rollout-restart"]);
    let app = Scope::Ns("default");
    for workload in ["deployments.apps", "statefulsets.apps", "daemonsets.apps"] {
        expect(&sa, true, "patch", workload, app, None);
        expect(&sa, false, "update", workload, app, None);
        expect(&sa, false, "delete", workload, app, None);
    }
    expect(&sa, false, "create", "deployments.apps", app, None);
    expect(&sa, false, "patch", "pods", app, None);
}

#[test]
fn single_namespace_controller_cannot_read_secrets_elsewhere() {
    let watched = Namespace::create("dpl-one");
    let other = Namespace::create("dpl-oth");
    let suffix = tools::unique("s");
    let (sa, _cluster) = apply_rbac("deploy/kustomize/overlays/single-namespace", &watched.0, &suffix);
    let own = Scope::Ns(&watched.0);
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        expect(&sa, true, verb, "secrets", own, None);
    }
    for verb in ["get", "list", "watch"] {
        expect(&sa, true, verb, "configmaps", own, None);
    }
    for verb in ["get", "list", "watch"] {
        expect(&sa, true, verb, ES, own, None);
        expect(&sa, true, verb, CSS, Scope::Cluster, None);
    }
    expect(&sa, true, "patch", ES, own, Some("status"));
    expect(&sa, true, "create", "serviceaccounts", own, Some("token"));
    expect(&sa, true, "create", "leases.coordination.k8s.io", own, None);
    // Its own Namespace object only (a ClusterSecretStore's conditions), through the RoleBinding.
    assert!(can_i_get_namespace(&sa, &watched.0), "{sa} cannot get its own Namespace {}", watched.0);

    for ns in [other.0.as_str(), "kube-system", "default"] {
        assert!(!can_i_get_namespace(&sa, ns), "{sa} may get the Namespace {ns}");
        let elsewhere = Scope::Ns(ns);
        expect(&sa, false, "get", "secrets", elsewhere, None);
        expect(&sa, false, "list", "secrets", elsewhere, None);
        expect(&sa, false, "list", ES, elsewhere, None);
        expect(&sa, false, "create", "serviceaccounts", elsewhere, Some("token"));
        expect(&sa, false, "get", "configmaps", elsewhere, None);
    }
    expect(&sa, false, "list", "secrets", Scope::AllNamespaces, None);
    expect(&sa, false, "list", ES, Scope::AllNamespaces, None);
    expect(&sa, false, "list", "namespaces", Scope::Cluster, None);
}
