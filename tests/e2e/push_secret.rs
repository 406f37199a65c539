//! PushSecret on the real apiserver with the fake provider (which keeps pushed values beside its
//! own data): push → an ExternalSecret reads it back → a change of the source Secret is pushed at
//! once → a dropped entry and finally the PushSecret itself delete exactly what was pushed. The
//! store's own data is never overwritten. Then the same on OpenBao's KV v2, read back with
//! OpenBao's own API. (A ReadOnly store's refusal: `cloud::gcp`; the cloud providers' writes:
//! `push_providers`.)
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use sesame::api::PushSecret;

use crate::harness::*;

pub(crate) fn push_secret(scene: &Scene, name: &str, store: Value, entries: &[(&str, &str, &str)]) -> Value {
    let data: Vec<Value> = entries
        .iter()
        .map(|(key, remote, property)| json!({"match": {"secretKey": key, "remoteRef": {"remoteKey": remote, "property": property}}}))
        .collect();
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": name, "namespace": scene.ns},
        "spec": {"refreshInterval": "1h", "deletionPolicy": "Delete", "secretStoreRefs": [store],
                 "selector": {"secret": {"name": "source"}}, "data": data},
    })
}

pub(crate) async fn apply_push(scene: &Scene, body: Value) {
    let gvk = kube::api::GroupVersionKind::gvk("external-secrets.io", "v1alpha1", "PushSecret");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "pushsecrets");
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(scene.client.clone(), &scene.ns, &ar);
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&body)).await.unwrap();
}

pub(crate) async fn ready(scene: &Scene, sesame: &Sesame, name: &str, status: &str) -> PushSecret {
    let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    let ok = eventually(Duration::from_secs(60), || async {
        let ps = api.get(name).await.unwrap();
        ps.status.iter().flat_map(|s| &s.conditions).any(|c| c.type_ == "Ready" && c.status == status)
    })
    .await;
    let ps = api.get(name).await.unwrap();
    assert!(ok, "PushSecret {name} never Ready={status}: {:?}\n{}", ps.status, tail(&sesame.logs()));
    ps
}

pub(crate) async fn force_sync(scene: &Scene, name: &str, n: u32) {
    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": n.to_string()}}});
    scene.externalsecrets().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

#[tokio::test]
async fn a_push_secret_round_trips_follows_its_source_and_deletes_exactly_what_it_pushed() {
    let scene = Scene::new("push").await;
    scene.fake_store("store", &[("/theirs", "not ours")]).await;
    scene.plain_secret("source", &[("user", "app"), ("password", "pw-1")]).await;
    let sesame = crate::providers::aws_sesame(&scene, &[]);
    let store = json!({"name": "store", "kind": "SecretStore"});
    let entries = [("password", "/pushed/db", "password"), ("user", "/pushed/db", "user")];
    apply_push(&scene, push_secret(&scene, "push", store.clone(), &entries)).await;
    let ps = ready(&scene, &sesame, "push", "True").await;
    let synced = &ps.status.unwrap().synced_push_secrets["SecretStore/store"];
    assert_eq!(synced.keys().collect::<Vec<_>>(), vec!["/pushed/db/password", "/pushed/db/user"]);

    // Read back through the same store by an ExternalSecret.
    let readback = |property: &str| {
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"},
               "data": [{"secretKey": "v", "remoteRef": {"key": "/pushed/db", "property": property}}]})
    };
    scene.external_secret("password", readback("password")).await;
    scene.external_secret("user", readback("user")).await;
    wait_secret_data(&scene, &sesame, "password", &map(&[("v", "pw-1")])).await;
    wait_secret_data(&scene, &sesame, "user", &map(&[("v", "app")])).await;

    // The source changes: pushed at once (the refresh interval is an hour).
    let secrets: Api<Secret> = scene.secrets();
    let rotated = json!({"stringData": {"password": "pw-2"}});
    secrets.patch("source", &PatchParams::default(), &Patch::Merge(&rotated)).await.unwrap();
    let mut n = 0;
    let pushed = eventually(Duration::from_secs(60), || {
        n += 1;
        let n = n;
        let scene = &scene;
        async move {
            // Each try fetches again; the check sees the result of an earlier try.
            force_sync(scene, "password", n).await;
            scene.secret_data("password").await == Some(map(&[("v", "pw-2")]))
        }
    })
    .await;
    assert!(pushed, "the rotated source was not pushed\n{}", tail(&sesame.logs()));

    // An entry dropped from the spec is deleted remotely, and only that property.
    apply_push(&scene, push_secret(&scene, "push", store.clone(), &entries[..1])).await;
    let gone = eventually(Duration::from_secs(60), || async {
        let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
        let status = api.get("push").await.unwrap().status.unwrap_or_default();
        status.synced_push_secrets.get("SecretStore/store").is_some_and(|s| s.keys().eq(["/pushed/db/password"].iter()))
    })
    .await;
    assert!(gone, "the dropped entry is still recorded\n{}", tail(&sesame.logs()));
    force_sync(&scene, "user", 100).await;
    let es = scene.wait_ready(&sesame, "user", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("user"), "{:?}", ready_condition(&es));
    force_sync(&scene, "password", 101).await;
    scene.wait_ready(&sesame, "password", "True", "SecretSynced").await;

    // The store's own data is not Sesame's to overwrite.
    apply_push(&scene, push_secret(&scene, "hostile", store.clone(), &[("password", "/theirs", "")])).await;
    let refused = ready(&scene, &sesame, "hostile", "False").await;
    let message = refused.status.unwrap().conditions[0].message.clone().unwrap_or_default();
    assert!(message.contains("not managed"), "{message}");
    assert!(!message.contains("pw-2"), "a value in the condition: {message}");
    scene
        .external_secret(
            "theirs",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "v", "remoteRef": {"key": "/theirs"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "theirs", &map(&[("v", "not ours")])).await;

    // Deleting the PushSecret deletes what it pushed, then lets it go.
    let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    api.delete("push", &Default::default()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(60), || async { api.get_opt("push").await.unwrap().is_none() }).await,
        "the finalizer never let go"
    );
    force_sync(&scene, "password", 102).await;
    let es = scene.wait_ready(&sesame, "password", "False", "SecretSyncedError").await;
    assert!(
        ready_condition(&es).unwrap().2.contains("not found") || ready_condition(&es).unwrap().2.contains("does not exist"),
        "{:?}",
        ready_condition(&es)
    );
    assert_eq!(scene.secret_data("password").await, Some(map(&[("v", "pw-2")])), "a failed read keeps the Secret");
    assert!(!sesame.logs().contains("pw-2"), "a value reached the log");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_push_secret_writes_openbao_kv_v2_with_esos_ownership_rules() {
    use crate::tenancy::{bao, bao_must};
    let scene = Scene::new("push-bao").await;
    let env = sesame_testsupport::env();
    scene.plain_secret("bao-token", &[("token", &env.vault_token)]).await;
    let vault = json!({"vault": {"server": env.vault_addr, "path": "secret", "version": "v2",
                                 "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}}}});
    scene.store("bao", vault).await;
    // Someone's own secret, without ESO's managed-by metadata.
    let theirs = format!("{}/theirs", scene.ns);
    bao_must("POST", &format!("secret/data/{theirs}"), Some(json!({"data": {"k": "not ours"}}))).await;
    scene.plain_secret("source", &[("user", "app"), ("password", "pw-1")]).await;
    let sesame = scene.sesame();
    let pushed = format!("{}/db", scene.ns);
    let store = json!({"name": "bao"});
    let entries = [("password", pushed.as_str(), "password"), ("user", pushed.as_str(), "user")];
    apply_push(&scene, push_secret(&scene, "push", store.clone(), &entries)).await;
    ready(&scene, &sesame, "push", "True").await;
    let data = bao_must("GET", &format!("secret/data/{pushed}"), None).await;
    assert_eq!(data["data"]["data"], json!({"password": "pw-1", "user": "app"}));
    let meta = bao_must("GET", &format!("secret/metadata/{pushed}"), None).await;
    assert_eq!(meta["data"]["custom_metadata"]["managed-by"], "external-secrets", "{meta}");

    // The source changes: pushed at once.
    let rotated = json!({"stringData": {"password": "pw-2"}});
    scene.secrets().patch("source", &PatchParams::default(), &Patch::Merge(&rotated)).await.unwrap();
    let followed = eventually(Duration::from_secs(60), || async {
        bao_must("GET", &format!("secret/data/{pushed}"), None).await["data"]["data"]["password"] == "pw-2"
    })
    .await;
    assert!(followed, "the rotated source never reached OpenBao\n{}", tail(&sesame.logs()));

    // A secret without managed-by is not overwritten.
    apply_push(&scene, push_secret(&scene, "hostile", store.clone(), &[("password", theirs.as_str(), "k")])).await;
    let refused = ready(&scene, &sesame, "hostile", "False").await;
    let message = refused.status.unwrap().conditions[0].message.clone().unwrap_or_default();
    assert!(message.contains("not managed"), "{message}");
    assert_eq!(bao_must("GET", &format!("secret/data/{theirs}"), None).await["data"]["data"], json!({"k": "not ours"}));

    // Deleting the PushSecret deletes the secret it wrote, and nothing else.
    let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    api.delete("hostile", &Default::default()).await.unwrap();
    api.delete("push", &Default::default()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(60), || async { api.get_opt("push").await.unwrap().is_none() }).await,
        "the finalizer never let go"
    );
    assert_eq!(bao("GET", &format!("secret/metadata/{pushed}"), None).await.0, 404, "the pushed secret is still there");
    assert!(eventually(Duration::from_secs(60), || async { api.get_opt("hostile").await.unwrap().is_none() }).await);
    assert_eq!(bao_must("GET", &format!("secret/data/{theirs}"), None).await["data"]["data"], json!({"k": "not ours"}));
    assert!(!sesame.logs().contains("pw-2") && !sesame.logs().contains(&env.vault_token), "a value reached the log");
    scene.delete_namespace().await;
}
