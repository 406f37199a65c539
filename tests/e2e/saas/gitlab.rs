//! GitLab CI/CD variables through the binary: the store's `url` is the fake GitLab.
#[path = "../../../providers/gitlab/tests/fake/mod.rs"]
mod fake;

use base64::Engine;
use serde_json::{Value, json};

use super::*;
use fake::{FakeGitlab, Role};

const TOKEN: &str = "glpat-e2e-reader-0123456789";
const DB_JSON: &str = r#"{"user":"app","password":"gl-pw-1"}"#;

/// Project 42 `acme/app` in group 7 `acme`, with production and wildcard variables.
async fn fake_gitlab() -> FakeGitlab {
    let fake = FakeGitlab::start().await;
    fake.token(TOKEN, Role::Maintainer);
    fake.group(7, "acme");
    fake.project(42, "acme/app", &[7]);
    fake.project_var(42, "DB_CREDS", DB_JSON, "production");
    fake.project_var(42, "DB_CREDS", r#"{"user":"staging","password":"other"}"#, "staging");
    fake.project_var(42, "APP_MODE", "prod-mode", "*");
    fake.group_var(7, "APP_SHARED", "group-value", "*");
    fake
}

/// ESO's GitLab store manifest, its `url` at the fake.
async fn gitlab_store(scene: &Scene, fake: &FakeGitlab, token: &str) {
    scene.plain_secret("gitlab-secret", &[("token", token)]).await;
    let store = json!({"gitlab": {
        "url": fake.url,
        "auth": {"SecretRef": {"accessToken": {"name": "gitlab-secret", "key": "token"}}},
        "projectID": "42",
        "inheritFromGroups": true,
        "environment": "production",
    }});
    scene.store("gitlab", store).await;
}

fn db_password() -> Value {
    json!({"secretKey": "password", "remoteRef": {"key": "DB-CREDS", "property": "password"}})
}

#[tokio::test]
async fn gitlab_variables_sync_with_environment_groups_extract_and_find_and_a_removed_one_is_reported() {
    let scene = Scene::new("e2e-gitlab").await;
    let fake = fake_gitlab().await;
    gitlab_store(&scene, &fake, TOKEN).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "gitlab", "True", "Valid", "store validated").await;

    scene
        .external_secret(
            "app",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "gitlab"},
                "data": [
                    db_password(),
                    {"secretKey": "mode", "remoteRef": {"key": "APP_MODE"}},
                    {"secretKey": "shared", "remoteRef": {"key": "APP_SHARED"}},
                ],
                "dataFrom": [{"extract": {"key": "DB_CREDS"}}, {"find": {"name": {"regexp": "^APP_"}}}],
            }),
        )
        .await;
    let want = map(&[
        ("password", "gl-pw-1"),
        ("mode", "prod-mode"),
        ("shared", "group-value"),
        ("user", "app"),
        ("APP_MODE", "prod-mode"),
        ("APP_SHARED", "group-value"),
    ]);
    wait_secret_data(&scene, &sesame, "app", &want).await;
    scene.wait_ready(&sesame, "app", "True", "SecretSynced").await;
    assert!(fake.count("/projects/42/variables/DB_CREDS?filter%5Benvironment_scope%5D=production") >= 1, "{:?}", fake.requests());
    assert!(fake.count("/projects/42/groups") >= 1, "inheritFromGroups discovered the groups: {:?}", fake.requests());

    fake.remove_project_var(42, "DB_CREDS");
    force_sync(&scene, "app", "gone").await;
    let es = scene.wait_ready(&sesame, "app", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("404 Variable Not Found"), "the Ready message names the cause: {message}");
    assert_eq!(scene.secret_data("app").await.as_ref(), Some(&want), "the Secret keeps its last synced data");
    assert_not_logged(&sesame, &["gl-pw-1", "prod-mode", "group-value", TOKEN]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn gitlab_a_refused_token_is_a_clear_store_condition_and_a_rotated_one_brings_the_store_back() {
    let scene = Scene::new("e2e-gitlab-auth").await;
    let fake = fake_gitlab().await;
    gitlab_store(&scene, &fake, "glpat-revoked").await;
    let sesame = scene.sesame();
    let message = wait_store(&scene, &sesame, "gitlab", "False", "InvalidProviderConfig", "401 Unauthorized").await;
    assert!(message.contains("could not verify whether the GitLab token is valid"), "{message}");
    assert!(!message.contains("glpat-revoked"), "the token is not in the condition");

    scene.external_secret("app", json!({"refreshInterval": "1h", "secretStoreRef": {"name": "gitlab"}, "data": [db_password()]})).await;
    scene.wait_ready(&sesame, "app", "False", "SecretSyncedError").await;
    // Rotating the token Secret re-validates the store (no store edit, no refresh): Ready again,
    // and the ExternalSecret syncs with the new token.
    let rotated = json!({"data": {"token": base64::engine::general_purpose::STANDARD.encode(TOKEN)}});
    scene.secrets().patch("gitlab-secret", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&rotated)).await.unwrap();
    wait_store(&scene, &sesame, "gitlab", "True", "Valid", "store validated").await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("password", "gl-pw-1")])).await;
    assert_not_logged(&sesame, &["gl-pw-1", TOKEN, "glpat-revoked"]);
    scene.delete_namespace().await;
}

/// GitLab is read-only (as in ESO): a PushSecret on it is refused with a clear reason, and
/// nothing is written.
#[tokio::test]
async fn gitlab_a_push_secret_on_a_read_only_store_is_refused_with_a_reason() {
    use crate::push_secret::{apply_push, push_secret, ready};
    let scene = Scene::new("e2e-gitlab-ro").await;
    let fake = fake_gitlab().await;
    gitlab_store(&scene, &fake, TOKEN).await;
    scene.plain_secret("source", &[("password", "pw-ro")]).await;
    let sesame = scene.sesame();
    apply_push(&scene, push_secret(&scene, "readonly", json!({"name": "gitlab"}), &[("password", "PUSHED", "")])).await;
    let refused = ready(&scene, &sesame, "readonly", "False").await;
    let message = refused.status.unwrap().conditions[0].message.clone().unwrap_or_default();
    assert!(message.contains("ReadOnly"), "{message}");
    let vars: Vec<String> = fake.lock().projects[&42].vars.iter().map(|v| v.key.clone()).collect();
    assert!(!vars.iter().any(|k| k == "PUSHED"), "a variable was written: {vars:?}");
    assert_not_logged(&sesame, &["pw-ro"]);
    scene.delete_namespace().await;
}
