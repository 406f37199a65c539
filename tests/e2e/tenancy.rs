//! Tenants of one ClusterSecretStore on the real OpenBao. With referent authentication (auth refs
//! that name no namespace) each namespace reads with its own credentials only, whichever
//! namespace used the store first, also after the store is edited; one namespace's failing
//! credentials are its own problem and cost the other namespaces nothing.
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sesame::api::ClusterSecretStore;

use crate::harness::*;

/// An administrator's call to the test environment's OpenBao (plain HTTP/1.0: no chunking).
pub(crate) async fn bao(method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = sesame_testsupport::env();
    let host = env.vault_addr.strip_prefix("http://").expect("the test OpenBao speaks plain http");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} /v1/{path} HTTP/1.0\r\nHost: {host}\r\nX-Vault-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        env.vault_token,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("OpenBao is reachable");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, json)
}

pub(crate) async fn bao_must(method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = bao(method, path, body).await;
    assert!((200..300).contains(&status), "OpenBao {method} {path} answered {status}: {answer}");
    answer
}

/// `secret/<path>` (KV v2) holds `{"v": value}`.
async fn put(path: &str, value: &str) {
    bao_must("POST", &format!("secret/data/{path}"), Some(json!({"data": {"v": value}}))).await;
}

/// A policy reading `secret/<prefix>/*` only; returns its name.
pub(crate) async fn reader_of(prefix: &str) -> String {
    let name = format!("read-{}", prefix.replace('/', "-"));
    let hcl = format!("path \"secret/data/{prefix}/*\" {{ capabilities = [\"read\"] }}");
    bao_must("PUT", &format!("sys/policies/acl/{name}"), Some(json!({ "policy": hcl }))).await;
    name
}

async fn token_with(policy: &str) -> String {
    let answer = bao_must("POST", "auth/token/create", Some(json!({"policies": [policy], "ttl": "1h"}))).await;
    answer["auth"]["client_token"].as_str().unwrap().to_string()
}

/// Two tenant namespaces of one test (same controller class); each holds `<ns>/db` on OpenBao
/// with a value naming its team.
struct Tenants {
    a: Scene,
    b: Scene,
}

impl Tenants {
    async fn new(prefix: &str) -> Tenants {
        let a = Scene::new(prefix).await;
        let b = Scene { client: a.client.clone(), ns: format!("{}-b", a.ns), class: a.class.clone() };
        create_namespace(&a.client, &b.ns, BTreeMap::new()).await;
        put(&format!("{}/db", a.ns), "team-a").await;
        put(&format!("{}/db", b.ns), "team-b").await;
        Tenants { a, b }
    }

    /// Each namespace's Secret `bao-token` holds a token that reads that namespace's path only.
    async fn tokens(&self) {
        for scene in [&self.a, &self.b] {
            let token = token_with(&reader_of(&scene.ns).await).await;
            scene.plain_secret("bao-token", &[("token", &token)]).await;
        }
    }

    fn sesame(&self) -> Sesame {
        Sesame::start(&self.a.ns, &["--controller-class", &self.a.class])
    }

    async fn cluster_store(&self, name: &str, auth: Value) {
        let env = sesame_testsupport::env();
        let store = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": name},
            "spec": {"controller": self.a.class, "provider": {"vault": {"server": env.vault_addr, "path": "secret", "version": "v2", "auth": auth}}},
        });
        apply(&self.a.client, "", "clustersecretstores", name, store).await;
    }

    async fn cleanup(&self, stores: &[&str]) {
        let api: Api<ClusterSecretStore> = Api::all(self.a.client.clone());
        for s in stores {
            let _ = api.delete(s, &Default::default()).await;
        }
        self.a.delete_namespace().await;
        self.b.delete_namespace().await;
    }
}

/// An ExternalSecret `name` in `scene` reading `<owner_ns>/db` through ClusterSecretStore `store`.
async fn reader(scene: &Scene, name: &str, store: &str, owner_ns: &str) {
    let spec = json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": store, "kind": "ClusterSecretStore"},
        "data": [{"secretKey": "v", "remoteRef": {"key": format!("{owner_ns}/db"), "property": "v"}}],
    });
    scene.external_secret(name, spec).await;
}

/// The ExternalSecret failed and its Secret was never written.
async fn refused(scene: &Scene, sesame: &Sesame, name: &str) {
    scene.wait_ready(sesame, name, "False", "SecretSyncedError").await;
    assert!(scene.secret(name).await.is_none(), "{}/{name} received a value its namespace's credentials may not read", scene.ns);
}

/// The ClusterSecretStore's Ready condition (status, reason) and its observed generation.
async fn store_verdict(client: &kube::Client, name: &str) -> (Option<(String, String)>, Option<i64>, Option<i64>) {
    let store = Api::<ClusterSecretStore>::all(client.clone()).get(name).await.expect("the store exists");
    let status = store.status.clone().unwrap_or_default();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()));
    (ready, status.observed_generation, store.metadata.generation)
}

async fn wait_store_reason(client: &kube::Client, sesame: &Sesame, name: &str, status: &str, reason: &str) {
    let want = Some((status.to_string(), reason.to_string()));
    let ok = eventually(Duration::from_secs(30), || async {
        let (ready, observed, generation) = store_verdict(client, name).await;
        ready == want && observed == generation
    })
    .await;
    assert!(
        ok,
        "store {name} never reached Ready={status}/{reason} for its generation: {:?}\n{}",
        store_verdict(client, name).await,
        tail(&sesame.logs())
    );
}

/// Namespace `first` uses the store first, then `second`: each reads its own path, neither the other's.
async fn each_reads_its_own(first: &Scene, second: &Scene, sesame: &Sesame, store: &str) {
    for scene in [first, second] {
        let other = if scene.ns == first.ns { &second.ns } else { &first.ns };
        reader(scene, &format!("{store}-own"), store, &scene.ns).await;
        reader(scene, &format!("{store}-other"), store, other).await;
        let team = if scene.ns.ends_with("-b") { "team-b" } else { "team-a" };
        wait_secret_data(scene, sesame, &format!("{store}-own"), &map(&[("v", team)])).await;
        refused(scene, sesame, &format!("{store}-other")).await;
    }
}

#[tokio::test]
async fn a_referent_cluster_store_reads_with_each_namespaces_own_token_in_either_order_and_after_an_edit() {
    let t = Tenants::new("ten-token").await;
    t.tokens().await;
    let (ab, ba) = (format!("ab-{}", t.a.ns), format!("ba-{}", t.a.ns));
    let referent = json!({"tokenSecretRef": {"name": "bao-token", "key": "token"}});
    t.cluster_store(&ab, referent.clone()).await;
    t.cluster_store(&ba, referent).await;
    let sesame = t.sesame();
    // Nothing to validate without a namespace: Ready, as ESO says, with ValidationUnknown.
    wait_store_reason(&t.a.client, &sesame, &ab, "True", "ValidationUnknown").await;

    each_reads_its_own(&t.a, &t.b, &sesame, &ab).await;
    each_reads_its_own(&t.b, &t.a, &sesame, &ba).await;

    // An edit of the store (a new generation, new clients): still each namespace's own token.
    put(&format!("{}/db", t.a.ns), "team-a-2").await;
    put(&format!("{}/db", t.b.ns), "team-b-2").await;
    let edited = json!({"tokenSecretRef": {"name": "bao-token", "key": "token"}});
    let env = sesame_testsupport::env();
    let store = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": ab},
        "spec": {"controller": t.a.class, "provider": {"vault": {
            "server": env.vault_addr, "path": "secret", "version": "v2", "auth": edited, "headers": {"X-Sesame-Edit": "2"}}}},
    });
    apply(&t.a.client, "", "clustersecretstores", &ab, store).await;
    wait_store_reason(&t.a.client, &sesame, &ab, "True", "ValidationUnknown").await;
    wait_secret_data(&t.a, &sesame, &format!("{ab}-own"), &map(&[("v", "team-a-2")])).await;
    wait_secret_data(&t.b, &sesame, &format!("{ab}-own"), &map(&[("v", "team-b-2")])).await;
    for scene in [&t.a, &t.b] {
        refused(scene, &sesame, &format!("{ab}-other")).await;
    }
    t.cleanup(&[&ab, &ba]).await;
}

#[tokio::test]
async fn a_shared_store_edited_to_referent_auth_stops_lending_the_shared_token() {
    // The attack: a working store (the operator's token, in namespace a) serves both teams;
    // it is edited to referent auth while team b reads team a's path.
    let t = Tenants::new("ten-edit").await;
    t.tokens().await;
    let env = sesame_testsupport::env();
    t.a.plain_secret("ops-token", &[("token", &env.vault_token)]).await;
    let store = format!("css-{}", t.a.ns);
    t.cluster_store(&store, json!({"tokenSecretRef": {"name": "ops-token", "key": "token", "namespace": t.a.ns}})).await;
    let sesame = t.sesame();
    wait_store_reason(&t.a.client, &sesame, &store, "True", "Valid").await;
    reader(&t.b, "steal", &store, &t.a.ns).await;
    reader(&t.a, "own", &store, &t.a.ns).await;
    wait_secret_data(&t.b, &sesame, "steal", &map(&[("v", "team-a")])).await;
    wait_secret_data(&t.a, &sesame, "own", &map(&[("v", "team-a")])).await;

    put(&format!("{}/db", t.a.ns), "team-a-2").await;
    t.cluster_store(&store, json!({"tokenSecretRef": {"name": "bao-token", "key": "token"}})).await;
    wait_store_reason(&t.a.client, &sesame, &store, "True", "ValidationUnknown").await;
    wait_secret_data(&t.a, &sesame, "own", &map(&[("v", "team-a-2")])).await;
    t.b.wait_ready(&sesame, "steal", "False", "SecretSyncedError").await;
    assert_eq!(t.b.secret_data("steal").await, Some(map(&[("v", "team-a")])), "team b never receives team a's new value");
    t.cleanup(&[&store]).await;
}

async fn service_account(scene: &Scene, name: &str) {
    let sa = ServiceAccount { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
    Api::<ServiceAccount>::namespaced(scene.client.clone(), &scene.ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("create the ServiceAccount");
}

fn calls(metrics: &str, call: &str) -> f64 {
    sample(metrics, "externalsecret_provider_api_calls_count{", &["HashiCorp/Vault", &format!("call=\"{call}\""), "status=\"success\""])
}

#[tokio::test]
async fn kubernetes_auth_logs_each_namespace_in_as_itself_and_a_failing_namespace_evicts_only_its_own_client() {
    let t = Tenants::new("ten-kube").await;
    let c = Scene { client: t.a.client.clone(), ns: format!("{}-c", t.a.ns), class: t.a.class.clone() };
    create_namespace(&c.client, &c.ns, BTreeMap::new()).await;
    let env = sesame_testsupport::env();
    // OpenBao reviews ServiceAccount tokens with the real apiserver; role `app` admits
    // ServiceAccount `app` of namespace a only, with a policy reading a's path.
    let mount = format!("k8s-{}", t.a.ns);
    bao_must("POST", &format!("sys/auth/{mount}"), Some(json!({"type": "kubernetes"}))).await;
    let ca = std::fs::read_to_string(&env.kube_ca).expect("the apiserver CA");
    let config = json!({"kubernetes_host": env.kube_server, "kubernetes_ca_cert": ca, "token_reviewer_jwt": env.kube_token, "disable_local_ca_jwt": true});
    bao_must("POST", &format!("auth/{mount}/config"), Some(config)).await;
    let role = json!({"bound_service_account_names": ["app"], "bound_service_account_namespaces": [t.a.ns], "token_policies": [reader_of(&t.a.ns).await], "token_ttl": "1h"});
    bao_must("POST", &format!("auth/{mount}/role/app"), Some(role)).await;
    // a and b have ServiceAccount `app`; c has none (its credentials are missing).
    service_account(&t.a, "app").await;
    service_account(&t.b, "app").await;
    let store = format!("css-{}", t.a.ns);
    t.cluster_store(&store, json!({"kubernetes": {"mountPath": mount, "role": "app", "serviceAccountRef": {"name": "app"}}})).await;
    let sesame = t.sesame();
    wait_store_reason(&t.a.client, &sesame, &store, "True", "ValidationUnknown").await;

    // b first: its own ServiceAccount is refused by OpenBao, so it reads nothing, not even its own path.
    reader(&t.b, "own", &store, &t.b.ns).await;
    refused(&t.b, &sesame, "own").await;
    reader(&t.a, "own", &store, &t.a.ns).await;
    wait_secret_data(&t.a, &sesame, "own", &map(&[("v", "team-a")])).await;
    let (_, metrics) = sesame.get("/metrics").await.expect("metrics");
    assert_eq!(calls(&metrics, "Login"), 1.0, "namespace a logged in once\n{metrics}");

    // c's credentials are missing: c's error, not the store's; b fails again; a keeps its client.
    reader(&c, "own", &store, &t.a.ns).await;
    let es = c.wait_ready(&sesame, "own", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("not found"), "{:?}", ready_condition(&es));
    let b_errors = || async {
        let (_, metrics) = sesame.get("/metrics").await.expect("metrics");
        sample(&metrics, "externalsecret_sync_calls_error{", &["name=\"own\"", &format!("namespace=\"{}\"", t.b.ns)])
    };
    let before = b_errors().await;
    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "again"}}});
    t.b.externalsecrets().patch("own", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let failed_again = eventually(Duration::from_secs(30), || async { b_errors().await > before }).await;
    assert!(failed_again, "b's forced sync did not fail again\n{}", tail(&sesame.logs()));
    wait_store_reason(&t.a.client, &sesame, &store, "True", "ValidationUnknown").await;
    put(&format!("{}/db", t.a.ns), "team-a-2").await;
    t.a.externalsecrets().patch("own", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_secret_data(&t.a, &sesame, "own", &map(&[("v", "team-a-2")])).await;
    let (_, metrics) = sesame.get("/metrics").await.expect("metrics");
    assert_eq!(calls(&metrics, "Login"), 1.0, "a's client was evicted by another namespace's failure\n{metrics}");
    assert_eq!(calls(&metrics, "RevokeSelf"), 0.0, "a's token was revoked by another namespace's failure\n{metrics}");
    t.cleanup(&[&store]).await;
    c.delete_namespace().await;
}

#[tokio::test]
async fn jwt_auth_appends_service_account_audiences_to_vaults_own() {
    // The role binds audience `vault` (the default); the store adds another one. Replacing the
    // list instead of appending to it would lose `vault` and the login.
    let t = Tenants::new("ten-jwt").await;
    let env = sesame_testsupport::env();
    let mount = format!("jwt-{}", t.a.ns);
    bao_must("POST", &format!("sys/auth/{mount}"), Some(json!({"type": "jwt"}))).await;
    let signing_key = std::fs::read_to_string(env.state_dir.join("pki/sa.pub")).expect("the apiserver's ServiceAccount key");
    bao_must(
        "POST",
        &format!("auth/{mount}/config"),
        Some(json!({"jwt_validation_pubkeys": [signing_key], "bound_issuer": env.kube_sa_issuer})),
    )
    .await;
    let role = json!({
        "role_type": "jwt", "bound_audiences": ["vault"], "user_claim": "sub", "token_ttl": "1h",
        "bound_subject": format!("system:serviceaccount:{}:app", t.a.ns), "token_policies": [reader_of(&t.a.ns).await],
    });
    bao_must("POST", &format!("auth/{mount}/role/app"), Some(role)).await;
    service_account(&t.a, "app").await;
    let store = format!("css-{}", t.a.ns);
    let sat = json!({"serviceAccountRef": {"name": "app", "namespace": t.a.ns, "audiences": ["sesame-extra"]}});
    t.cluster_store(&store, json!({"jwt": {"path": mount, "role": "app", "kubernetesServiceAccountToken": sat}})).await;
    let sesame = t.sesame();
    reader(&t.a, "own", &store, &t.a.ns).await;
    wait_secret_data(&t.a, &sesame, "own", &map(&[("v", "team-a")])).await;
    t.cleanup(&[&store]).await;
}
