//! A GithubAccessToken generator through the binary: an ExternalSecret's
//! `dataFrom[].sourceRef.generatorRef` gets an installation token from the fake GitHub App API (the
//! generator's `url` points at it, as at a GitHub Enterprise Server), signed with the app key read
//! from a Secret of the ExternalSecret's namespace; a refresh gets a new token.
#[path = "../../../generators/saas/tests/fake/github.rs"]
mod fake;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use super::*;
use fake::{FakeGithub, app_key};

async fn github_generator(scene: &Scene, name: &str, spec: Value) {
    let gvk = GroupVersionKind::gvk("generators.external-secrets.io", "v1alpha1", "GithubAccessToken");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "githubaccesstokens");
    let api: Api<DynamicObject> = Api::namespaced_with(scene.client.clone(), &scene.ns, &ar);
    let body = json!({
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "GithubAccessToken",
        "metadata": {"name": name, "namespace": scene.ns}, "spec": spec,
    });
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("apply generator {name}: {e}"));
}

/// Also one entry from the scene's store: a generator-only ExternalSecret is every controller
/// class's (as in ESO), and another test runs a cluster-wide sesame that would ask the fake too.
fn uses(generator: &str) -> Value {
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "store"},
        "data": [{"secretKey": "marker", "remoteRef": {"key": "/marker"}}],
        "dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "GithubAccessToken", "name": generator}}}],
    })
}

#[tokio::test]
async fn a_github_access_token_generator_feeds_an_external_secret_and_a_refresh_gets_a_new_token() {
    let scene = Scene::new("e2e-ghtoken").await;
    let fake = FakeGithub::start().await;
    let (_, pkcs1, public) = app_key();
    fake.app("123", public);
    fake.installation(456, "123", &["app"], &[("contents", "read")]);
    scene.plain_secret("github-app", &[("private-key", &pkcs1)]).await;
    let auth = json!({"privateKey": {"secretRef": {"name": "github-app", "key": "private-key"}}});
    github_generator(&scene, "gh", json!({"url": fake.url, "appID": "123", "installID": "456", "repositories": ["app"], "auth": auth}))
        .await;
    github_generator(&scene, "gh-wrong", json!({"url": fake.url, "appID": "123", "installID": "999", "auth": auth})).await;
    scene.fake_store("store", &[("/marker", "m")]).await;
    let sesame = scene.sesame();

    scene.external_secret("ci", uses("gh")).await;
    scene.external_secret("broken", uses("gh-wrong")).await;
    let ok = eventually(Duration::from_secs(30), || async {
        let issued = fake.issued();
        !issued.is_empty() && scene.secret_data("ci").await == Some(map(&[("marker", "m"), ("token", &issued.last().unwrap().token)]))
    })
    .await;
    assert!(ok, "the Secret never held the issued token: {:?}\n{}", fake.requests(), tail(&sesame.logs()));
    scene.wait_ready(&sesame, "ci", "True", "SecretSynced").await;
    assert_eq!(fake.issued()[0].repositories, ["app"], "the spec's repositories narrowed the token");
    let first = fake.issued().last().unwrap().token.clone();

    force_sync(&scene, "ci", "again").await;
    let rotated = eventually(Duration::from_secs(30), || async {
        scene.secret_data("ci").await.and_then(|d| d.get("token").cloned()).is_some_and(|t| t != first && t.starts_with("ghs_"))
    })
    .await;
    assert!(rotated, "force-sync did not get a new token: {}", tail(&sesame.logs()));

    let es = scene.wait_ready(&sesame, "broken", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("/app/installations/999/access_tokens: HTTP 404 Not Found"), "the Ready message names the cause: {message}");
    assert!(scene.secret("broken").await.is_none(), "no Secret is written from a failed generator");

    let tokens: Vec<String> = fake.issued().into_iter().map(|i| i.token).collect();
    let mut never: Vec<&str> = tokens.iter().map(String::as_str).collect();
    never.push(pkcs1.lines().nth(1).unwrap());
    assert_not_logged(&sesame, &never);
    for name in ["ci", "broken"] {
        let status = serde_json::to_string(&scene.es(name).await.status).unwrap();
        assert!(tokens.iter().all(|t| !status.contains(t)), "a token is in {name}'s status");
        let events = events_with(&scene.client, &scene.ns, name, |(_, r, _)| r == "Updated" || r == "UpdateFailed").await;
        assert!(!events.is_empty(), "{name} has no Event");
        assert!(events.iter().all(|(_, _, note)| tokens.iter().all(|t| !note.contains(t))), "a token is in an Event");
    }
    scene.delete_namespace().await;
}
