//! PushSecret writes on Secrets Manager and Parameter Store, through the real SDK against moto.
use aws_sdk_secretsmanager::types::Tag as SmTag;
use aws_sdk_ssm::types::{ParameterType, Tag as SsmTag};
use serde_json::json;
use sesame_provider_aws::AwsServiceType::{ParameterStore, SecretsManager};
use sesame_provider_aws::SecretsManagerOptions;
use sesame_provider_core::{Capabilities, PushRef, RemoteKey};

use crate::support::*;

fn meta(spec: serde_json::Value) -> Option<serde_json::Value> {
    Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec}))
}

async fn sm_tags(name: &str) -> Vec<(String, String)> {
    let out = sm_admin().await.describe_secret().secret_id(name).send().await.unwrap();
    let mut tags: Vec<_> = out.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect();
    tags.sort();
    tags
}

#[tokio::test]
async fn secrets_manager_creates_tagged_merges_properties_and_deletes_exactly_what_was_pushed() {
    let name = unique("push/sm");
    let (client, calls) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;
    assert_eq!(client.capabilities(), Capabilities::ReadWrite);
    assert!(!client.secret_exists(&PushRef::new(&name, None)).await.unwrap());

    let user = PushRef {
        metadata: meta(json!({"secretPushFormat": "string", "tags": {"team": "payments"}})),
        ..PushRef::new(&name, Some("user".into()))
    };
    client.push_secret(&user, b"app").await.unwrap();
    client.push_secret(&PushRef::new(&name, Some("password".into())), b"pw").await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), r#"{"password":"pw","user":"app"}"#);
    assert_eq!(sm_tags(&name).await, vec![("managed-by".into(), "external-secrets".into()), ("team".into(), "payments".into())]);
    assert!(client.secret_exists(&PushRef::new(&name, Some("user".into()))).await.unwrap());
    assert!(!client.secret_exists(&PushRef::new(&name, Some("other".into()))).await.unwrap());

    // The same value again writes no new version.
    let puts = calls.count("PutSecretValue");
    client.push_secret(&PushRef::new(&name, Some("password".into())), b"pw").await.unwrap();
    assert_eq!(calls.count("PutSecretValue"), puts);

    client.delete_secret(&PushRef::new(&name, Some("user".into()))).await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), r#"{"password":"pw"}"#);
    client.delete_secret(&PushRef::new(&name, Some("password".into()))).await.unwrap();
    assert!(client.get_secret(&RemoteKey::new(&name)).await.unwrap_err().is_not_found());
    // Already gone: not an error.
    client.delete_secret(&PushRef::new(&name, None)).await.unwrap();
}

#[tokio::test]
async fn secrets_manager_pushes_binary_by_default_and_honours_force_delete() {
    let name = unique("push/sm-bin");
    let mut spec = store(SecretsManager);
    spec.secrets_manager = Some(SecretsManagerOptions { force_delete_without_recovery: true, recovery_window_in_days: None });
    let (client, _) = build(&spec, TestCredentials::keys(), at(&moto())).await;
    client.push_secret(&PushRef::new(&name, None), b"v1").await.unwrap();
    let out = sm_admin().await.get_secret_value().secret_id(&name).send().await.unwrap();
    assert_eq!(out.secret_binary().map(|b| b.as_ref()), Some(&b"v1"[..]));
    assert_eq!(out.secret_string(), None);
    let described = sm_admin().await.describe_secret().secret_id(&name).send().await.unwrap();
    assert_eq!(described.description(), Some("secret 'managed-by:external-secrets'"));

    client.push_secret(&PushRef::new(&name, None), b"v2").await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "v2");
    client.delete_secret(&PushRef::new(&name, None)).await.unwrap();
    // Forced: gone at once, not scheduled for deletion (the name is free again).
    let err = sm_admin().await.describe_secret().secret_id(&name).send().await.unwrap_err();
    assert!(format!("{err:?}").contains("ResourceNotFoundException"), "{err:?}");
}

#[tokio::test]
async fn secrets_manager_refuses_a_secret_it_does_not_manage_and_leaves_it_untouched() {
    let name = unique("push/sm-foreign");
    sm_admin()
        .await
        .create_secret()
        .name(&name)
        .secret_string("theirs")
        .tags(SmTag::builder().key("owner").value("someone").build())
        .send()
        .await
        .unwrap();
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;

    let err = client.push_secret(&PushRef::new(&name, None), b"ours").await.unwrap_err();
    assert!(err.to_string().contains("not managed by external-secrets") && !err.to_string().contains("ours"), "{err}");
    client.delete_secret(&PushRef::new(&name, None)).await.unwrap();
    assert!(client.secret_exists(&PushRef::new(&name, None)).await.unwrap());
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "theirs");

    let bad = PushRef { metadata: meta(json!({"tags": {"managed-by": "me"}})), ..PushRef::new(unique("push/sm-bad"), None) };
    assert!(client.push_secret(&bad, b"x").await.unwrap_err().to_string().contains("managed-by"));
}

#[tokio::test]
async fn secrets_manager_refuses_an_invalid_recovery_window_before_deleting() {
    let name = unique("push/sm-window");
    let mut spec = store(SecretsManager);
    spec.secrets_manager = Some(SecretsManagerOptions { force_delete_without_recovery: false, recovery_window_in_days: Some(3) });
    let (client, _) = build(&spec, TestCredentials::keys(), at(&moto())).await;
    client.push_secret(&PushRef::new(&name, None), b"v").await.unwrap();
    let err = client.delete_secret(&PushRef::new(&name, None)).await.unwrap_err();
    assert!(err.to_string().contains("between 7 and 30"), "{err}");
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "v");
}

/// The resource policy moto holds for a secret, as JSON; None when it has none.
async fn sm_policy(name: &str) -> Option<serde_json::Value> {
    let out = sm_admin().await.get_resource_policy().secret_id(name).send().await.unwrap();
    out.resource_policy().filter(|p| !p.is_empty()).map(|p| serde_json::from_str(p).unwrap())
}

#[tokio::test]
async fn secrets_manager_applies_the_resource_policy_named_by_metadata_and_removes_it_when_dropped() {
    let name = unique("push/sm-policy");
    let policy = |sid: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Deny", "Principal": {"AWS": "*"},
               "Action": "secretsmanager:DeleteSecret", "Resource": "*"}]})
        .to_string()
    };
    let creds = TestCredentials::keys().with_secret("policy", "policy.json", &policy("first"));
    let sources = creds.secrets.clone();
    let (client, calls) = build(&store(SecretsManager), creds, at(&moto())).await;
    let source = json!({"kind": "Secret", "name": "policy", "key": "policy.json"});
    let with_policy = PushRef {
        metadata: meta(json!({"resourcePolicy": {"blockPublicPolicy": true, "policySourceRef": source}})),
        ..PushRef::new(&name, None)
    };
    client.push_secret(&with_policy, b"v").await.unwrap();
    assert_eq!(sm_policy(&name).await.unwrap()["Statement"][0]["Sid"], "first", "set right after CreateSecret");

    let puts = calls.count("PutResourcePolicy");
    client.push_secret(&with_policy, b"v").await.unwrap();
    assert_eq!(calls.count("PutResourcePolicy"), puts, "an unchanged policy is not put again");

    sources.lock().unwrap().insert(("policy".into(), "policy.json".into()), policy("second"));
    client.push_secret(&with_policy, b"v").await.unwrap();
    assert_eq!(sm_policy(&name).await.unwrap()["Statement"][0]["Sid"], "second");

    // Metadata without a policy removes it, as ESO.
    client.push_secret(&PushRef::new(&name, None), b"v").await.unwrap();
    assert_eq!(sm_policy(&name).await, None);

    let missing = PushRef {
        metadata: meta(json!({"resourcePolicy": {"policySourceRef": {"kind": "Secret", "name": "absent", "key": "k"}}})),
        ..PushRef::new(&name, None)
    };
    let err = client.push_secret(&missing, b"v").await.unwrap_err().to_string();
    assert!(err.contains("absent"), "{err}");
    let odd = PushRef {
        metadata: meta(json!({"resourcePolicy": {"policySourceRef": {"kind": "Pod", "name": "p", "key": "k"}}})),
        ..PushRef::new(&name, None)
    };
    assert!(client.push_secret(&odd, b"v").await.unwrap_err().to_string().contains("ConfigMap or Secret"));
}

#[tokio::test]
async fn parameter_store_puts_with_type_and_tags_and_deletes_only_what_it_manages() {
    let name = unique("/push/ps");
    let (client, calls) = build(&store(ParameterStore), TestCredentials::keys(), at(&moto())).await;
    assert_eq!(client.capabilities(), Capabilities::ReadWrite);
    let secure = PushRef { metadata: meta(json!({"secretType": "SecureString", "tags": {"team": "a"}})), ..PushRef::new(&name, None) };
    assert!(!client.secret_exists(&secure).await.unwrap());
    client.push_secret(&secure, b"s3cr3t").await.unwrap();
    let got = ssm_admin().await.get_parameter().name(&name).with_decryption(true).send().await.unwrap();
    let p = got.parameter().unwrap();
    assert_eq!((p.value(), p.r#type()), (Some("s3cr3t"), Some(&ParameterType::SecureString)));
    assert_eq!(
        text(client.get_secret(&RemoteKey::new(&name).with_metadata(sesame_provider_core::MetadataPolicy::Fetch)).await.unwrap()),
        r#"{"managed-by":"external-secrets","team":"a"}"#
    );

    let puts = calls.count("PutParameter");
    client.push_secret(&secure, b"s3cr3t").await.unwrap();
    assert_eq!(calls.count("PutParameter"), puts, "an unchanged value is not written again");
    let retagged = PushRef { metadata: meta(json!({"secretType": "SecureString", "tags": {"env": "prod"}})), ..PushRef::new(&name, None) };
    client.push_secret(&retagged, b"rotated").await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "rotated");
    assert_eq!(
        text(client.get_secret(&RemoteKey::new(&name).with_metadata(sesame_provider_core::MetadataPolicy::Fetch)).await.unwrap()),
        r#"{"env":"prod","managed-by":"external-secrets"}"#
    );

    client.delete_secret(&PushRef::new(&name, None)).await.unwrap();
    assert!(client.get_secret(&RemoteKey::new(&name)).await.unwrap_err().is_not_found());
    client.delete_secret(&PushRef::new(&name, None)).await.unwrap();

    let foreign = unique("/push/ps-foreign");
    ssm_admin()
        .await
        .put_parameter()
        .name(&foreign)
        .value("theirs")
        .r#type(ParameterType::String)
        .tags(SsmTag::builder().key("owner").value("x").build().unwrap())
        .send()
        .await
        .unwrap();
    let err = client.push_secret(&PushRef::new(&foreign, None), b"ours").await.unwrap_err();
    assert!(err.to_string().contains("not managed by external-secrets"), "{err}");
    client.delete_secret(&PushRef::new(&foreign, None)).await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&foreign)).await.unwrap()), "theirs");
}

#[tokio::test]
async fn parameter_store_merges_properties_into_a_json_parameter() {
    let name = unique("/push/ps-props");
    let (client, _) = build(&store(ParameterStore), TestCredentials::keys(), at(&moto())).await;
    client.push_secret(&PushRef::new(&name, Some("a".into())), b"1").await.unwrap();
    client.push_secret(&PushRef::new(&name, Some("b".into())), b"2").await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), r#"{"a":"1","b":"2"}"#);
    client.delete_secret(&PushRef::new(&name, Some("a".into()))).await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), r#"{"b":"2"}"#);
    client.delete_secret(&PushRef::new(&name, Some("b".into()))).await.unwrap();
    assert!(!client.secret_exists(&PushRef::new(&name, None)).await.unwrap());
}
