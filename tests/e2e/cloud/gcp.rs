//! GCP Secret Manager through the binary: `SESAME_GCP_*_ENDPOINT` point the real SDK at the fake.
#[path = "../../../providers/gcp/tests/fake/mod.rs"]
mod fake;

use serde_json::{Value, json};

use super::*;
use fake::FakeGcp;

const PROJECT: &str = "acme-prod";
const READER: &str = "reader@acme-prod.iam.gserviceaccount.com";
const GSA: &str = "eso@acme-prod.iam.gserviceaccount.com";
const DB: &str = "projects/acme-prod/secrets/db";
const DB_JSON: &str = r#"{"user":"app","password":"gcp-pw-1"}"#;

async fn fake_gcp() -> FakeGcp {
    let fake = FakeGcp::start().await;
    fake.project(PROJECT, 123456789012);
    fake.secret(DB, &[("team", "payments")], &[("owner", "team-db")]);
    fake.version(DB, DB_JSON.as_bytes());
    fake
}

/// Every Google endpoint the provider calls, at the fake.
fn gcp_env(fake: &FakeGcp) -> Vec<(&'static str, String)> {
    ["SESAME_GCP_SECRETMANAGER_ENDPOINT", "SESAME_GCP_STS_ENDPOINT", "SESAME_GCP_IAMCREDENTIALS_ENDPOINT"]
        .into_iter()
        .map(|var| (var, fake.url.clone()))
        .collect()
}

/// A store authenticating with a service-account key kept in the Secret `gcp-sa`; returns the
/// key's private PEM (for the leak check).
async fn key_store(scene: &Scene, fake: &FakeGcp) -> String {
    let key = fake.service_account(READER, PROJECT);
    fake.grant(PROJECT, &format!("serviceAccount:{READER}"));
    scene.plain_secret("gcp-sa", &[("sa.json", &key.json)]).await;
    let auth = json!({"secretRef": {"secretAccessKeySecretRef": {"name": "gcp-sa", "key": "sa.json"}}});
    scene.store("gcp", json!({"gcpsm": {"projectID": PROJECT, "auth": auth}})).await;
    key.key.pkcs8_pem()
}

fn password_of_db() -> Value {
    json!({"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}})
}

#[tokio::test]
async fn gcp_service_account_key_syncs_properties_versions_metadata_extract_and_find() {
    let scene = Scene::new("e2e-gcp-key").await;
    let fake = fake_gcp().await;
    let token = "projects/acme-prod/secrets/api-token";
    fake.secret(token, &[("team", "payments")], &[]);
    fake.version(token, b"tok-v1");
    fake.version(token, b"tok-v2");
    fake.secret("projects/acme-prod/secrets/unrelated", &[], &[]);
    fake.version("projects/acme-prod/secrets/unrelated", b"other-value");
    let private_key = key_store(&scene, &fake).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));

    scene
        .external_secret(
            "db",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "gcp"},
                "data": [
                    password_of_db(),
                    {"secretKey": "api-token", "remoteRef": {"key": "api-token", "version": "1"}},
                    {"secretKey": "db-owner", "remoteRef": {"key": "db", "metadataPolicy": "Fetch", "property": "annotations.owner"}},
                ],
                "dataFrom": [{"extract": {"key": "db"}}],
            }),
        )
        .await;
    // find: by label (ListSecrets filter) and by name (regexp checked client-side); the remote
    // secret names become the keys.
    scene
        .external_secret(
            "found",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "gcp"},
                "dataFrom": [{"find": {"tags": {"team": "payments"}}}, {"find": {"name": {"regexp": "^unrel"}}}],
            }),
        )
        .await;

    let db = map(&[("password", "gcp-pw-1"), ("user", "app"), ("api-token", "tok-v1"), ("db-owner", "team-db")]);
    wait_secret_data(&scene, &sesame, "db", &db).await;
    let found = map(&[("db", DB_JSON), ("api-token", "tok-v2"), ("unrelated", "other-value")]);
    wait_secret_data(&scene, &sesame, "found", &found).await;
    scene.wait_ready(&sesame, "db", "True", "SecretSynced").await;
    assert!(fake.count(":access") >= 3, "values come from AccessSecretVersion: {:?}", fake.requests());
    let key_line = private_key.lines().nth(1).unwrap();
    assert_not_logged(&sesame, &["gcp-pw-1", "tok-v1", "tok-v2", "other-value", key_line]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn gcp_workload_identity_exchanges_a_real_apiserver_token_at_sts_and_impersonates() {
    let scene = Scene::new("e2e-gcp-wi").await;
    let fake = fake_gcp().await;
    service_account(&scene, "eso-ksa", &[("iam.gke.io/gcp-service-account", GSA)]).await;
    // Google trusts the test cluster as it trusts a GKE cluster: by issuer and published keys.
    let issuer = &sesame_testsupport::env().kube_sa_issuer;
    fake.trust_cluster("acme-clusters", "europe-west1", "prod-1", issuer, apiserver_jwks(&scene).await);
    fake.allow_impersonation(GSA, &format!("serviceAccount:acme-clusters.svc.id.goog[{}/eso-ksa]", scene.ns));
    fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    let wi = json!({
        // An extra audience is appended to the pool's (Google STS refuses a token without it).
        "serviceAccountRef": {"name": "eso-ksa", "audiences": ["sesame-extra"]},
        "clusterLocation": "europe-west1", "clusterName": "prod-1", "clusterProjectID": "acme-clusters",
    });
    scene.store("gcp", json!({"gcpsm": {"projectID": PROJECT, "auth": {"workloadIdentity": wi}}})).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));

    scene.external_secret("db", json!({"refreshInterval": "1h", "secretStoreRef": {"name": "gcp"}, "data": [password_of_db()]})).await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "gcp-pw-1")])).await;
    assert!(fake.count("POST /v1/token") >= 1, "the KSA token went through STS: {:?}", fake.requests());
    assert!(fake.count(":generateAccessToken") >= 1, "the GSA was impersonated: {:?}", fake.requests());
    assert_not_logged(&sesame, &["gcp-pw-1"]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn gcp_a_deleted_remote_secret_is_reported_and_the_synced_secret_is_kept() {
    let scene = Scene::new("e2e-gcp-gone").await;
    let fake = fake_gcp().await;
    key_store(&scene, &fake).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));
    scene.external_secret("db", json!({"refreshInterval": "1h", "secretStoreRef": {"name": "gcp"}, "data": [password_of_db()]})).await;
    let synced = map(&[("password", "gcp-pw-1")]);
    wait_secret_data(&scene, &sesame, "db", &synced).await;

    fake.lock().secrets.remove(DB);
    force_sync(&scene, "db", "gone").await;
    assert_failure_reported_and_secret_kept(&scene, &sesame, "db", &synced, "NOT_FOUND").await;
    assert_not_logged(&sesame, &["gcp-pw-1"]);
    scene.delete_namespace().await;
}

/// The latest version of a secret of the fake, as text; None once the secret is gone.
fn latest(fake: &FakeGcp, id: &str) -> Option<String> {
    let state = fake.lock();
    let version = state.secrets.get(&format!("projects/{PROJECT}/secrets/{id}"))?.versions.last()?;
    Some(String::from_utf8_lossy(&version.data).into_owned())
}

/// PushSecret on Secret Manager: push → read back → the rotated source is pushed → an unmanaged
/// secret is refused and untouched → `deletionPolicy: Delete` removes exactly what was pushed.
#[tokio::test]
async fn gcp_a_push_secret_round_trips_and_an_unmanaged_secret_is_refused_and_untouched() {
    let scene = Scene::new("e2e-gcp-push").await;
    let fake = fake_gcp().await;
    let theirs = format!("projects/{PROJECT}/secrets/theirs");
    fake.secret(&theirs, &[("team", "db")], &[]);
    fake.version(&theirs, b"not ours");
    key_store(&scene, &fake).await;
    scene.plain_secret("source", &[("user", "app"), ("password", "pw-1")]).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));
    let fake = std::sync::Arc::new(fake);
    crate::push_providers::round_trip(&scene, &sesame, "gcp", "pushed", "theirs", |id| {
        let fake = fake.clone();
        async move { latest(&fake, &id) }
    })
    .await;
    {
        let state = fake.lock();
        assert_eq!(state.secrets[&theirs].labels.get("team").map(String::as_str), Some("db"));
        assert!(!state.secrets[&theirs].labels.contains_key("managed-by"), "an unmanaged secret was labelled");
        assert_eq!(state.secrets[&theirs].versions.len(), 1);
    }
    assert!(fake.count(":addVersion") >= 2, "values went in as versions: {:?}", fake.requests());
    assert_not_logged(&sesame, &["pw-1", "pw-2"]);
    scene.delete_namespace().await;
}
