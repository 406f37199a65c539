//! 1Password Connect through the binary: the store's `connectHost` points at the fake Connect
//! server, as an operator points it at their Connect deployment. ESO's manifests: vault priority,
//! `property` as a field label or `file/<name>`, extract of an item, find by title, and a
//! PushSecret that creates, updates and (deletionPolicy Delete) removes an item.
#[path = "../../../providers/onepassword/tests/fake/mod.rs"]
mod fake;

use kube::api::{Api, DeleteParams};
use serde_json::json;

use super::*;
use crate::push_secret::{apply_push, push_secret, ready};
use fake::FakeConnect;

const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.e2e-connect-token";

/// ESO's onepassword store manifest.
async fn onepassword_store(scene: &Scene, fake: &FakeConnect, token: &str) {
    scene.plain_secret("onepassword-connect-token", &[("token", token)]).await;
    let spec = json!({"onepassword": {
        "connectHost": fake.url, "vaults": {"staging": 1, "production": 2},
        "auth": {"secretRef": {"connectTokenSecretRef": {"name": "onepassword-connect-token", "key": "token"}}},
    }});
    scene.store("onepassword", spec).await;
}

#[tokio::test]
async fn onepassword_items_sync_by_vault_priority_with_fields_files_extract_find_and_push() {
    let scene = Scene::new("e2e-1p").await;
    let fake = FakeConnect::start().await;
    let staging = fake.vault("staging");
    let production = fake.vault("production");
    fake.token(TOKEN, &[&staging, &production]);
    fake.item(&staging, "database", "LOGIN", &[], &[("username", "app"), ("password", "op-stg-pw")], &[]);
    fake.item(&production, "database", "LOGIN", &[], &[("password", "op-prod-pw")], &[]);
    fake.item(&production, "tls", "SERVER", &[], &[("host", "db.internal")], &[("ca.pem", b"op-ca-pem")]);
    onepassword_store(&scene, &fake, TOKEN).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "onepassword", "True", "Valid", "store validated").await;

    scene
        .external_secret(
            "database",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "onepassword"},
                "data": [
                    {"secretKey": "password", "remoteRef": {"key": "database"}},
                    {"secretKey": "ca", "remoteRef": {"key": "tls", "property": "file/ca.pem"}},
                ],
                "dataFrom": [{"extract": {"key": "database"}}, {"find": {"path": "tls"}}],
            }),
        )
        .await;
    let want = map(&[("password", "op-stg-pw"), ("username", "app"), ("ca", "op-ca-pem"), ("host", "db.internal")]);
    wait_secret_data(&scene, &sesame, "database", &want).await;
    scene.wait_ready(&sesame, "database", "True", "SecretSynced").await;

    // A field that does not exist: Ready=False naming it, the Secret kept.
    let missing = json!({"secretStoreRef": {"name": "onepassword"}, "data": [{"secretKey": "x", "remoteRef": {"key": "database", "property": "otp"}}]});
    scene.external_secret("missing", missing).await;
    let es = scene.wait_ready(&sesame, "missing", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("otp"), "{:?}", ready_condition(&es));

    // PushSecret: a new item in the first vault, then removed with the PushSecret.
    scene.plain_secret("source", &[("api-key", "op-pushed-value")]).await;
    apply_push(&scene, push_secret(&scene, "push", json!({"name": "onepassword"}), &[("api-key", "pushed-item", "")])).await;
    ready(&scene, &sesame, "push", "True").await;
    let pushed = fake.find_by_title("pushed-item");
    assert_eq!(pushed.len(), 1);
    assert_eq!((pushed[0]["vault"]["id"].as_str(), pushed[0]["fields"][0]["label"].as_str()), (Some(staging.as_str()), Some("password")));
    assert_eq!(pushed[0]["fields"][0]["value"], "op-pushed-value");
    let ps: Api<sesame::api::PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    ps.delete("push", &DeleteParams::default()).await.unwrap();
    let gone = eventually(Duration::from_secs(30), || async { fake.find_by_title("pushed-item").is_empty() }).await;
    assert!(gone, "deletionPolicy Delete removes the pushed item\n{}", tail(&sesame.logs()));

    assert_not_logged(&sesame, &["op-stg-pw", "op-ca-pem", "op-pushed-value", TOKEN]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn onepassword_a_refused_token_is_a_clear_store_condition() {
    let scene = Scene::new("e2e-1p-auth").await;
    let fake = FakeConnect::start().await;
    let staging = fake.vault("staging");
    fake.vault("production");
    fake.token(TOKEN, &[&staging]);
    onepassword_store(&scene, &fake, "revoked-connect-token").await;
    let sesame = scene.sesame();
    let message = wait_store(&scene, &sesame, "onepassword", "False", "InvalidProviderConfig", "Invalid token signature").await;
    assert!(message.contains("HTTP 401") && !message.contains("revoked-connect-token"), "{message}");
    scene.delete_namespace().await;
}
