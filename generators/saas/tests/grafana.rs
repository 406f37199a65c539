//! Grafana against the fake Grafana service-accounts API: the service account found or created,
//! a new token each time, the state, and the cleanup that deletes the token.
mod common;
mod fake;

use common::{Kube, env, text};
use fake::grafana::FakeGrafana;
use sesame_generator_core::{Generator, GeneratorError};
use sesame_generator_saas::Grafana;

const ADMIN_TOKEN: &str = "glsa_admin_token_0001";

fn generator(fake: &FakeGrafana, auth: serde_json::Value, sa: serde_json::Value) -> Grafana {
    let spec = serde_json::json!({"url": fake.url, "auth": auth, "serviceAccount": sa});
    Grafana::new(serde_json::from_value(spec).unwrap()).unwrap()
}

fn token_auth() -> serde_json::Value {
    serde_json::json!({"token": {"name": "grafana", "key": "token"}})
}

fn kube() -> Kube {
    let secrets = [("grafana/token", ADMIN_TOKEN), ("grafana/password", "admin-pw"), ("viewer/token", "glsa_viewer")];
    Kube { secrets: secrets.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(), ..Default::default() }
}

#[tokio::test]
async fn the_service_account_is_created_once_each_generate_adds_a_token_and_cleanup_deletes_it() {
    let fake = FakeGrafana::start().await;
    fake.caller(ADMIN_TOKEN, true);
    let env = env(kube());
    let g = generator(&fake, token_auth(), serde_json::json!({"name": "eso-dash", "role": "Viewer", "secondsToLive": 3600}));
    let first = g.generate(&env.ctx).await.unwrap();
    let second = g.generate(&env.ctx).await.unwrap();
    let accounts = fake.accounts();
    assert_eq!(accounts.len(), 1, "the second run found the account by name");
    let sa = &accounts[0];
    assert_eq!((sa.name.as_str(), sa.role.as_str(), sa.tokens.len()), ("eso-dash", "Viewer", 2));
    assert_eq!(text(&first.data, "login"), "sa-eso-dash");
    assert_ne!(text(&first.data, "token"), text(&second.data, "token"));
    assert!(sa.tokens.values().all(|(_, _, ttl)| *ttl == Some(3600)), "secondsToLive is sent");
    let state = first.state.clone().unwrap();
    let token_id = state["serviceAccount"]["tokenID"].as_i64().unwrap();
    assert_eq!(state, serde_json::json!({"serviceAccount": {"id": sa.id, "login": "sa-eso-dash", "tokenID": token_id}}));
    assert_eq!(sa.tokens[&token_id].1, text(&first.data, "token"));

    g.cleanup(&state, &env.ctx).await.unwrap();
    let left: Vec<i64> = fake.accounts()[0].tokens.keys().copied().collect();
    assert_eq!(left, [second.state.unwrap()["serviceAccount"]["tokenID"].as_i64().unwrap()], "only the superseded token is gone");
    g.cleanup(&state, &env.ctx).await.unwrap();
    assert_eq!(
        env.calls(),
        [
            "Grafana/SearchOrgServiceAccountsWithPaging: ok",
            "Grafana/CreateServiceAccount: ok",
            "Grafana/CreateToken: ok",
            "Grafana/SearchOrgServiceAccountsWithPaging: ok",
            "Grafana/CreateToken: ok",
            "Grafana/DeleteToken: ok",
            "Grafana/DeleteToken: ok",
        ]
    );
}

#[tokio::test]
async fn basic_auth_works_and_a_caller_without_permission_is_refused_clearly() {
    let fake = FakeGrafana::start().await;
    fake.caller("admin:admin-pw", true);
    fake.caller("glsa_viewer", false);
    let env = env(kube());
    let basic = serde_json::json!({"basic": {"username": "admin", "password": {"name": "grafana", "key": "password"}}});
    let out = generator(&fake, basic, serde_json::json!({"name": "ci", "role": "Editor"})).generate(&env.ctx).await.unwrap();
    assert_eq!(text(&out.data, "login"), "sa-ci");

    let viewer = serde_json::json!({"token": {"name": "viewer", "key": "token"}});
    let err = generator(&fake, viewer, serde_json::json!({"name": "ci", "role": "Editor"})).generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) if m.contains("HTTP 403") && m.contains("serviceaccounts:read")), "{err}");

    fake.caller(ADMIN_TOKEN, true);
    let err = generator(&fake, token_auth(), serde_json::json!({"name": "x", "role": "Owner"})).generate(&env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains("invalid role value: Owner")), "{err}");
    let g = generator(&fake, token_auth(), serde_json::json!({"name": "ci", "role": "Editor"}));
    let err = g.cleanup(&serde_json::json!({"serviceAccount": {"id": 1}}), &env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains("names no service account token")), "{err}");
}
