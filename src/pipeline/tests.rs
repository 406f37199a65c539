//! The pipeline as a specification, on the fake provider.
use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::json;
use sesame_provider_core::{FindQuery, ProviderError, RemoteKey, SecretProvider, SecretValue};
use sesame_provider_fake::{FakeClient, FakeProvider, FakeProviderData};

use super::{FetchError, Source, fetch};
use crate::api::ExternalSecretSpec;

struct Fake(FakeClient);

#[async_trait]
impl Source for Fake {
    async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError> {
        self.0.get_secret(&key).await
    }
    async fn find(&self, q: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        self.0.find(q, &sesame_provider_core::FindScope::unmetered()).await
    }
}

fn store(entries: &[(&str, &str)]) -> Fake {
    let data = entries.iter().map(|(k, v)| FakeProviderData { key: k.to_string(), value: v.to_string(), version: None }).collect();
    Fake(FakeClient::new(&FakeProvider { data, validation_result: None }))
}

fn spec(v: serde_json::Value) -> ExternalSecretSpec {
    serde_json::from_value(v).expect("valid spec")
}

async fn run(entries: &[(&str, &str)], v: serde_json::Value) -> Result<BTreeMap<String, String>, FetchError> {
    let out = fetch(&spec(v), &store(entries)).await?;
    Ok(out.data.into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect())
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn data_overrides_data_from_and_later_data_from_overrides_earlier() {
    let got = run(
        &[("/one", r#"{"a":"1","b":"1"}"#), ("/two", r#"{"b":"2","c":"2"}"#), ("/c", "data")],
        json!({
            "dataFrom": [{"extract": {"key": "/one"}}, {"extract": {"key": "/two"}}],
            "data": [{"secretKey": "c", "remoteRef": {"key": "/c"}}],
        }),
    )
    .await
    .unwrap();
    assert_eq!(got, map(&[("a", "1"), ("b", "2"), ("c", "data")]));
}

#[tokio::test]
async fn find_by_name_converts_keys_unless_rewritten() {
    let entries = [("/app/db-user", "u"), ("/app/db-pass", "p"), ("/other/x", "x")];
    let found = run(&entries, json!({"dataFrom": [{"find": {"name": {"regexp": "^/app/"}}}]})).await.unwrap();
    assert_eq!(found, map(&[("_app_db-pass", "p"), ("_app_db-user", "u")]));
    let rewritten = run(
        &entries,
        json!({"dataFrom": [{"find": {"path": "/app"}, "rewrite": [{"regexp": {"source": "^/app/db-(.*)$", "target": "DB_$1"}}]}]}),
    )
    .await
    .unwrap();
    assert_eq!(rewritten, map(&[("DB_pass", "p"), ("DB_user", "u")]));
}

#[tokio::test]
async fn decoding_and_properties_apply_per_entry() {
    let got = run(
        &[("/b64", "aGVsbG8="), ("/json", r#"{"n":{"deep":1.50}}"#)],
        json!({"data": [
            {"secretKey": "plain", "remoteRef": {"key": "/b64", "decodingStrategy": "Base64"}},
            {"secretKey": "deep", "remoteRef": {"key": "/json", "property": "n.deep"}},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(got, map(&[("deep", "1.5"), ("plain", "hello")]));
}

#[tokio::test]
async fn a_missing_remote_secret_fails_under_retain_and_is_skipped_under_delete_or_merge() {
    let entries = [("/a", "1")];
    let body = |policy: &str| {
        json!({
            "target": {"deletionPolicy": policy},
            "data": [
                {"secretKey": "a", "remoteRef": {"key": "/a"}},
                {"secretKey": "b", "remoteRef": {"key": "/b"}},
            ],
        })
    };
    let err = run(&entries, body("Retain")).await.unwrap_err();
    assert!(err.to_string().contains("data[b] key /b"), "{err}");
    assert_eq!(run(&entries, body("Merge")).await.unwrap(), map(&[("a", "1")]));
    let out = fetch(&spec(body("Merge")), &store(&entries)).await.unwrap();
    assert_eq!(out.missing, ["/b"]);
}

#[tokio::test]
async fn invalid_keys_from_extract_are_refused_with_the_key_named() {
    let err = run(
        &[("/j", r#"{"ok":"1"}"#)],
        json!({"dataFrom": [{"extract": {"key": "/j"}, "rewrite": [{"regexp": {"source": "ok", "target": "not ok"}}]}]}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not ok"), "{err}");
}

#[tokio::test]
async fn null_byte_policy_fail_refuses_a_nul_after_decoding_and_names_only_the_key() {
    let entries = [("/raw", "a\0LEAK"), ("/b64", "AExFQUs="), ("/map", r#"{"x":"AExFQUs=","y":"eQ=="}"#)];
    let one = |remote: serde_json::Value| json!({"data": [{"secretKey": "k", "remoteRef": remote}]});
    let err = run(&entries, one(json!({"key": "/raw", "nullBytePolicy": "Fail"}))).await.unwrap_err().to_string();
    assert!(err.starts_with("data[k] key /raw: the value contains NUL bytes"), "{err}");
    assert!(!err.contains("LEAK"), "{err}");
    assert_eq!(run(&entries, one(json!({"key": "/raw"}))).await.unwrap(), map(&[("k", "a\0LEAK")]), "Ignore is the default");
    assert!(run(&entries, one(json!({"key": "/b64", "nullBytePolicy": "Fail"}))).await.is_ok(), "before decoding there is no NUL");
    let err = run(&entries, one(json!({"key": "/b64", "decodingStrategy": "Base64", "nullBytePolicy": "Fail"}))).await.unwrap_err();
    assert!(err.to_string().contains("NUL bytes"), "{err}");
    let extract = json!({"dataFrom": [{"extract": {"key": "/map", "decodingStrategy": "Base64", "nullBytePolicy": "Fail"}}]});
    let err = run(&entries, extract).await.unwrap_err().to_string();
    assert!(err.starts_with("dataFrom[0].extract key /map key x: the value contains NUL bytes"), "{err}");
    let find = json!({"dataFrom": [{"find": {"name": {"regexp": "^/raw$"}, "nullBytePolicy": "Fail"}}]});
    assert!(run(&entries, find).await.unwrap_err().to_string().contains("NUL bytes"));
}

#[tokio::test]
async fn a_merge_step_runs_between_renames_over_the_whole_map() {
    let entries = [("/cfg/a", r#"{"user":"u","n":1.50}"#), ("/cfg/b", r#"{"host":"h"}"#)];
    let rewrite = json!([{"regexp": {"source": "^/cfg/", "target": ""}}, {"merge": {}}, {"regexp": {"source": "^", "target": "DB_"}}]);
    let got = run(&entries, json!({"dataFrom": [{"find": {"path": "/cfg"}, "rewrite": rewrite}]})).await.unwrap();
    assert_eq!(got, map(&[("DB_host", "h"), ("DB_n", "1.5"), ("DB_user", "u")]));
}

#[tokio::test]
async fn a_secret_target_refuses_a_template_path_that_only_generic_targets_take() {
    let tpl = json!({"templateFrom": [{"literal": "t: x", "target": "type"}]});
    let spec = json!({"target": {"template": tpl}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]});
    let err = run(&[("/k", "v")], spec).await.unwrap_err().to_string();
    assert!(err.contains("templateFrom target=\"type\" is not allowed when targeting a Secret"), "{err}");
    let tpl = json!({"templateFrom": [{"literal": "t: x", "target": "spec.config"}]});
    let spec = json!({"target": {"template": tpl, "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]});
    assert!(run(&[("/k", "v")], spec).await.is_ok(), "a generic target takes paths");
}

/// A store whose provider applies `property` itself (as onepassword does): it answers with what it
/// was asked, so the test sees exactly what reached the provider.
struct AppliesProperty;

#[async_trait]
impl Source for AppliesProperty {
    async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError> {
        Ok(SecretValue::from(format!("{}|{}", key.key, key.property.unwrap_or_default())))
    }
    async fn find(&self, _: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        Ok(BTreeMap::new())
    }
    fn applies_property(&self) -> bool {
        true
    }
    async fn get_map(&self, key: RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        Ok([(format!("{}-map", key.key), SecretValue::from(key.property.unwrap_or_default()))].into())
    }
}

#[tokio::test]
async fn a_provider_that_applies_the_property_gets_it_and_its_answer_is_kept_as_is() {
    let out = fetch(
        &spec(json!({
            "data": [
                {"secretKey": "field", "remoteRef": {"key": "item", "property": "file/cert.pem"}},
                {"secretKey": "default", "remoteRef": {"key": "item"}},
            ],
            "dataFrom": [{"extract": {"key": "other", "property": "user"}}],
        })),
        &AppliesProperty,
    )
    .await
    .unwrap();
    let got: BTreeMap<String, String> = out.data.into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect();
    assert_eq!(got, map(&[("field", "item|file/cert.pem"), ("default", "item|"), ("other-map", "user")]));
}
