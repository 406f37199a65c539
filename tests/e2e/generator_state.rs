//! GeneratorStates on the real apiserver and OpenBao: a VaultDynamicSecret that leases a PKI
//! certificate through an ExternalSecret. The lease is recorded in a GeneratorState before the
//! certificate reaches the Secret; a refresh supersedes it and, after the grace period
//! (`--generator-gc-grace-period`, shortened here), the old lease is revoked on OpenBao and its
//! GeneratorState deleted; deleting the ExternalSecret revokes the last lease; a sync that fails
//! after generating revokes what it generated and writes nothing; a cleanup that keeps failing
//! keeps its GeneratorState, says so, and is retried until it succeeds.
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use sesame::api::{GENERATOR_STATE_OWNER_LABEL, GeneratorState};

use crate::generators::{apply_generator, from_generator};
use crate::harness::*;

/// One call to OpenBao's HTTP API as root, over plain HTTP/1.1 on loopback.
async fn bao(method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = sesame_testsupport::env();
    let host = env.vault_addr.strip_prefix("http://").expect("OpenBao listens on http");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} /v1/{path} HTTP/1.1\r\nHost: {host}\r\nX-Vault-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        env.vault_token,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect to OpenBao");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let payload = text.split_once("\r\n\r\n").map(|(_, b)| b.trim()).unwrap_or_default();
    (status, serde_json::from_str(payload).unwrap_or(Value::Null))
}

async fn bao_must(method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = bao(method, path, Some(body)).await;
    assert!((200..300).contains(&status), "{method} {path} answered {status}: {answer}");
    answer
}

async fn lease_alive(id: &str) -> bool {
    let (status, answer) = bao("PUT", "sys/leases/lookup", Some(json!({ "lease_id": id }))).await;
    assert!(status == 200 || status == 400, "lease lookup answered {status}: {answer}");
    status == 200
}

/// The leases still alive under `prefix` (OpenBao lists the ids below a path).
async fn leases_under(prefix: &str) -> Vec<String> {
    let (status, answer) = bao("LIST", &format!("sys/leases/lookup/{prefix}"), None).await;
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "listing leases answered {status}: {answer}");
    answer["data"]["keys"].as_array().unwrap().iter().map(|k| format!("{prefix}{}", k.as_str().unwrap())).collect()
}

/// The policy named `mount`: issue from the mount's role, and revoke leases.
async fn leasing_policy(mount: &str) {
    let policy = format!(
        "path \"{mount}/issue/web\" {{ capabilities = [\"update\"] }}\npath \"sys/leases/revoke\" {{ capabilities = [\"update\"] }}\n"
    );
    bao_must("PUT", &format!("sys/policies/acl/{mount}"), json!({ "policy": policy })).await;
}

/// A PKI mount whose role leases what it issues, and a token (in Secret `bao-token`) that may
/// issue from it and revoke leases. Returns the VaultDynamicSecret spec.
async fn leasing_generator(scene: &Scene, mount: &str) -> Value {
    bao_must("POST", &format!("sys/mounts/{mount}"), json!({"type": "pki", "config": {"max_lease_ttl": "24h"}})).await;
    bao_must("POST", &format!("{mount}/root/generate/internal"), json!({"common_name": "example.com", "ttl": "24h"})).await;
    let role = json!({"allowed_domains": "example.com", "allow_subdomains": true, "generate_lease": true, "max_ttl": "1h"});
    bao_must("POST", &format!("{mount}/roles/web"), role).await;
    leasing_policy(mount).await;
    let token = bao_must("POST", "auth/token/create", json!({"policies": [mount], "ttl": "2h", "no_parent": true})).await;
    scene.plain_secret("bao-token", &[("token", token["auth"]["client_token"].as_str().unwrap())]).await;
    scene.fake_store("store", &[("/marker", "m")]).await;
    let env = sesame_testsupport::env();
    json!({
        "provider": {"server": env.vault_addr, "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}}},
        "method": "POST",
        "path": format!("{mount}/issue/web"),
        "parameters": {"common_name": "app.example.com", "ttl": "10m"},
    })
}

fn states(scene: &Scene) -> Api<GeneratorState> {
    Api::namespaced(scene.client.clone(), &scene.ns)
}

/// An ExternalSecret spec with the generator `cert`, plus one entry from the scene's store: a
/// generator-only ExternalSecret belongs to every controller class (as in ESO), and a cluster-wide
/// sesame of another test would sync it too.
fn with_generator(extra: Value) -> Value {
    let mut spec = json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "store"},
        "data": [{"secretKey": "marker", "remoteRef": {"key": "/marker"}}],
        "dataFrom": [from_generator("VaultDynamicSecret", "cert")],
    });
    spec.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    spec
}

/// The GeneratorStates the ExternalSecret `name` owns.
async fn owned_states(scene: &Scene, name: &str) -> Vec<GeneratorState> {
    let es = scene.es(name).await;
    let uid = es.meta().uid.clone().unwrap();
    let all = states(scene).list(&Default::default()).await.unwrap().items;
    all.into_iter().filter(|s| s.owner_references().iter().any(|o| o.uid == uid && o.kind == "ExternalSecret")).collect()
}

fn lease_of(state: &GeneratorState) -> String {
    state.spec.state["leaseId"].as_str().expect("the state records the lease id").to_string()
}

#[tokio::test]
async fn a_dynamic_secret_lease_is_recorded_superseded_revoked_after_the_grace_period_and_on_deletion() {
    let scene = Scene::new("e2e-gstate").await;
    let mount = scene.ns.clone();
    let spec = leasing_generator(&scene, &mount).await;
    apply_generator(&scene.client, Some(&scene.ns), "VaultDynamicSecret", "vaultdynamicsecrets", "cert", spec).await;
    let sesame = scene.sesame_with(&["--generator-gc-grace-period", "4s"], &[]);
    scene.external_secret("tls", with_generator(json!({}))).await;
    scene.wait_ready(&sesame, "tls", "True", "SecretSynced").await;
    let first_serial = scene.secret_data("tls").await.unwrap()["serial_number"].clone();

    // One GeneratorState, as ESO writes it: owner reference, owner-key label, finalizer, the
    // generator manifest and the lease id; in use, so no deadline. No certificate or key in it.
    let recorded = owned_states(&scene, "tls").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let first = &recorded[0];
    assert!(first.labels().contains_key(GENERATOR_STATE_OWNER_LABEL), "{:?}", first.labels());
    assert!(first.finalizers().iter().any(|f| f == "generatorstate.externalsecrets.io/finalizer"));
    assert_eq!(first.spec.resource["kind"], "VaultDynamicSecret");
    assert_eq!(first.spec.garbage_collection_deadline, None);
    let first_lease = lease_of(first);
    assert!(lease_alive(&first_lease).await, "the lease in use is alive");
    let recorded_text = serde_json::to_string(first).unwrap();
    let key = scene.secret_data("tls").await.unwrap()["private_key"].clone();
    assert!(!recorded_text.contains("PRIVATE KEY") && !recorded_text.contains(&key), "the state holds no generated value");
    let ready = eventually(Duration::from_secs(30), || async {
        states(&scene).get(&first.name_any()).await.ok().and_then(|s| s.status).is_some_and(|s| {
            s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True" && c.reason.as_deref() == Some("Created"))
        })
    })
    .await;
    assert!(ready, "the GeneratorState reports Ready=True Created: {:?}", states(&scene).get(&first.name_any()).await.unwrap().status);

    // A refresh generates a new certificate: its lease is recorded, the old one is superseded
    // and, after the grace period, revoked with its GeneratorState gone.
    let force = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("tls", &PatchParams::default(), &Patch::Merge(&force)).await.unwrap();
    let rotated = eventually(Duration::from_secs(30), || async {
        scene.secret_data("tls").await.is_some_and(|d| d["serial_number"] != first_serial)
    })
    .await;
    assert!(rotated, "force-sync did not issue a new certificate\n{}", tail(&sesame.logs()));
    let superseded = eventually(Duration::from_secs(30), || async {
        let now = owned_states(&scene, "tls").await;
        now.len() == 1 && lease_of(&now[0]) != first_lease && !lease_alive(&first_lease).await
    })
    .await;
    assert!(superseded, "the old lease was not revoked: {:?}\n{}", owned_states(&scene, "tls").await, tail(&sesame.logs()));
    let second_lease = lease_of(&owned_states(&scene, "tls").await[0]);
    assert!(lease_alive(&second_lease).await, "the lease of the values in the Secret stays");

    // Deleting the ExternalSecret revokes the last lease and removes its GeneratorState.
    let uid = scene.es("tls").await.meta().uid.clone().unwrap();
    scene.externalsecrets().delete("tls", &DeleteParams::default()).await.unwrap();
    let released = eventually(Duration::from_secs(30), || async {
        let left = states(&scene).list(&Default::default()).await.unwrap().items;
        !left.iter().any(|s| s.owner_references().iter().any(|o| o.uid == uid)) && !lease_alive(&second_lease).await
    })
    .await;
    assert!(released, "deleting the ExternalSecret left its lease: {}", tail(&sesame.logs()));
    assert!(leases_under(&format!("{mount}/issue/web/")).await.is_empty(), "no lease is left behind");
    assert!(!sesame.logs().contains(&key), "a generated value is in the log");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_sync_that_fails_after_generating_revokes_what_it_generated_and_writes_nothing() {
    let scene = Scene::new("e2e-gfail").await;
    let mount = scene.ns.clone();
    let spec = leasing_generator(&scene, &mount).await;
    apply_generator(&scene.client, Some(&scene.ns), "VaultDynamicSecret", "vaultdynamicsecrets", "cert", spec).await;
    // The grace period is long: what is cleaned up here is cleaned up because it was never used.
    let sesame = scene.sesame_with(&["--generator-gc-grace-period", "1h"], &[]);
    let es = with_generator(json!({"target": {"template": {"data": {"cert": "{{ fail \"refused by the template\" }}"}}}}));
    scene.external_secret("broken", es).await;
    scene.wait_ready(&sesame, "broken", "False", "SecretSyncedError").await;
    // The generator did run: OpenBao issued a certificate besides its CA.
    let (_, certs) = bao("LIST", &format!("{mount}/certs"), None).await;
    assert!(certs["data"]["keys"].as_array().is_some_and(|k| k.len() >= 2), "no certificate was issued: {certs}");
    let issued = leases_under(&format!("{mount}/issue/web/")).await;
    let cleaned = eventually(Duration::from_secs(30), || async {
        owned_states(&scene, "broken").await.is_empty() && leases_under(&format!("{mount}/issue/web/")).await.is_empty()
    })
    .await;
    assert!(cleaned, "the failed sync left {issued:?} / {:?}\n{}", owned_states(&scene, "broken").await, tail(&sesame.logs()));
    assert!(scene.secret("broken").await.is_none(), "a failed sync wrote a Secret");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn render_releases_the_lease_a_generator_created_and_says_so() {
    let scene = Scene::new("e2e-grender").await;
    let mount = scene.ns.clone();
    let spec = leasing_generator(&scene, &mount).await;
    let token = scene.secret_data("bao-token").await.unwrap()["token"].clone();
    // `sesame render` reads manifests only: the same objects, as files.
    let dir = std::env::temp_dir().join(format!("sesame-e2e-render-{}", scene.ns));
    std::fs::create_dir_all(&dir).unwrap();
    let ns = &scene.ns;
    let documents = [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bao-token", "namespace": ns}, "stringData": {"token": token}}),
        json!({"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "VaultDynamicSecret", "metadata": {"name": "cert", "namespace": ns}, "spec": spec}),
        json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "tls", "namespace": ns},
               "spec": {"dataFrom": [from_generator("VaultDynamicSecret", "cert")]}}),
    ];
    let yaml: Vec<String> = documents.iter().map(|d| serde_json::to_string(d).unwrap()).collect();
    std::fs::write(dir.join("all.yaml"), yaml.join("\n---\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["render", "-f", dir.to_str().unwrap()])
        .output()
        .expect("run sesame render");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("certificate: \"<redacted:") && stdout.contains("private_key: \"<redacted:"), "{stdout}");
    assert!(!stdout.contains("PRIVATE KEY"), "a value leaked:\n{stdout}");
    assert!(stderr.contains("VaultDynamicSecret cert created remote state") && stderr.contains("released"), "{stderr}");
    let (_, certs) = bao("LIST", &format!("{mount}/certs"), None).await;
    assert!(certs["data"]["keys"].as_array().is_some_and(|k| k.len() >= 2), "render issued no certificate: {certs}");
    assert!(leases_under(&format!("{mount}/issue/web/")).await.is_empty(), "render left a lease behind");
    let _ = std::fs::remove_dir_all(&dir);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_push_secret_records_the_lease_it_pushed_and_its_deletion_revokes_it() {
    let scene = Scene::new("e2e-gpush").await;
    let mount = scene.ns.clone();
    let spec = leasing_generator(&scene, &mount).await;
    apply_generator(&scene.client, Some(&scene.ns), "VaultDynamicSecret", "vaultdynamicsecrets", "cert", spec).await;
    scene.fake_store("store", &[]).await;
    let sesame = scene.sesame_with(&["--generator-gc-grace-period", "1h"], &[]);
    let generator = json!({"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "VaultDynamicSecret", "name": "cert"});
    let mut body = crate::push_secret::push_secret(
        &scene,
        "push",
        json!({"name": "store", "kind": "SecretStore"}),
        &[("serial_number", "/pushed/cert", "serial")],
    );
    body["spec"]["selector"] = json!({ "generatorRef": generator });
    crate::push_secret::apply_push(&scene, body).await;
    let ps = crate::push_secret::ready(&scene, &sesame, "push", "True").await;
    let uid = ps.metadata.uid.clone().unwrap();
    let owned = || async {
        let all = states(&scene).list(&Default::default()).await.unwrap().items;
        all.into_iter().filter(|s| s.owner_references().iter().any(|o| o.uid == uid && o.kind == "PushSecret")).collect::<Vec<_>>()
    };
    // Every reconcile generates anew (a second one may follow the first at once, e.g. after the
    // finalizer is added): exactly one state is in use, any other is superseded with a deadline.
    let in_use = || async { owned().await.into_iter().filter(|s| s.spec.garbage_collection_deadline.is_none()).collect::<Vec<_>>() };
    let settled = eventually(Duration::from_secs(30), || async { in_use().await.len() == 1 }).await;
    assert!(settled, "not exactly one GeneratorState in use for the pushed lease: {:?}", owned().await);
    let lease = lease_of(&in_use().await[0]);
    assert!(lease_alive(&lease).await);

    // The PushSecret's deletion (after its finalizer deleted what it pushed) revokes the lease.
    let api: Api<sesame::api::PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    api.delete("push", &DeleteParams::default()).await.unwrap();
    let released = eventually(Duration::from_secs(30), || async { owned().await.is_empty() && !lease_alive(&lease).await }).await;
    assert!(released, "deleting the PushSecret left its lease: {:?}\n{}", owned().await, tail(&sesame.logs()));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_cleanup_that_keeps_failing_keeps_the_state_reports_it_and_retries_until_it_succeeds() {
    let scene = Scene::new("e2e-gretry").await;
    let mount = scene.ns.clone();
    let spec = leasing_generator(&scene, &mount).await;
    apply_generator(&scene.client, Some(&scene.ns), "VaultDynamicSecret", "vaultdynamicsecrets", "cert", spec).await;
    let sesame = scene.sesame_with(&["--generator-gc-grace-period", "1h", "--max-backoff", "2s"], &[]);
    scene.external_secret("tls", with_generator(json!({}))).await;
    scene.wait_ready(&sesame, "tls", "True", "SecretSynced").await;
    let state = owned_states(&scene, "tls").await.pop().expect("the lease's GeneratorState");
    let lease = lease_of(&state);

    // The token loses the right to revoke (policies are read at request time): every cleanup fails.
    let issue_only = format!("path \"{mount}/issue/web\" {{ capabilities = [\"update\"] }}\n");
    bao_must("PUT", &format!("sys/policies/acl/{mount}"), json!({ "policy": issue_only })).await;
    scene.externalsecrets().delete("tls", &DeleteParams::default()).await.unwrap();
    let reported = eventually(Duration::from_secs(30), || async {
        states(&scene).get(&state.name_any()).await.ok().and_then(|s| s.status).is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Error")
                    && c.message.as_deref().is_some_and(|m| m.contains("could not cleanup generator state"))
            })
        })
    })
    .await;
    assert!(reported, "the failed cleanup is not in the Ready condition: {:?}", states(&scene).get(&state.name_any()).await);
    let warned = eventually(Duration::from_secs(20), || async {
        events_for(&scene.client, &scene.ns, &state.name_any()).await.iter().any(|(t, r, _)| t == "Warning" && r == "CleanupFailed")
    })
    .await;
    assert!(warned, "no CleanupFailed Event: {:?}", events_for(&scene.client, &scene.ns, &state.name_any()).await);
    // Several backoff rounds later (each failure is logged) the state is still there, finalizer
    // and all, and so is the lease.
    let retried =
        eventually(Duration::from_secs(30), || async { sesame.logs().matches("could not clean up the generator state").count() >= 3 })
            .await;
    assert!(retried, "the cleanup was not retried\n{}", tail(&sesame.logs()));
    let kept = states(&scene).get(&state.name_any()).await.expect("the GeneratorState is kept while its cleanup fails");
    assert!(kept.meta().deletion_timestamp.is_some());
    assert!(kept.finalizers().iter().any(|f| f == "generatorstate.externalsecrets.io/finalizer"));
    assert!(lease_alive(&lease).await, "nothing was revoked");

    // The right comes back: a retry (nothing about the object changes) revokes and removes it.
    leasing_policy(&mount).await;
    let cleaned = eventually(Duration::from_secs(30), || async {
        states(&scene).get_opt(&state.name_any()).await.unwrap().is_none() && !lease_alive(&lease).await
    })
    .await;
    assert!(cleaned, "the retried cleanup did not finish\n{}", tail(&sesame.logs()));
    scene.delete_namespace().await;
}
