//! Doppler through the binary: `DOPPLER_BASE_URL` (ESO's variable) points the controller at the
//! fake Doppler API.
#[path = "../../../providers/doppler/tests/fake/mod.rs"]
mod fake;

use serde_json::json;

use super::*;
use fake::FakeDoppler;

const TOKEN: &str = "dp.st.prd.e2e0123456789abcdef";

async fn fake_doppler() -> FakeDoppler {
    let fake = FakeDoppler::start().await;
    fake.service_token(TOKEN, "auth-api", "prd");
    fake.secret("auth-api", "prd", "DB_PASSWORD", "dop-pw-1");
    fake.secret("auth-api", "prd", "API_CONFIG", r#"{"url":"https://api.internal","retries":"3"}"#);
    fake.secret("auth-api", "prd", "REDIS_URL", "redis://cache:6379");
    fake
}

/// ESO's Doppler store manifest (service token, default key `dopplerToken`).
async fn doppler_store(scene: &Scene, token: &str, extra: serde_json::Value) {
    scene.plain_secret("doppler-token-auth-api", &[("dopplerToken", token)]).await;
    let mut spec = json!({"auth": {"secretRef": {"dopplerToken": {"name": "doppler-token-auth-api"}}}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    scene.store("doppler", json!({"doppler": spec})).await;
}

#[tokio::test]
async fn doppler_secrets_sync_with_extract_and_transformed_find_and_a_removed_one_is_reported() {
    let scene = Scene::new("e2e-doppler").await;
    let fake = fake_doppler().await;
    doppler_store(&scene, TOKEN, json!({"nameTransformer": "lower-snake"})).await;
    let sesame = scene.sesame_with(&[], &[("DOPPLER_BASE_URL", fake.url.as_str())]);
    wait_store(&scene, &sesame, "doppler", "True", "Valid", "store validated").await;

    scene
        .external_secret(
            "auth-api",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "doppler"},
                "data": [{"secretKey": "DB_PASS", "remoteRef": {"key": "DB_PASSWORD"}}],
                "dataFrom": [{"extract": {"key": "API_CONFIG"}}, {"find": {"name": {"regexp": "^redis"}}}],
            }),
        )
        .await;
    let want = map(&[("DB_PASS", "dop-pw-1"), ("url", "https://api.internal"), ("retries", "3"), ("redis_url", "redis://cache:6379")]);
    wait_secret_data(&scene, &sesame, "auth-api", &want).await;
    scene.wait_ready(&sesame, "auth-api", "True", "SecretSynced").await;
    assert!(fake.requests().iter().any(|r| r.contains("name_transformer=lower-snake")), "{:?}", fake.requests());

    fake.remove("auth-api", "prd", "DB_PASSWORD");
    force_sync(&scene, "auth-api", "gone").await;
    let es = scene.wait_ready(&sesame, "auth-api", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("secret 'DB_PASSWORD' not found"), "the Ready message names the cause: {message}");
    assert_eq!(scene.secret_data("auth-api").await.as_ref(), Some(&want), "the Secret keeps its last synced data");
    assert_not_logged(&sesame, &["dop-pw-1", "redis://cache:6379", TOKEN]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn doppler_a_refused_token_is_a_clear_store_condition() {
    let scene = Scene::new("e2e-doppler-auth").await;
    let fake = fake_doppler().await;
    doppler_store(&scene, "dp.st.revoked", json!({})).await;
    let sesame = scene.sesame_with(&[], &[("DOPPLER_BASE_URL", fake.url.as_str())]);
    let message = wait_store(&scene, &sesame, "doppler", "False", "InvalidProviderConfig", "Invalid Auth token").await;
    assert!(message.contains("HTTP 401") && !message.contains("revoked"), "{message}");
    scene.delete_namespace().await;
}

/// A ServiceAccount `name` in the scene's namespace.
async fn service_account(scene: &Scene, name: &str) {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    kube::Api::<ServiceAccount>::namespaced(scene.client.clone(), &scene.ns)
        .create(&kube::api::PostParams::default(), &sa)
        .await
        .expect("create the ServiceAccount");
}

/// Whether the apiserver itself vouches for `jwt`, minted for `audience`.
async fn apiserver_issued(scene: &Scene, jwt: &str, audience: &str) -> Option<String> {
    use k8s_openapi::api::authentication::v1::TokenReview;
    let review: TokenReview = serde_json::from_value(json!({"spec": {"token": jwt, "audiences": [audience]}})).unwrap();
    let done = kube::Api::<TokenReview>::all(scene.client.clone()).create(&kube::api::PostParams::default(), &review).await.ok()?;
    let status = done.status?;
    status.authenticated.filter(|a| *a)?;
    status.user?.username
}

#[tokio::test]
async fn doppler_oidc_exchanges_a_token_request_of_the_named_service_account_bound_to_the_store() {
    let scene = Scene::new("e2e-doppler-oidc").await;
    let fake = FakeDoppler::start().await;
    fake.secret("auth-api", "prd", "DB_PASSWORD", "dop-oidc-pw");
    let subject = format!("system:serviceaccount:{}:doppler-oidc-sa", scene.ns);
    let audience = format!("secretStore:{}:doppler", scene.ns);
    fake.oidc_identity("0c7f3e1b-identity", &subject, &audience, 3600);
    service_account(&scene, "doppler-oidc-sa").await;
    // ESO's OIDC store snippet.
    let oidc = json!({"identity": "0c7f3e1b-identity", "serviceAccountRef": {"name": "doppler-oidc-sa"}, "expirationSeconds": 600});
    scene.store("doppler", json!({"doppler": {"auth": {"oidcConfig": oidc}, "project": "auth-api", "config": "prd"}})).await;
    let sesame = scene.sesame_with(&[], &[("DOPPLER_BASE_URL", fake.url.as_str())]);
    wait_store(&scene, &sesame, "doppler", "True", "Valid", "store validated").await;
    scene
        .external_secret(
            "auth-api",
            json!({"secretStoreRef": {"name": "doppler"}, "data": [{"secretKey": "DB_PASS", "remoteRef": {"key": "DB_PASSWORD"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "auth-api", &map(&[("DB_PASS", "dop-oidc-pw")])).await;

    let exchanged = fake.exchanged();
    let jwt = exchanged.first().expect("one exchange");
    assert_eq!(apiserver_issued(&scene, jwt, &audience).await.as_deref(), Some(subject.as_str()), "a real TokenRequest");
    let claims = fake::claims(jwt).unwrap();
    assert_eq!(claims["aud"], json!([fake.url, audience]), "ESO's audiences: the API root, then the store");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 600, "expirationSeconds");
    assert_not_logged(&sesame, &["dop-oidc-pw", jwt.as_str(), "dp.sa."]);

    // An identity that does not trust this ServiceAccount: a clear store condition.
    let other = json!({"identity": "unknown-identity", "serviceAccountRef": {"name": "doppler-oidc-sa"}});
    scene.store("doppler", json!({"doppler": {"auth": {"oidcConfig": other}, "project": "auth-api", "config": "prd"}})).await;
    let message = wait_store(&scene, &sesame, "doppler", "False", "InvalidProviderConfig", "/v3/auth/oidc").await;
    assert!(message.contains("HTTP 404"), "{message}");
    scene.delete_namespace().await;
}
