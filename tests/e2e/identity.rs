//! The identity every e2e controller runs as: a ServiceAccount bound to the ClusterRole that
//! `deploy/kustomize/base/rbac-controller.yaml` ships (read from the file, so a grant the code
//! needs and the file lacks fails these tests), with a token from a real TokenRequest. Not
//! cluster-admin: what passes here passes under the shipped RBAC.
//!
//! The chart's `rolloutRestart` switch is on: the ClusterRole of
//! `deploy/kustomize/components/rollout-restart` is bound too (read from its file as well). So is
//! `genericTargets`: the ClusterRole of `deploy/kustomize/components/generic-targets` (ConfigMaps),
//! plus the rule a user adds there for their own custom resource, here the test CRD
//! `databases.sesame-e2e.example.io` (tests/e2e/generic_targets.rs).
//!
//! One test-only addition: Leases in any namespace, because the leader-election tests elect in
//! their own namespaces (the shipped Role grants Leases in the install namespace only; the
//! as-shipped tests in tests/deploy run that Role as it is). The fault tests run private
//! apiservers of their own and use those servers' admin credentials.
use std::path::PathBuf;
use std::sync::OnceLock;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const NAMESPACE: &str = "sesame-e2e-identity";
const ACCOUNT: &str = "sesame";
const ROLE: &str = "sesame-e2e-controller";

static KUBECONFIG: OnceLock<PathBuf> = OnceLock::new();

/// The kubeconfig of the shipped controller identity (set up by `install_crds`).
pub fn controller_kubeconfig() -> PathBuf {
    KUBECONFIG.get().cloned().expect("the controller identity is set up by install_crds() (Scene::new) before sesame starts")
}

async fn apply(client: &kube::Client, doc: &Value) {
    let (group, version) = doc["apiVersion"].as_str().unwrap().split_once('/').unwrap_or(("", "v1"));
    let kind = doc["kind"].as_str().unwrap();
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk).await.unwrap_or_else(|e| panic!("discover {kind}: {e}"));
    let name = doc["metadata"]["name"].as_str().unwrap();
    let api: Api<DynamicObject> = match caps.scope {
        kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &ar),
        kube::discovery::Scope::Namespaced => Api::namespaced_with(client.clone(), NAMESPACE, &ar),
    };
    api.patch(name, &PatchParams::apply("sesame-e2e").force(), &Patch::Apply(doc))
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
}

/// Creates the ServiceAccount, binds the shipped ClusterRole to it and writes a kubeconfig with a
/// fresh token. Idempotent; run once per test process.
pub async fn set_up(client: &kube::Client) {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kustomize/base/rbac-controller.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&shipped).expect("rbac-controller.yaml is YAML");
    let mut role = docs.into_iter().find(|d| d["kind"] == "ClusterRole").expect("the shipped ClusterRole");
    role["metadata"] = json!({"name": ROLE});
    let component =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kustomize/components/rollout-restart/rbac.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&component).expect("rollout-restart/rbac.yaml is YAML");
    let mut restarts = docs.into_iter().find(|d| d["kind"] == "ClusterRole").expect("the rollout-restart ClusterRole");
    restarts["metadata"] = json!({"name": format!("{ROLE}-rollout-restart")});
    let component =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kustomize/components/generic-targets/rbac.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&component).expect("generic-targets/rbac.yaml is YAML");
    let mut generic = docs.into_iter().find(|d| d["kind"] == "ClusterRole").expect("the generic-targets ClusterRole");
    generic["metadata"] = json!({"name": format!("{ROLE}-generic-targets")});
    let verbs = generic["rules"][0]["verbs"].clone();
    generic["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"apiGroups": ["sesame-e2e.example.io"], "resources": ["databases"], "verbs": verbs}));
    apply(client, &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})).await;
    apply(client, &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": NAMESPACE}})).await;
    apply(client, &role).await;
    apply(client, &restarts).await;
    apply(client, &generic).await;
    let leases = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": format!("{ROLE}-leases")},
        "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]}],
    });
    apply(client, &leases).await;
    for role in [ROLE.to_string(), format!("{ROLE}-leases"), format!("{ROLE}-rollout-restart"), format!("{ROLE}-generic-targets")] {
        apply(
            client,
            &json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
            }),
        )
        .await;
    }
    let request =
        TokenRequest { spec: TokenRequestSpec { expiration_seconds: Some(4 * 3600), ..Default::default() }, ..Default::default() };
    let minted: TokenRequest = Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE)
        .create_subresource("token", ACCOUNT, &PostParams::default(), &request)
        .await
        .expect("a TokenRequest for the controller's ServiceAccount");
    let token = minted.status.expect("a token").token;
    let env = sesame_testsupport::env();
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "sesame",
        "clusters": [{"name": "test", "cluster": {"server": env.kube_server, "certificate-authority": env.kube_ca}}],
        "users": [{"name": "sesame", "user": {"token": token}}],
        "contexts": [{"name": "sesame", "context": {"cluster": "test", "user": "sesame"}}],
    });
    let dir = std::env::temp_dir().join("sesame-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("controller-{}.kubeconfig", std::process::id()));
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    let _ = KUBECONFIG.set(path);
}
