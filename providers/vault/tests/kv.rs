//! Reading KV v1 and v2 on the real OpenBao server, as an ExternalSecret sees it.
mod common;

use common::*;
use serde_json::json;
use sesame_provider_core::{MetadataPolicy, ProviderError, RemoteKey, property};
use sesame_provider_vault::VaultKvVersion::{V1, V2};

/// A store reading a fresh KV v2 mount with the root token.
async fn v2_store() -> (Bao, String, std::sync::Arc<dyn sesame_provider_core::SecretProvider>) {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    let creds = Creds::with(&[("vault-token", "token", bao.token.as_bytes())]);
    let (provider, _) = build(&store(&bao, &mount, V2, token_auth()), creds).await;
    (bao, mount, provider)
}

#[tokio::test]
async fn kv2_returns_the_whole_map_as_json_with_non_strings_kept() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "app/db", json!({"user": "admin", "port": 5432, "tls": {"on": true}})).await;

    let got = json_of(provider.get_secret(&RemoteKey::new("app/db")).await.unwrap());
    assert_eq!(got, json!({"user": "admin", "port": 5432, "tls": {"on": true}}));
}

#[tokio::test]
async fn property_takes_an_exact_key_first_then_a_gjson_path() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "cfg", json!({"a.b": "literal", "a": {"b": "nested", "list": ["x", "y"]}, "n": 10})).await;

    let payload = provider.get_secret(&RemoteKey::new("cfg")).await.unwrap();
    let prop = |p: &str| text(property::extract(payload.as_bytes(), p, "cfg").unwrap());
    assert_eq!(prop("a.b"), "literal");
    assert_eq!(prop("a.list.1"), "y");
    assert_eq!(prop("n"), "10");
    assert_eq!(prop("a"), r#"{"b":"nested","list":["x","y"]}"#);
    assert!(property::extract(payload.as_bytes(), "missing", "cfg").unwrap_err().is_not_found());
}

#[tokio::test]
async fn data_from_extract_sees_every_top_level_key() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "many", json!({"a": "1", "b": {"c": 2}})).await;

    let payload = provider.get_secret(&RemoteKey::new("many")).await.unwrap();
    let map = property::top_level_map(payload.as_bytes(), "many").unwrap();
    assert_eq!(map["a"].as_bytes(), b"1");
    assert_eq!(map["b"].as_bytes(), br#"{"c":2}"#);
}

#[tokio::test]
async fn kv2_versions_are_read_with_the_version_parameter() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "rot", json!({"v": "one"})).await;
    bao.put2(&mount, "rot", json!({"v": "two"})).await;

    let at = |v: Option<&str>| RemoteKey::new("rot").with_version(v.map(str::to_string));
    assert_eq!(json_of(provider.get_secret(&at(None)).await.unwrap())["v"], "two");
    assert_eq!(json_of(provider.get_secret(&at(Some("1"))).await.unwrap())["v"], "one");
    assert!(provider.get_secret(&at(Some("9"))).await.unwrap_err().is_not_found());
    assert!(matches!(provider.get_secret(&at(Some("latest"))).await, Err(ProviderError::Invalid(_))));
}

#[tokio::test]
async fn deleted_and_destroyed_versions_are_not_found() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "gone", json!({"v": "1"})).await;
    bao.put2(&mount, "gone", json!({"v": "2"})).await;
    bao.must("POST", &format!("{mount}/destroy/gone"), Some(json!({"versions": [1]}))).await;
    bao.must("DELETE", &format!("{mount}/data/gone"), None).await;

    let err = provider.get_secret(&RemoteKey::new("gone")).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let v1 = RemoteKey::new("gone").with_version(Some("1".into()));
    assert!(provider.get_secret(&v1).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn keys_that_repeat_the_mount_or_data_segment_read_the_same_secret() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "norm/x", json!({"k": "v"})).await;

    for key in ["norm/x".to_string(), format!("{mount}/norm/x"), format!("{mount}/data/norm/x"), "/norm/x".into()] {
        assert_eq!(json_of(provider.get_secret(&RemoteKey::new(&key)).await.unwrap())["k"], "v", "key {key}");
    }
}

#[tokio::test]
async fn a_store_without_path_takes_the_mount_from_the_key() {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "nopath", json!({"k": "v"})).await;
    let mut spec = store(&bao, &mount, V2, token_auth());
    spec.path = None;
    let (provider, _) = build(&spec, Creds::with(&[("vault-token", "token", bao.token.as_bytes())])).await;

    let got = provider.get_secret(&RemoteKey::new(format!("{mount}/nopath"))).await.unwrap();
    assert_eq!(json_of(got)["k"], "v");
    provider.validate().await.expect("a store without path validates with lookup-self");
}

#[tokio::test]
async fn kv1_is_read_as_is() {
    let bao = Bao::root().await;
    let mount = bao.kv(V1).await;
    bao.must("POST", &format!("{mount}/legacy/app"), Some(json!({"password": "p", "n": 1}))).await;
    let (provider, _) = build(&store(&bao, &mount, V1, token_auth()), Creds::with(&[("vault-token", "token", bao.token.as_bytes())])).await;

    assert_eq!(json_of(provider.get_secret(&RemoteKey::new("legacy/app")).await.unwrap()), json!({"password": "p", "n": 1}));
    assert!(provider.get_secret(&RemoteKey::new("legacy/none")).await.unwrap_err().is_not_found());
    let meta = RemoteKey::new("legacy/app").with_metadata(MetadataPolicy::Fetch);
    assert!(matches!(provider.get_secret(&meta).await, Err(ProviderError::Invalid(_))));
    provider.validate().await.expect("a KV v1 store on a KV v1 mount validates");
}

#[tokio::test]
async fn metadata_fetch_returns_custom_metadata_as_a_json_object() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "tagged", json!({"v": "x"})).await;
    bao.must("POST", &format!("{mount}/metadata/tagged"), Some(json!({"custom_metadata": {"team": "core", "env": "prod"}}))).await;

    let key = RemoteKey::new("tagged").with_metadata(MetadataPolicy::Fetch);
    let meta = json_of(provider.get_secret(&key).await.unwrap());
    assert_eq!(meta["team"], "core");
    assert_eq!(meta["env"], "prod");
    assert_eq!(meta["current_version"], "1");
    assert!(meta.get("v").is_none(), "metadata never carries the value");
}

#[tokio::test]
async fn a_missing_secret_is_not_found_and_the_message_names_the_path() {
    let (_bao, mount, provider) = v2_store().await;
    let err = provider.get_secret(&RemoteKey::new("no/such")).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains(&format!("{mount}/data/no/such")), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn a_read_the_policy_forbids_is_an_auth_error_without_the_value() {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "open/a", json!({"v": "fine"})).await;
    bao.put2(&mount, "closed/b", json!({"v": "hunter2"})).await;
    let policy = unique("open");
    let hcl = format!("path \"{mount}/data/open/*\" {{ capabilities = [\"read\"] }}");
    bao.must("PUT", &format!("sys/policies/acl/{policy}"), Some(json!({"policy": hcl}))).await;
    let token = bao.token(&[&policy], json!({})).await;
    let (provider, calls) = build(&store(&bao, &mount, V2, token_auth()), Creds::with(&[("vault-token", "token", token.as_bytes())])).await;

    assert_eq!(json_of(provider.get_secret(&RemoteKey::new("open/a")).await.unwrap())["v"], "fine");
    let err = provider.get_secret(&RemoteKey::new("closed/b")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err}");
    assert!(err.to_string().contains("403") && !err.to_string().contains("hunter2"), "{err}");
    // The token itself is fine (lookup-self says so): no new login, no retry of the read.
    assert_eq!(calls.count("LookupSelf"), 1);
    assert_eq!(calls.count("ReadSecretData"), 2);
}

#[tokio::test]
async fn validate_checks_the_mount_exists_and_has_the_store_version() {
    let bao = Bao::root().await;
    let v2 = bao.kv(V2).await;
    let creds = || Creds::with(&[("vault-token", "token", bao.token.as_bytes())]);

    let (ok, _) = build(&store(&bao, &v2, V2, token_auth()), creds()).await;
    ok.validate().await.expect("KV v2 store on a KV v2 mount");

    let (wrong, _) = build(&store(&bao, &v2, V1, token_auth()), creds()).await;
    let err = wrong.validate().await.unwrap_err();
    assert!(matches!(err, ProviderError::Invalid(_)), "{err}");

    let (missing, _) = build(&store(&bao, &unique("nomount"), V2, token_auth()), creds()).await;
    assert!(missing.validate().await.is_err());

    let (bad, _) = build(&store(&bao, &v2, V2, token_auth()), Creds::with(&[("vault-token", "token", b"s.not-a-token")])).await;
    assert!(matches!(bad.validate().await, Err(ProviderError::Auth(_))));
}

#[tokio::test]
async fn find_walks_the_tree_by_name_and_by_custom_metadata_tags() {
    let (bao, mount, provider) = v2_store().await;
    bao.put2(&mount, "team/db-pass", json!({"v": "1"})).await;
    bao.put2(&mount, "team/sub/db-user", json!({"v": "2"})).await;
    bao.put2(&mount, "team/api", json!({"v": "3"})).await;
    bao.put2(&mount, "other/db-x", json!({"v": "4"})).await;
    bao.must("POST", &format!("{mount}/metadata/team/api"), Some(json!({"custom_metadata": {"owner": "web"}}))).await;

    let by_name = sesame_provider_core::FindQuery {
        path: Some("team".into()),
        name: Some(sesame_provider_core::FindName { regexp: "db-".into() }),
        ..Default::default()
    };
    let found = provider.find(&by_name, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), vec!["team/db-pass", "team/sub/db-user"]);
    assert_eq!(json_of(found["team/db-pass"].clone())["v"], "1");

    let by_tag = sesame_provider_core::FindQuery { tags: [("owner".to_string(), "web".to_string())].into(), ..Default::default() };
    let found = provider.find(&by_tag, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), vec!["team/api"]);
}
