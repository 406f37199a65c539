//! Secrets Manager reads, through the real SDK against moto.
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use sesame_provider_aws::AwsServiceType::SecretsManager;
use sesame_provider_core::{FindName, FindQuery, MetadataPolicy, RemoteKey, property};

use crate::support::*;

async fn create(name: &str, value: &str) -> String {
    let out = sm_admin().await.create_secret().name(name).secret_string(value).send().await.expect("create secret");
    out.version_id().unwrap().to_string()
}

#[tokio::test]
async fn reads_a_string_secret_whole_and_leaves_property_to_the_caller() {
    let name = unique("sm-json");
    create(&name, r#"{"user":"admin","db":{"port":5432}}"#).await;
    let (client, calls) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;

    let whole = client.get_secret(&RemoteKey::new(&name)).await.unwrap();
    assert_eq!(text(whole.clone()), r#"{"user":"admin","db":{"port":5432}}"#);
    assert_eq!(text(property::extract(whole.as_bytes(), "db.port", &name).unwrap()), "5432");
    assert_eq!(calls.all(), vec![("AWS/SecretsManager", "GetSecretValue", "ok")]);
}

#[tokio::test]
async fn returns_a_binary_secret_raw() {
    let name = unique("sm-bin");
    let bytes = vec![0u8, 159, 146, 150, 255, 10];
    sm_admin().await.create_secret().name(&name).secret_binary(Blob::new(bytes.clone())).send().await.unwrap();
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;

    assert_eq!(client.get_secret(&RemoteKey::new(&name)).await.unwrap().into_bytes(), bytes);
}

#[tokio::test]
async fn reads_the_current_stage_by_default_and_other_versions_by_stage_or_uuid() {
    let name = unique("sm-versions");
    let first = create(&name, "v1").await;
    sm_admin().await.put_secret_value().secret_id(&name).secret_string("v2").send().await.unwrap();
    sm_admin().await.put_secret_value().secret_id(&name).secret_string("v3-staged").version_stages("STAGING").send().await.unwrap();
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;
    let read = |version: Option<&str>| {
        let key = RemoteKey::new(&name).with_version(version.map(str::to_string));
        let client = client.clone();
        async move { client.get_secret(&key).await.map(text) }
    };

    assert_eq!(read(None).await.unwrap(), "v2");
    assert_eq!(read(Some("AWSCURRENT")).await.unwrap(), "v2");
    assert_eq!(read(Some("AWSPREVIOUS")).await.unwrap(), "v1");
    assert_eq!(read(Some("STAGING")).await.unwrap(), "v3-staged");
    assert_eq!(read(Some(&format!("uuid/{first}"))).await.unwrap(), "v1");
    let missing = read(Some("uuid/00000000-0000-0000-0000-00000000dead")).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

#[tokio::test]
async fn metadata_policy_fetch_returns_the_tags_as_a_json_object() {
    let name = unique("sm-tags");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    sm_admin()
        .await
        .create_secret()
        .name(&name)
        .secret_string("s3cr3t")
        .tags(tag("team", "payments"))
        .tags(tag("env", "prod"))
        .send()
        .await
        .unwrap();
    let (client, calls) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;

    let tags = client.get_secret(&RemoteKey::new(&name).with_metadata(MetadataPolicy::Fetch)).await.unwrap();
    assert_eq!(text(tags), r#"{"env":"prod","team":"payments"}"#);
    assert_eq!(calls.count("DescribeSecret"), 1);
}

#[tokio::test]
async fn a_missing_secret_is_not_found_naming_the_key() {
    let name = unique("sm-missing");
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;

    let err = client.get_secret(&RemoteKey::new(&name)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains(&name) && err.to_string().contains("ResourceNotFoundException"), "{err}");
    let meta = client.get_secret(&RemoteKey::new(&name).with_metadata(MetadataPolicy::Fetch)).await.unwrap_err();
    assert!(meta.is_not_found(), "{meta}");
}

#[tokio::test]
async fn a_secret_scheduled_for_deletion_is_not_found() {
    let name = unique("sm-deleted");
    create(&name, "going away").await;
    sm_admin().await.delete_secret().secret_id(&name).recovery_window_in_days(7).send().await.unwrap();
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;

    let err = client.get_secret(&RemoteKey::new(&name)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(!err.to_string().contains("going away"));
    let batch = client.get_secrets(&[RemoteKey::new(&name), RemoteKey::new(unique("sm-other"))]).await;
    assert!(batch[0].as_ref().unwrap_err().is_not_found(), "{:?}", batch[0]);
}

#[tokio::test]
async fn the_store_prefix_is_prepended_to_every_key() {
    let stem = unique("sm-prefix");
    create(&format!("{stem}/db"), "prefixed").await;
    let mut spec = store(SecretsManager);
    spec.prefix = Some(format!("{stem}/"));
    let (client, _) = build(&spec, TestCredentials::keys(), at(&moto())).await;

    assert_eq!(text(client.get_secret(&RemoteKey::new("db")).await.unwrap()), "prefixed");
    let both = client.get_secrets(&[RemoteKey::new("db"), RemoteKey::new("nope")]).await;
    assert_eq!(text(both[0].clone().unwrap()), "prefixed");
    assert!(both[1].as_ref().unwrap_err().is_not_found());
}

#[tokio::test]
async fn get_secrets_batches_current_values_and_answers_each_key_on_its_own() {
    let stem = unique("sm-mixed");
    let a = format!("{stem}-a");
    let b = format!("{stem}-b");
    let first_b = create(&b, "b1").await;
    create(&a, "a1").await;
    sm_admin().await.put_secret_value().secret_id(&b).secret_string("b2").send().await.unwrap();
    let missing = format!("{stem}-missing");
    let (client, calls) = build(&store(SecretsManager), TestCredentials::keys(), at(&moto())).await;

    let keys = [
        RemoteKey::new(&a),
        RemoteKey::new(&b),
        RemoteKey::new(&missing),
        RemoteKey::new(&b).with_version(Some(format!("uuid/{first_b}"))),
        RemoteKey::new(&a),
    ];
    let got = client.get_secrets(&keys).await;
    assert_eq!(text(got[0].clone().unwrap()), "a1");
    assert_eq!(text(got[1].clone().unwrap()), "b2");
    assert!(got[2].as_ref().unwrap_err().is_not_found(), "{:?}", got[2]);
    assert_eq!(text(got[3].clone().unwrap()), "b1");
    assert_eq!(text(got[4].clone().unwrap()), "a1");
    // Three distinct current values in one batch; the version on its own.
    assert_eq!((calls.count("BatchGetSecretValue"), calls.count("GetSecretValue")), (1, 1));
}

#[tokio::test]
async fn find_selects_by_path_tags_and_name_and_strips_the_store_prefix() {
    let stem = unique("sm-find");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let admin = sm_admin().await;
    for (name, team) in [("app/db-user", "a"), ("app/db-pass", "a"), ("app/api-token", "b"), ("other/db-user", "a")] {
        admin
            .create_secret()
            .name(format!("{stem}/{name}"))
            .secret_string(format!("v-{name}"))
            .tags(tag("team", team))
            .send()
            .await
            .unwrap();
    }
    let mut spec = store(SecretsManager);
    spec.prefix = Some(format!("{stem}/"));
    let (client, calls) = build(&spec, TestCredentials::keys(), at(&moto())).await;

    let by_path = FindQuery { path: Some("app/".into()), ..Default::default() };
    let found = client.find(&by_path, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), vec!["app/api-token", "app/db-pass", "app/db-user"]);
    assert_eq!(text(found["app/db-pass"].clone()), "v-app/db-pass");

    let by_name_and_tag = FindQuery {
        name: Some(FindName { regexp: "db-".into() }),
        tags: [("team".to_string(), "a".to_string())].into(),
        ..Default::default()
    };
    let found = client.find(&by_name_and_tag, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), vec!["app/db-pass", "app/db-user", "other/db-user"]);
    assert_eq!(calls.count("GetSecretValue"), 0, "found values are read in batches");
}
