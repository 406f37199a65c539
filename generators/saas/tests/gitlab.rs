//! GitlabDeployToken against the fake GitLab deploy-tokens API: create, state, cleanup.
mod common;
mod fake;

use common::{Kube, env, text};
use fake::gitlab::{FakeGitlab, Role};
use sesame_generator_core::{Generator, GeneratorError};
use sesame_generator_saas::GitlabDeployToken;

const MAINTAINER: &str = "glpat-maintainer-0001";
const DEVELOPER: &str = "glpat-developer-0002";

async fn gitlab() -> FakeGitlab {
    let fake = FakeGitlab::start().await;
    fake.token(MAINTAINER, Role::Maintainer);
    fake.token(DEVELOPER, Role::Developer);
    fake.project(42, "acme/app");
    fake.group(7, "acme");
    fake
}

fn generator(fake: &FakeGitlab, extra: serde_json::Value) -> GitlabDeployToken {
    let mut spec = serde_json::json!({
        "url": fake.url, "projectID": "acme/app", "name": "registry-pull", "scopes": ["read_registry", "read_package_registry"],
        "auth": {"token": {"secretRef": {"name": "gitlab", "key": "token"}}},
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            spec.as_object_mut().unwrap().remove(k);
        } else {
            spec[k] = v.clone();
        }
    }
    GitlabDeployToken::new(serde_json::from_value(spec).unwrap()).unwrap()
}

fn kube(token: &str) -> Kube {
    Kube { secrets: [("gitlab/token".to_string(), token.as_bytes().to_vec())].into(), ..Default::default() }
}

#[tokio::test]
async fn a_deploy_token_is_created_in_the_project_its_state_names_it_and_cleanup_revokes_it() {
    let fake = gitlab().await;
    let env = env(kube(MAINTAINER));
    let g = generator(&fake, serde_json::json!({"expiresAt": "2030-01-01T01:00:00+01:00", "username": "ci-pull"}));
    let out = g.generate(&env.ctx).await.unwrap();
    let made = fake.deploy_tokens();
    assert_eq!(made.len(), 1);
    assert_eq!((made[0].owner.as_str(), made[0].name.as_str(), made[0].username.as_str()), ("projects/42", "registry-pull", "ci-pull"));
    assert_eq!(made[0].scopes, ["read_registry", "read_package_registry"]);
    assert_eq!(made[0].expires_at.as_deref(), Some("2030-01-01T00:00:00Z"));
    assert_eq!(text(&out.data, "username"), "ci-pull");
    assert_eq!(text(&out.data, "token"), made[0].token);
    let state = out.state.expect("a deploy token is remote state");
    assert_eq!(state, serde_json::json!({"url": fake.url, "projectID": "acme/app", "tokenID": made[0].id}));
    assert!(fake.requests().contains(&"POST /api/v4/projects/acme/app/deploy_tokens".to_string()), "{:?}", fake.requests());

    g.cleanup(&state, &env.ctx).await.unwrap();
    assert!(fake.deploy_tokens().is_empty(), "cleanup revoked the token");
    // Already gone: still a success (cleanup may run again after a crash).
    g.cleanup(&state, &env.ctx).await.unwrap();
    assert_eq!(env.calls(), ["GitLab/CreateDeployToken: ok", "GitLab/DeleteDeployToken: ok", "GitLab/DeleteDeployToken: ok"]);
}

#[tokio::test]
async fn cleanup_revokes_where_the_token_was_made_even_after_the_spec_moved_to_a_group() {
    let fake = gitlab().await;
    let env = env(kube(MAINTAINER));
    let first = generator(&fake, serde_json::json!({"projectID": "42"})).generate(&env.ctx).await.unwrap();
    let moved = generator(&fake, serde_json::json!({"projectID": null, "groupID": "7"}));
    let second = moved.generate(&env.ctx).await.unwrap();
    assert_eq!(fake.deploy_tokens().iter().map(|t| t.owner.as_str()).collect::<Vec<_>>(), ["projects/42", "groups/7"]);
    assert_ne!(first.data, second.data);
    moved.cleanup(first.state.as_ref().unwrap(), &env.ctx).await.unwrap();
    assert_eq!(fake.deploy_tokens().iter().map(|t| t.owner.as_str()).collect::<Vec<_>>(), ["groups/7"]);
    // A state with no token (ESO's zero id) is nothing to do.
    moved.cleanup(&serde_json::json!({"url": "", "projectID": "42", "tokenID": 0}), &env.ctx).await.unwrap();
    let err = moved.cleanup(&serde_json::json!({"tokenID": "x"}), &env.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains("error parsing generator state")), "{err}");
    let err =
        moved.cleanup(&serde_json::json!({"url": "https://evil.example@x", "projectID": "42", "tokenID": 1}), &env.ctx).await.unwrap_err();
    assert!(matches!(err, GeneratorError::Invalid(_)), "a state URL is checked like a spec URL");
}

#[tokio::test]
async fn gitlabs_refusals_are_clear_errors_and_a_failed_revoke_is_an_error() {
    let fake = gitlab().await;
    let dev = env(kube(DEVELOPER));
    let err = generator(&fake, serde_json::json!({})).generate(&dev.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) if m.contains("HTTP 403 403 Forbidden")), "{err}");
    let bad = env(kube("glpat-revoked"));
    let err = generator(&fake, serde_json::json!({})).generate(&bad.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) if m.contains("401 Unauthorized") && !m.contains("glpat-revoked")), "{err}");
    let ok = env(kube(MAINTAINER));
    let err = generator(&fake, serde_json::json!({"projectID": "acme/none"})).generate(&ok.ctx).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::NotFound(m) if m.contains("404 Project Not Found")), "{err}");

    let made = generator(&fake, serde_json::json!({})).generate(&ok.ctx).await.unwrap();
    let err = generator(&fake, serde_json::json!({})).cleanup(made.state.as_ref().unwrap(), &dev.ctx).await.unwrap_err();
    assert!(matches!(err, GeneratorError::Auth(_)), "a refused revoke is reported, not swallowed");
    assert_eq!(fake.deploy_tokens().len(), 1, "the token is still there");
}
