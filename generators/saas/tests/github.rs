//! GithubAccessToken against the fake GitHub App API.
mod common;
mod fake;

use common::{Kube, env, text};
use fake::github::{FakeGithub, app_key};
use sesame_generator_core::{Generator, GeneratorError};
use sesame_generator_saas::{GithubAccessToken, GithubAccessTokenSpec};

/// App 123 installed as 456 on `app` and `infra`, with contents:write and metadata:read.
async fn github() -> (FakeGithub, String, String) {
    let fake = FakeGithub::start().await;
    let (pkcs8, pkcs1, public) = app_key();
    fake.app("123", public);
    fake.installation(456, "123", &["app", "infra"], &[("contents", "write"), ("metadata", "read")]);
    (fake, pkcs8, pkcs1)
}

fn generator(fake: &FakeGithub, extra: serde_json::Value) -> GithubAccessToken {
    let mut spec = serde_json::json!({
        "url": fake.url, "appID": "123", "installID": "456",
        "auth": {"privateKey": {"secretRef": {"name": "github-app", "key": "private-key", "namespace": "elsewhere"}}},
    });
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    GithubAccessToken::new(serde_json::from_value::<GithubAccessTokenSpec>(spec).unwrap()).unwrap()
}

fn kube(pem: &str) -> Kube {
    Kube { secrets: [("github-app/private-key".to_string(), pem.as_bytes().to_vec())].into(), ..Default::default() }
}

#[tokio::test]
async fn an_installation_token_is_made_with_a_jwt_signed_by_the_apps_pkcs1_key_and_is_new_each_time() {
    let (fake, _, pkcs1) = github().await;
    let env = env(kube(&pkcs1));
    let g = generator(&fake, serde_json::json!({}));
    let first = g.generate(&env.ctx).await.unwrap();
    assert_eq!(first.data.keys().collect::<Vec<_>>(), ["token"], "ESO's one output key");
    assert!(text(&first.data, "token").starts_with("ghs_"));
    assert_eq!(first.state, None, "nothing to clean up: GitHub expires the token");
    let second = g.generate(&env.ctx).await.unwrap();
    assert_ne!(first.data, second.data, "every invocation generates anew");
    let issued = fake.issued();
    assert_eq!(issued.len(), 2);
    assert!(issued[0].repositories.is_empty(), "no repositories asked: all of the installation's");
    assert_eq!(env.calls(), ["GitHub/CreateInstallationAccessToken: ok", "GitHub/CreateInstallationAccessToken: ok"]);
}

#[tokio::test]
async fn a_pkcs8_key_works_too_and_repositories_and_permissions_narrow_the_token() {
    let (fake, pkcs8, _) = github().await;
    let env = env(kube(&pkcs8));
    let g = generator(&fake, serde_json::json!({"repositories": ["app"], "permissions": {"contents": "read"}}));
    let out = g.generate(&env.ctx).await.unwrap();
    let issued = fake.issued();
    assert_eq!(text(&out.data, "token"), issued[0].token);
    assert_eq!(issued[0].repositories, ["app"]);
    assert_eq!(issued[0].permissions, [("contents".to_string(), "read".to_string())].into());
}

#[tokio::test]
async fn githubs_refusals_are_clear_errors_of_the_right_class() {
    let (fake, pkcs8, _) = github().await;
    let env = env(kube(&pkcs8));
    let err = generator(&fake, serde_json::json!({"repositories": ["secret-repo"]})).generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains("HTTP 422") && m.contains("not accessible")), "{err}");
    let err = generator(&fake, serde_json::json!({"installID": "999"})).generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::NotFound(m) if m.contains("/app/installations/999/access_tokens: HTTP 404 Not Found")), "{err}");

    // Another app's key: the signature does not verify.
    let (_, other, _) = app_key();
    let env = common::env(kube(&other));
    let err = generator(&fake, serde_json::json!({})).generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) if m.starts_with("GithubAccessToken:") && m.contains("could not be decoded")), "{err}");
    assert!(fake.issued().is_empty());
}

#[tokio::test]
async fn a_missing_or_unusable_key_stops_before_any_request() {
    let (fake, _, _) = github().await;
    let env = env(Kube::default());
    let err = generator(&fake, serde_json::json!({})).generate(&env.ctx).await.unwrap_err();
    assert!(err.to_string().contains("github-app/private-key not found"), "{err}");
    let env = common::env(kube("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n"));
    let err = generator(&fake, serde_json::json!({})).generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains("unusable RSA private key")), "{err}");
    assert!(fake.requests().is_empty(), "no request without a signed JWT: {:?}", fake.requests());
}
