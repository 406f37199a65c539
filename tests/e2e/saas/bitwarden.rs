//! Bitwarden Secrets Manager through the binary: the store's `bitwardenServerSDKURL` points at the
//! fake bitwarden-sdk-server (HTTPS, its CA in `caBundle`), as an operator points it at the
//! sdk-server ESO's chart installs. ESO's manifests: a secret by id and by name (unique in the
//! store's project), `property` on a JSON value, extract, find keyed by id, a rotated access
//! token, a secret removed upstream, and a PushSecret that creates, updates and removes a secret.
#[path = "../../../providers/bitwarden/tests/fake/mod.rs"]
mod fake;

use base64::Engine;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::push_secret::{apply_push, ready};
use fake::FakeSdkServer;

const ORG: &str = "7c0d21ec-10d9-4972-bdf8-ec52df99cc86";
const PROJECT: &str = "9c713cd6-728c-437a-a783-252b0773a0bb";
const OTHER_PROJECT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const TOKEN: &str = "0.48b4774c-68fa-4f3a-9c8e-b0e000a6c2b3.e2eClientSecretAAAA:X8vbvA0bduihIDe/qrzIQQ==";
const ROTATED: &str = "0.48b4774c-68fa-4f3a-9c8e-b0e000a6c2b3.e2eClientSecretBBBB:X8vbvA0bduihIDe/qrzIQQ==";

/// ESO's documented store, its sdk-server URL and CA those of the fake.
async fn bitwarden_store(scene: &Scene, fake: &FakeSdkServer) {
    scene.plain_secret("bitwarden-access-token", &[("token", TOKEN)]).await;
    let spec = json!({"bitwardensecretsmanager": {
        "apiURL": "https://api.bitwarden.com",
        "identityURL": "https://identity.bitwarden.com",
        "auth": {"secretRef": {"credentials": {"key": "token", "name": "bitwarden-access-token"}}},
        "bitwardenServerSDKURL": fake.url,
        "caBundle": base64::engine::general_purpose::STANDARD.encode(&fake.ca_pem),
        "organizationID": ORG,
        "projectID": PROJECT,
    }});
    scene.store("bitwarden-secretsmanager", spec).await;
}

#[tokio::test]
async fn bitwarden_secrets_sync_by_id_and_name_with_property_extract_find_and_survive_a_token_rotation() {
    let scene = Scene::new("e2e-bitwarden").await;
    let fake = FakeSdkServer::start().await;
    fake.token(TOKEN);
    let db = fake.secret(ORG, Some(PROJECT), "db-password", "bw-pw-1", "");
    let other = fake.secret(ORG, Some(OTHER_PROJECT), "db-password", "bw-other-project", "");
    let config = fake.secret(ORG, Some(PROJECT), "config", r#"{"host":"db.internal","port":5432}"#, "");
    bitwarden_store(&scene, &fake).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "bitwarden-secretsmanager", "True", "Valid", "store validated").await;

    scene
        .external_secret(
            "app",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "bitwarden-secretsmanager", "kind": "SecretStore"},
                "data": [
                    {"secretKey": "password", "remoteRef": {"key": "db-password"}},
                    {"secretKey": "other", "remoteRef": {"key": other}},
                    {"secretKey": "db-host", "remoteRef": {"key": "config", "property": "host"}},
                ],
                "dataFrom": [{"extract": {"key": config}}, {"find": {"name": {"regexp": "^db-"}}}],
            }),
        )
        .await;
    let want = |pw: &str| {
        map(&[
            ("password", pw),
            ("other", "bw-other-project"),
            ("db-host", "db.internal"),
            ("host", "db.internal"),
            ("port", "5432"),
            (&db, pw),
            (&other, "bw-other-project"),
        ])
    };
    wait_secret_data(&scene, &sesame, "app", &want("bw-pw-1")).await;
    scene.wait_ready(&sesame, "app", "True", "SecretSynced").await;

    // The machine account's token is rotated and the old one stops logging in: the next read is
    // refused, the client is dropped, and the rebuilt one reads the new token from Kubernetes.
    let rotated = base64::engine::general_purpose::STANDARD.encode(ROTATED);
    let patch = json!({"data": {"token": rotated}});
    scene.secrets().patch("bitwarden-access-token", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("rotate");
    fake.revoke_all();
    fake.token(ROTATED);
    fake.set_value(&db, "bw-pw-2");
    force_sync(&scene, "app", "rotated").await;
    wait_secret_data(&scene, &sesame, "app", &want("bw-pw-2")).await;
    assert!(fake.requests().iter().any(|r| r.token == ROTATED), "the rebuilt client sent the rotated token");
    let seen = fake.requests();
    assert!(seen.iter().all(|r| r.api_url == "https://api.bitwarden.com" && r.identity_url == "https://identity.bitwarden.com"));

    // A secret removed upstream: Ready=False naming it, the Secret keeps its data. First the
    // rotation's own sync must have reported Ready: a retry after the old client's auth error
    // writes the Secret before its status, and that error's Ready=False must not be mistaken for
    // this one.
    scene.wait_ready(&sesame, "app", "True", "SecretSynced").await;
    fake.remove(&config);
    force_sync(&scene, "app", "gone").await;
    let es = scene.wait_ready(&sesame, "app", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    // `config` is read by name (data) and by id (extract): either names the cause.
    let named = message.contains("no secret found for project id") && message.contains("name config");
    let by_id = message.contains(&config) && message.contains("Resource not found");
    assert!(named || by_id, "the Ready message names the cause: {message}");
    assert_eq!(scene.secret_data("app").await.as_ref(), Some(&want("bw-pw-2")), "the Secret keeps its last synced data");
    assert_not_logged(&sesame, &["bw-pw-1", "bw-pw-2", "bw-other-project", "db.internal", TOKEN, ROTATED]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn bitwarden_a_push_secret_creates_updates_and_removes_a_secret_in_the_stores_project() {
    let scene = Scene::new("e2e-bitwarden-push").await;
    let fake = FakeSdkServer::start().await;
    fake.token(TOKEN);
    let theirs = fake.secret(ORG, Some(OTHER_PROJECT), "pushed-key", "bw-not-ours", "");
    bitwarden_store(&scene, &fake).await;
    scene.plain_secret("source", &[("api-key", "bw-pushed-1")]).await;
    let sesame = scene.sesame();
    // ESO's documented PushSecret: the note in the entry's metadata.
    let push = json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": "push", "namespace": scene.ns},
        "spec": {"refreshInterval": "1h", "deletionPolicy": "Delete",
                 "secretStoreRefs": [{"name": "bitwarden-secretsmanager", "kind": "SecretStore"}],
                 "selector": {"secret": {"name": "source"}},
                 "data": [{"match": {"secretKey": "api-key", "remoteRef": {"remoteKey": "pushed-key"}},
                           "metadata": {"note": "Note of the secret to add."}}]},
    });
    apply_push(&scene, push).await;
    ready(&scene, &sesame, "push", "True").await;
    let ours = || fake.named("pushed-key").into_iter().filter(|s| s["projectId"] == PROJECT).collect::<Vec<_>>();
    let pushed = ours();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!((&pushed[0]["value"], &pushed[0]["note"]), (&json!("bw-pushed-1"), &json!("Note of the secret to add.")));

    // A new source value updates that secret in place.
    let patch = json!({"data": {"api-key": base64::engine::general_purpose::STANDARD.encode("bw-pushed-2")}});
    scene.secrets().patch("source", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("update the source");
    let updated = eventually(Duration::from_secs(30), || async { ours().first().is_some_and(|s| s["value"] == "bw-pushed-2") }).await;
    assert!(updated, "the pushed secret follows its source: {:?}\n{}", ours(), tail(&sesame.logs()));
    assert_eq!(ours().len(), 1);
    assert_eq!(ours()[0]["id"], pushed[0]["id"], "updated, not created anew");

    let ps: Api<sesame::api::PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    ps.delete("push", &DeleteParams::default()).await.unwrap();
    let gone = eventually(Duration::from_secs(30), || async { ours().is_empty() }).await;
    assert!(gone, "deletionPolicy Delete removes the pushed secret\n{}", tail(&sesame.logs()));
    let left = fake.named("pushed-key");
    assert_eq!((left.len(), &left[0]["id"]), (1, &json!(theirs)), "another project's secret of that name is untouched");
    assert_not_logged(&sesame, &["bw-pushed-1", "bw-pushed-2", "bw-not-ours", TOKEN]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn bitwarden_a_store_without_https_or_a_ca_is_a_clear_store_condition() {
    let scene = Scene::new("e2e-bitwarden-cfg").await;
    scene.plain_secret("bitwarden-access-token", &[("token", TOKEN)]).await;
    let spec = |url: &str, ca: &str| {
        json!({"bitwardensecretsmanager": {
            "auth": {"secretRef": {"credentials": {"key": "token", "name": "bitwarden-access-token"}}},
            "bitwardenServerSDKURL": url, "caBundle": ca, "organizationID": ORG, "projectID": PROJECT,
        }})
    };
    scene.store("plain-http", spec("http://bitwarden-sdk-server:9998", "LS0tLS1CRUdJTi==")).await;
    scene.store("no-ca", spec("https://bitwarden-sdk-server:9998", "")).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "plain-http", "False", "InvalidProviderConfig", "must use https").await;
    wait_store(&scene, &sesame, "no-ca", "False", "InvalidProviderConfig", "neither caBundle nor caProvider").await;
    assert_not_logged(&sesame, &[TOKEN]);
    scene.delete_namespace().await;
}
