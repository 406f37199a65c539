//! Parameter Store reads, through the real SDK against moto.
use aws_sdk_ssm::types::{ParameterType, Tag};
use sesame_provider_aws::AwsServiceType::ParameterStore;
use sesame_provider_core::{FindName, FindQuery, MetadataPolicy, RemoteKey};

use crate::support::*;

async fn put(name: &str, value: &str, kind: ParameterType) {
    ssm_admin().await.put_parameter().name(name).value(value).r#type(kind).overwrite(true).send().await.expect("put parameter");
}

#[tokio::test]
async fn reads_string_and_decrypted_secure_string_parameters() {
    let stem = unique("/param-types");
    put(&format!("{stem}/plain"), "hello", ParameterType::String).await;
    put(&format!("{stem}/secure"), "s3cr3t", ParameterType::SecureString).await;
    let (client, calls) = build(&store(ParameterStore), TestCredentials::keys(), at(&moto())).await;

    assert_eq!(text(client.get_secret(&RemoteKey::new(format!("{stem}/plain"))).await.unwrap()), "hello");
    assert_eq!(text(client.get_secret(&RemoteKey::new(format!("{stem}/secure"))).await.unwrap()), "s3cr3t");
    assert_eq!(calls.all(), vec![("AWS/ParameterStore", "GetParameter", "ok"); 2]);
}

#[tokio::test]
async fn a_version_reads_name_colon_version() {
    let name = unique("/param-versions");
    put(&name, "one", ParameterType::String).await;
    put(&name, "two", ParameterType::String).await;
    let (client, _) = build(&store(ParameterStore), TestCredentials::keys(), at(&moto())).await;
    let read = |v: Option<&str>| {
        let (client, key) = (client.clone(), RemoteKey::new(&name).with_version(v.map(str::to_string)));
        async move { client.get_secret(&key).await.map(text) }
    };

    assert_eq!(read(None).await.unwrap(), "two");
    assert_eq!(read(Some("1")).await.unwrap(), "one");
    assert_eq!(read(Some("2")).await.unwrap(), "two");
    let err = read(Some("9")).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn metadata_policy_fetch_returns_the_tags_as_a_json_object() {
    let name = unique("/param-tags");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    ssm_admin()
        .await
        .put_parameter()
        .name(&name)
        .value("x")
        .r#type(ParameterType::String)
        .tags(tag("team", "payments"))
        .tags(tag("env", "prod"))
        .send()
        .await
        .unwrap();
    let (client, calls) = build(&store(ParameterStore), TestCredentials::keys(), at(&moto())).await;

    let tags = client.get_secret(&RemoteKey::new(&name).with_metadata(MetadataPolicy::Fetch)).await.unwrap();
    assert_eq!(text(tags), r#"{"env":"prod","team":"payments"}"#);
    assert_eq!(calls.count("ListTagsForResource"), 1);
}

#[tokio::test]
async fn a_missing_parameter_is_not_found_naming_it() {
    let name = unique("/param-missing");
    let (client, _) = build(&store(ParameterStore), TestCredentials::keys(), at(&moto())).await;

    let err = client.get_secret(&RemoteKey::new(&name)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains(&name) && err.to_string().contains("ParameterNotFound"), "{err}");
}

#[tokio::test]
async fn get_secrets_reads_ten_names_per_get_parameters_call_and_answers_each_on_its_own() {
    let stem = unique("/param-batch");
    for i in 0..24 {
        put(&format!("{stem}/p{i:02}"), &format!("value-{i}"), ParameterType::SecureString).await;
    }
    let (client, calls) = build(&store(ParameterStore), TestCredentials::keys(), at(&moto())).await;
    let mut keys: Vec<RemoteKey> = (0..25).map(|i| RemoteKey::new(format!("{stem}/p{i:02}"))).collect(); // p24 is missing
    keys.push(RemoteKey::new(format!("{stem}/p03")));
    keys.push(RemoteKey::new(format!("{stem}/p00")).with_version(Some("1".into())));

    let got = client.get_secrets(&keys).await;
    for (i, value) in got.iter().take(24).enumerate() {
        assert_eq!(text(value.clone().unwrap()), format!("value-{i}"));
    }
    assert!(got[24].as_ref().unwrap_err().is_not_found(), "{:?}", got[24]);
    assert_eq!(text(got[25].clone().unwrap()), "value-3");
    assert_eq!(text(got[26].clone().unwrap()), "value-0");
    // 25 distinct latest values: ⌈25/10⌉ = 3 GetParameters; the version on its own.
    assert_eq!((calls.count("GetParameters"), calls.count("GetParameter")), (3, 1));
}

#[tokio::test]
async fn find_selects_by_path_tags_and_name_and_strips_the_store_prefix() {
    let stem = unique("/param-find");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    let admin = ssm_admin().await;
    for (name, team) in [("app/db-user", "a"), ("app/db-pass", "a"), ("app/api-token", "b"), ("other/db-user", "a")] {
        admin
            .put_parameter()
            .name(format!("{stem}/{name}"))
            .value(format!("v-{name}"))
            .r#type(ParameterType::SecureString)
            .tags(tag("team", team))
            .send()
            .await
            .unwrap();
    }
    let mut spec = store(ParameterStore);
    spec.prefix = Some(stem.clone());
    let (client, calls) = build(&spec, TestCredentials::keys(), at(&moto())).await;

    let by_path = FindQuery { path: Some("/app".into()), name: Some(FindName { regexp: "db-".into() }), ..Default::default() };
    let found = client.find(&by_path, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), vec!["/app/db-pass", "/app/db-user"]);
    assert_eq!(text(found["/app/db-pass"].clone()), "v-app/db-pass");
    assert_eq!(calls.count("GetParametersByPath"), 1);

    let by_tag = FindQuery { tags: [("team".to_string(), "a".to_string())].into(), ..Default::default() };
    let found = client.find(&by_tag, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), vec!["/app/db-pass", "/app/db-user", "/other/db-user"]);
    assert_eq!(text(found["/other/db-user"].clone()), "v-other/db-user");
    assert_eq!(calls.count("GetParameter"), 0, "found values are read in batches");
}
