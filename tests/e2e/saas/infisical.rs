//! Infisical through the binary: the store's `hostAPI` is the fake Infisical API, as an operator
//! would point it at a self-hosted instance.
#[path = "../../../providers/infisical/tests/fake/mod.rs"]
mod fake;

use base64::Engine;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::*;
use fake::FakeInfisical;

const CLIENT_ID: &str = "machine-identity-e2e";
const CLIENT_SECRET: &str = "ua-secret-e2e-0123456789";
const ROTATED: &str = "ua-secret-e2e-rotated-9876";

async fn fake_infisical() -> FakeInfisical {
    let fake = FakeInfisical::start().await;
    fake.client(CLIENT_ID, CLIENT_SECRET);
    fake.secret("first-project", "dev", "/", "DB_PASSWORD", "inf-pw-1");
    fake.secret("first-project", "dev", "/", "API_CONFIG", r#"{"url":"https://api.internal","retries":"3"}"#);
    fake.secret("first-project", "dev", "/", "DB_URL", "postgres://app:${DB_PASSWORD}@db");
    fake.secret("first-project", "dev", "/shared", "REDIS_URL", "redis://cache:6379");
    fake.import("first-project", "dev", "/", "/shared");
    fake
}

/// ESO's Infisical store manifest (Universal Auth), its `hostAPI` at the fake.
async fn infisical_store(scene: &Scene, fake: &FakeInfisical, secret: &str) {
    scene.plain_secret("universal-auth-credentials", &[("clientId", CLIENT_ID), ("clientSecret", secret)]).await;
    let store = json!({"infisical": {
        "auth": {"universalAuthCredentials": {
            "clientId": {"key": "clientId", "name": "universal-auth-credentials"},
            "clientSecret": {"key": "clientSecret", "name": "universal-auth-credentials"},
        }},
        "secretsScope": {"projectSlug": "first-project", "environmentSlug": "dev", "secretsPath": "/", "recursive": true},
        "hostAPI": fake.url,
    }});
    scene.store("infisical", store).await;
}

#[tokio::test]
async fn infisical_secrets_sync_with_property_extract_and_find_and_survive_a_credential_rotation() {
    let scene = Scene::new("e2e-infisical").await;
    let fake = fake_infisical().await;
    infisical_store(&scene, &fake, CLIENT_SECRET).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "infisical", "True", "Valid", "store validated").await;

    scene
        .external_secret(
            "web",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "infisical"},
                "data": [
                    {"secretKey": "DB_PASS", "remoteRef": {"key": "DB_PASSWORD"}},
                    {"secretKey": "DB_URL", "remoteRef": {"key": "DB_URL"}},
                    {"secretKey": "API_URL", "remoteRef": {"key": "API_CONFIG", "property": "url"}},
                ],
                "dataFrom": [{"extract": {"key": "API_CONFIG"}}, {"find": {"name": {"regexp": "^REDIS"}}}],
            }),
        )
        .await;
    let want = map(&[
        ("DB_PASS", "inf-pw-1"),
        ("DB_URL", "postgres://app:inf-pw-1@db"),
        ("API_URL", "https://api.internal"),
        ("url", "https://api.internal"),
        ("retries", "3"),
        ("REDIS_URL", "redis://cache:6379"),
    ]);
    wait_secret_data(&scene, &sesame, "web", &want).await;
    scene.wait_ready(&sesame, "web", "True", "SecretSynced").await;

    // The identity's secret is rotated and its tokens die: the next read is refused, the client
    // is dropped, and the rebuilt one logs in with the rotated secret read from Kubernetes.
    let rotated = base64::engine::general_purpose::STANDARD.encode(ROTATED);
    let patch = json!({"data": {"clientSecret": rotated}});
    scene.secrets().patch("universal-auth-credentials", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("rotate");
    fake.client(CLIENT_ID, ROTATED);
    fake.secret("first-project", "dev", "/", "DB_PASSWORD", "inf-pw-2");
    fake.revoke_all();
    force_sync(&scene, "web", "rotated").await;
    let want2 = map(&[
        ("DB_PASS", "inf-pw-2"),
        ("DB_URL", "postgres://app:inf-pw-2@db"),
        ("API_URL", "https://api.internal"),
        ("url", "https://api.internal"),
        ("retries", "3"),
        ("REDIS_URL", "redis://cache:6379"),
    ]);
    wait_secret_data(&scene, &sesame, "web", &want2).await;
    let rotated_login = fake.lock().login_bodies.iter().any(|b| b["clientSecret"] == ROTATED);
    assert!(rotated_login, "the rebuilt client logged in with the rotated client secret");

    // A secret removed upstream: Ready=False naming it, the Secret keeps its data.
    fake.lock().folders.get_mut(&("first-project".into(), "dev".into(), "/".into())).unwrap().remove("DB_URL");
    force_sync(&scene, "web", "gone").await;
    let es = scene.wait_ready(&sesame, "web", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("Secret with name 'DB_URL' not found"), "the Ready message names the cause: {message}");
    assert_eq!(scene.secret_data("web").await.as_ref(), Some(&want2), "the Secret keeps its last synced data");
    assert_not_logged(&sesame, &["inf-pw-1", "inf-pw-2", "redis://cache:6379", CLIENT_SECRET, ROTATED, "fake-token-1"]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn infisical_a_refused_login_and_an_unsupported_method_are_clear_store_conditions() {
    let scene = Scene::new("e2e-infisical-auth").await;
    let fake = fake_infisical().await;
    infisical_store(&scene, &fake, "not-the-secret").await;
    let aws = json!({"infisical": {
        "auth": {"awsAuthCredentials": {"identityId": {"key": "clientId", "name": "universal-auth-credentials"}}},
        "secretsScope": {"projectSlug": "first-project", "environmentSlug": "dev"},
        "hostAPI": fake.url,
    }});
    scene.store("infisical-aws", aws).await;
    let sesame = scene.sesame();
    let message = wait_store(&scene, &sesame, "infisical", "False", "InvalidProviderConfig", "Invalid credentials").await;
    assert!(message.contains("HTTP 401") && !message.contains("not-the-secret"), "{message}");
    let message = wait_store(&scene, &sesame, "infisical-aws", "False", "InvalidProviderConfig", "not supported by Sesame yet").await;
    assert!(message.contains("awsAuthCredentials"), "{message}");
    assert_not_logged(&sesame, &["not-the-secret"]);
    scene.delete_namespace().await;
}
