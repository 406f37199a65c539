//! QuayAccessToken and CloudsmithAccessToken against the fake OIDC exchanges: a ServiceAccount
//! token of the ExternalSecret's namespace, for exactly the spec's audiences, traded for a
//! registry token.
mod common;
mod fake;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Kube, env, text};
use fake::oidc::{FakeOidc, jwt};
use sesame_generator_core::{Generator, GeneratorError};
use sesame_generator_saas::{CloudsmithAccessToken, QuayAccessToken};

const ISSUER: &str = "https://kubernetes.default.svc";
const SUBJECT: &str = "system:serviceaccount:tenant:builder";

fn kube() -> Kube {
    let token = jwt(serde_json::json!({"iss": ISSUER, "sub": SUBJECT, "aud": ["quay"], "exp": 4102444800u64}));
    let stranger = jwt(serde_json::json!({"iss": ISSUER, "sub": "system:serviceaccount:tenant:stranger", "exp": 4102444800u64}));
    Kube { service_accounts: [("builder".to_string(), token), ("stranger".to_string(), stranger)].into(), ..Default::default() }
}

/// The `exp` claim of an issued token.
fn exp_of(token: &str) -> String {
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    claims["exp"].to_string()
}

fn quay(fake: &FakeOidc, sa: &str) -> QuayAccessToken {
    let spec = serde_json::json!({
        "url": fake.url, "robotAccount": "acme+ci",
        "serviceAccountRef": {"name": sa, "namespace": "kube-system", "audiences": ["quay"]},
    });
    QuayAccessToken::new(serde_json::from_value(spec).unwrap()).unwrap()
}

fn cloudsmith(fake: &FakeOidc, org: &str, sa: &str) -> CloudsmithAccessToken {
    let spec = serde_json::json!({"apiUrl": fake.url, "orgSlug": org, "serviceSlug": "ci-svc", "serviceAccountRef": {"name": sa}});
    CloudsmithAccessToken::new(serde_json::from_value(spec).unwrap()).unwrap()
}

#[tokio::test]
async fn quay_trades_the_service_account_token_for_a_robot_token_in_docker_auth_form() {
    let fake = FakeOidc::start().await;
    fake.robot("acme+ci", ISSUER, SUBJECT);
    let env = env(kube());
    let out = quay(&fake, "builder").generate(&env.ctx).await.unwrap();
    let issued = fake.issued();
    assert_eq!(out.data.keys().collect::<Vec<_>>(), ["auth", "expiry", "registry"]);
    assert_eq!(text(&out.data, "registry"), fake.url.trim_start_matches("http://"));
    assert_eq!(STANDARD.decode(text(&out.data, "auth")).unwrap(), format!("acme+ci:{}", issued[0]).into_bytes());
    assert_eq!(text(&out.data, "expiry"), exp_of(&issued[0]));
    assert_eq!(out.state, None);
    // The ServiceAccount of the ExternalSecret's namespace (the ref's namespace is ignored, as
    // ESO ignores it), for exactly the spec's audiences.
    let asked = env.kube.token_requests.lock().unwrap().clone();
    assert_eq!(asked, [(None, "builder".to_string(), vec!["quay".to_string()])]);
    assert_eq!(env.calls(), ["Quay/FederationRobotToken: ok"]);
}

#[tokio::test]
async fn quay_refuses_a_service_account_its_federation_does_not_trust() {
    let fake = FakeOidc::start().await;
    fake.robot("acme+ci", ISSUER, SUBJECT);
    let env = env(kube());
    let err = quay(&fake, "stranger").generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) if m.contains("HTTP 401") && m.contains("federation configuration")), "{err}");
    let err = quay(&fake, "missing").generate(&env.ctx).await.unwrap_err();
    assert!(err.to_string().contains("serviceaccount missing not found"), "{err}");
    assert!(fake.issued().is_empty());
}

#[tokio::test]
async fn cloudsmith_exchanges_the_oidc_token_for_an_api_token() {
    let fake = FakeOidc::start().await;
    fake.service("acme", "ci-svc", ISSUER, SUBJECT);
    let env = env(kube());
    let out = cloudsmith(&fake, "acme", "builder").generate(&env.ctx).await.unwrap();
    let issued = fake.issued();
    assert_eq!(out.data.keys().collect::<Vec<_>>(), ["auth", "expiry"]);
    assert_eq!(STANDARD.decode(text(&out.data, "auth")).unwrap(), format!("token:{}", issued[0]).into_bytes());
    assert_eq!(text(&out.data, "expiry"), exp_of(&issued[0]));
    assert_eq!(fake.requests(), ["POST /openid/acme/"]);
    let asked = env.kube.token_requests.lock().unwrap().clone();
    assert_eq!(asked, [(None, "builder".to_string(), vec![])], "no audiences: the apiserver's own");

    let err = cloudsmith(&fake, "acme", "stranger").generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) if m.contains("Invalid OIDC token")), "{err}");
    let err = cloudsmith(&fake, "nobody", "builder").generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::NotFound(m) if m.contains("/openid/nobody/")), "{err}");
}
