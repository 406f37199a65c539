//! ECRAuthorizationToken and STSSessionToken through an ExternalSecret, on moto: the registry
//! login and the temporary credentials land in the Secret, credentials resolve in the
//! ExternalSecret's namespace, a refresh calls AWS again, and nothing is recorded in a
//! GeneratorState (neither creates anything that needs cleaning up). Without credentials both
//! would be the controller's own AWS identity: refused to a namespaced generator.
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sesame::api::GeneratorState;

use crate::generators::{apply_generator, from_generator};
use crate::harness::*;
use crate::providers::aws_sesame;

#[tokio::test]
async fn ecr_and_sts_generators_fill_a_secret_from_moto_and_refresh() {
    let scene = Scene::new("e2e-awsgen").await;
    scene.plain_secret("aws-creds", &[("id", "AKIASESAMEE2EGEN0001"), ("secret", "e2e-generator-secret")]).await;
    let region = sesame_testsupport::env().aws_region.clone();
    let auth = json!({"secretRef": {
        "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
        "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"},
    }});
    apply_generator(
        &scene.client,
        Some(&scene.ns),
        "ECRAuthorizationToken",
        "ecrauthorizationtokens",
        "ecr",
        json!({"region": region, "auth": auth}),
    )
    .await;
    let sts = json!({"region": region, "auth": auth, "requestParameters": {"sessionDuration": 900}});
    apply_generator(&scene.client, Some(&scene.ns), "STSSessionToken", "stssessiontokens", "sts", sts).await;
    scene.fake_store("store", &[("/marker", "m")]).await;
    let sesame = aws_sesame(&scene, &[]);
    scene
        .external_secret(
            "registry",
            // One entry from the scene's store ties the object to this test's controller class.
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "store"},
                "data": [{"secretKey": "marker", "remoteRef": {"key": "/marker"}}],
                "dataFrom": [from_generator("ECRAuthorizationToken", "ecr"), from_generator("STSSessionToken", "sts")],
            }),
        )
        .await;
    scene.wait_ready(&sesame, "registry", "True", "SecretSynced").await;
    let data = scene.secret_data("registry").await.expect("the Secret is written");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "access_key_id",
            "expiration",
            "expires_at",
            "marker",
            "password",
            "proxy_endpoint",
            "secret_access_key",
            "session_token",
            "username"
        ]
    );
    assert_eq!(data["username"], "AWS");
    assert!(data["password"].ends_with("-auth-token"), "moto's ECR token");
    assert!(data["proxy_endpoint"].ends_with(&format!(".dkr.ecr.{region}.amazonaws.com")), "{}", data["proxy_endpoint"]);
    assert!(data["access_key_id"].starts_with("AKIA") && !data["session_token"].is_empty());
    let expiration: i64 = data["expiration"].parse().expect("a unix time");
    assert!((expiration - chrono::Utc::now().timestamp() - 900).abs() < 120, "the session lasts the 900 s asked for");

    // A refresh asks AWS again (moto answers with the same example credentials, so the calls
    // are counted instead of the values compared).
    let calls = |call: &'static str| {
        let sesame = &sesame;
        async move {
            let (_, metrics) = sesame.get("/metrics").await.expect("/metrics is reachable");
            sample(&metrics, "externalsecret_provider_api_calls_count{", &[&format!("call=\"{call}\"")])
        }
    };
    assert_eq!((calls("GetSessionToken").await, calls("GetAuthorizationToken").await), (1.0, 1.0));
    let force = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("registry", &PatchParams::default(), &Patch::Merge(&force)).await.unwrap();
    // A bound, not a timing, on a CI machine that may be running a dozen suites. Exactly one more
    // call each: a force-sync in the same second as the first sync once ran the generators twice
    // (the cache's older status hid our own write; `Synced::supersedes`).
    let refreshed = eventually(Duration::from_secs(90), || async {
        calls("GetSessionToken").await >= 2.0 && calls("GetAuthorizationToken").await >= 2.0
    })
    .await;
    if !refreshed {
        let es = scene.externalsecrets().get("registry").await.map(|es| serde_json::to_string(&es.status).unwrap_or_default());
        let counts = (calls("GetSessionToken").await, calls("GetAuthorizationToken").await);
        panic!("force-sync did not call STS and ECR again: calls {counts:?}, status {es:?}\n{}", tail(&sesame.logs()));
    }
    scene.wait_ready(&sesame, "registry", "True", "SecretSynced").await;
    assert_eq!((calls("GetSessionToken").await, calls("GetAuthorizationToken").await), (2.0, 2.0), "one force-sync, one call each");

    // No auth: the SDK default chain, i.e. the controller's identity; a tenant's generator may not.
    for (kind, plural) in [("ECRAuthorizationToken", "ecrauthorizationtokens"), ("STSSessionToken", "stssessiontokens")] {
        let name = format!("ambient-{}", plural.trim_end_matches('s'));
        apply_generator(&scene.client, Some(&scene.ns), kind, plural, &name, json!({"region": region})).await;
        let es = json!({
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "store"},
            "data": [{"secretKey": "marker", "remoteRef": {"key": "/marker"}}],
            "dataFrom": [from_generator(kind, &name)],
        });
        scene.external_secret(&name, es).await;
        let es = scene.wait_ready(&sesame, &name, "False", "SecretSyncedError").await;
        let message = ready_condition(&es).unwrap().2;
        assert!(message.contains("may not authenticate as the controller itself"), "{kind}: {message}");
        assert!(scene.secret(&name).await.is_none(), "{kind}: no Secret is written");
    }
    assert_eq!(calls("GetAuthorizationToken").await, 2.0, "a refused generator never calls AWS");

    let states: Api<GeneratorState> = Api::namespaced(scene.client.clone(), &scene.ns);
    assert!(states.list(&Default::default()).await.unwrap().items.is_empty(), "stateless generators record no GeneratorState");
    let logs = sesame.logs();
    for secret in [&data["password"], &data["secret_access_key"], &data["session_token"]] {
        assert!(!logs.contains(secret.as_str()), "a generated value is in the log");
    }
    scene.delete_namespace().await;
}
