//! PushSecret on the cloud providers through the real binary: AWS Secrets Manager and Parameter
//! Store on moto here; GCP Secret Manager and Azure Key Vault on their fakes (`cloud::gcp`,
//! `cloud::azure`) through the same [`round_trip`]. Each round trip: push → an ExternalSecret reads it back through the same store
//! → a change of the source Secret is pushed at once → a remote secret Sesame does not manage is
//! refused and left alone → deleting the PushSecret (`deletionPolicy: Delete`) removes exactly
//! what it pushed. Remote names carry the scene's namespace, so tests stay independent.
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use sesame::api::PushSecret;

use crate::harness::*;
use crate::push_secret::{apply_push, push_secret, ready};

/// Static moto keys in `aws-creds` and an AWS store named `name` for `service`.
async fn aws_store(scene: &Scene, name: &str, service: &str, extra: Value) {
    let env = sesame_testsupport::env();
    let creds = [("id", sesame_testsupport::AWS_ACCESS_KEY_ID), ("secret", sesame_testsupport::AWS_SECRET_ACCESS_KEY)];
    scene.plain_secret("aws-creds", &creds).await;
    let mut aws = json!({"service": service, "region": env.aws_region, "auth": {"secretRef": {
        "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
        "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"}}}});
    aws.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    scene.store(name, json!({"aws": aws})).await;
}

async fn ssm() -> aws_sdk_ssm::Client {
    let env = sesame_testsupport::env();
    let creds = aws_sdk_ssm::config::Credentials::new(
        sesame_testsupport::AWS_ACCESS_KEY_ID,
        sesame_testsupport::AWS_SECRET_ACCESS_KEY,
        None,
        None,
        "e2e",
    );
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .region(aws_sdk_ssm::config::Region::new(env.aws_region.clone()))
        .endpoint_url(&env.aws_endpoint)
        .credentials_provider(creds)
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

/// The Secrets Manager value (string or binary) as text; None once the secret is gone.
async fn sm_value(sm: &aws_sdk_secretsmanager::Client, id: &str) -> Option<String> {
    let out = sm.get_secret_value().secret_id(id).send().await.ok()?;
    out.secret_string().map(str::to_string).or_else(|| out.secret_binary().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()))
}

async fn ssm_value(ssm: &aws_sdk_ssm::Client, name: &str) -> Option<String> {
    let out = ssm.get_parameter().name(name).with_decryption(true).send().await.ok()?;
    out.parameter()?.value().map(str::to_string)
}

/// The round trip every provider shares, on store `store`: `remote(key)` reads the provider's
/// value of a remote key directly; `theirs` is an unmanaged remote key holding "not ours".
pub(crate) async fn round_trip<R, F>(scene: &Scene, sesame: &Sesame, store: &str, pushed: &str, theirs: &str, remote: R)
where
    R: Fn(String) -> F,
    F: std::future::Future<Output = Option<String>>,
{
    let writable = eventually(Duration::from_secs(30), || async {
        scene.stores().get(store).await.ok().and_then(|s| s.status).and_then(|s| s.capabilities).as_deref() == Some("ReadWrite")
    })
    .await;
    assert!(writable, "store {store} never reported capabilities ReadWrite\n{}", tail(&sesame.logs()));
    let store_ref = json!({"name": store, "kind": "SecretStore"});
    let entries = [("password", pushed, "password"), ("user", pushed, "user")];
    apply_push(scene, push_secret(scene, "push", store_ref.clone(), &entries)).await;
    ready(scene, sesame, "push", "True").await;
    let value: Value = serde_json::from_str(&remote(pushed.to_string()).await.expect("pushed")).unwrap();
    assert_eq!(value, json!({"password": "pw-1", "user": "app"}));

    // Read back through the same store.
    let readback = json!({"refreshInterval": "1h", "secretStoreRef": {"name": store},
                          "data": [{"secretKey": "v", "remoteRef": {"key": pushed, "property": "password"}}]});
    scene.external_secret("readback", readback).await;
    wait_secret_data(scene, sesame, "readback", &map(&[("v", "pw-1")])).await;

    // The source changes: pushed at once (the refresh interval is an hour).
    let rotated = json!({"stringData": {"password": "pw-2"}});
    scene.secrets().patch("source", &PatchParams::default(), &Patch::Merge(&rotated)).await.unwrap();
    let followed = eventually(Duration::from_secs(30), || async {
        remote(pushed.to_string()).await.is_some_and(|v| v.contains("pw-2") && v.contains("app"))
    })
    .await;
    assert!(followed, "the rotated source never reached the provider\n{}", tail(&sesame.logs()));

    // A remote secret Sesame does not manage is refused and left as it is.
    apply_push(scene, push_secret(scene, "hostile", store_ref.clone(), &[("password", theirs, "")])).await;
    let refused = ready(scene, sesame, "hostile", "False").await;
    let message = refused.status.unwrap().conditions[0].message.clone().unwrap_or_default();
    assert!(message.contains("not managed"), "{message}");
    assert!(!message.contains("pw-2"), "a value in the condition: {message}");
    assert_eq!(remote(theirs.to_string()).await.as_deref(), Some("not ours"));

    // Deleting the PushSecrets removes what was pushed, and only that.
    let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    api.delete("push", &Default::default()).await.unwrap();
    api.delete("hostile", &Default::default()).await.unwrap();
    for name in ["push", "hostile"] {
        let gone = eventually(Duration::from_secs(30), || async { api.get_opt(name).await.unwrap().is_none() }).await;
        assert!(gone, "the finalizer of {name} never let go\n{}", tail(&sesame.logs()));
    }
    assert_eq!(remote(pushed.to_string()).await, None, "the pushed secret is still there");
    assert_eq!(remote(theirs.to_string()).await.as_deref(), Some("not ours"));
    assert!(!sesame.logs().contains("pw-2"), "a value reached the log");
}

#[tokio::test]
async fn a_push_secret_round_trips_on_aws_secrets_manager() {
    let scene = Scene::new("push-sm").await;
    let sm = crate::providers::secrets_manager().await;
    let theirs = format!("{}/theirs", scene.ns);
    sm.create_secret().name(&theirs).secret_string("not ours").send().await.unwrap();
    // Forced deletes: the name is free at once (no recovery window), so "gone" is observable.
    aws_store(&scene, "sm", "SecretsManager", json!({"secretsManager": {"forceDeleteWithoutRecovery": true}})).await;
    scene.plain_secret("source", &[("user", "app"), ("password", "pw-1")]).await;
    let sesame = crate::providers::aws_sesame(&scene, &[]);
    let pushed = format!("{}/db", scene.ns);
    round_trip(&scene, &sesame, "sm", &pushed, &theirs, |id| {
        let sm = sm.clone();
        async move { sm_value(&sm, &id).await }
    })
    .await;
    let tags = sm.describe_secret().secret_id(&theirs).send().await.unwrap();
    assert!(tags.tags().is_empty(), "an unmanaged secret was tagged");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_push_secret_round_trips_on_aws_parameter_store() {
    let scene = Scene::new("push-ssm").await;
    let client = ssm().await;
    let theirs = format!("/{}/theirs", scene.ns);
    client.put_parameter().name(&theirs).value("not ours").r#type(aws_sdk_ssm::types::ParameterType::String).send().await.unwrap();
    aws_store(&scene, "ssm", "ParameterStore", json!({})).await;
    scene.plain_secret("source", &[("user", "app"), ("password", "pw-1")]).await;
    let sesame = crate::providers::aws_sesame(&scene, &[]);
    let pushed = format!("/{}/db", scene.ns);
    round_trip(&scene, &sesame, "ssm", &pushed, &theirs, |name| {
        let client = client.clone();
        async move { ssm_value(&client, &name).await }
    })
    .await;
    scene.delete_namespace().await;
}
