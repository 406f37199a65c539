//! The Bitwarden Secrets Manager provider against the fake bitwarden-sdk-server: reads by id and
//! by name (unique in the store's project), extract, find keyed by id, HTTPS with the store's CA,
//! and every error class. The real request code runs.
mod common;
mod fake;

use common::*;
use fake::FakeSdkServer;
use serde_json::json;
use sesame_provider_core::{FindLimits, FindName, FindQuery, FindScope, MetadataPolicy, ProviderError, RemoteKey, SecretValue, Unmetered};

/// The organization: `db-password` in the project and in another one, a JSON `config`, a secret
/// in no project, and a secret of another organization.
struct World {
    fake: FakeSdkServer,
    db_other: String,
    config: String,
    loose: String,
}

async fn world() -> World {
    let fake = FakeSdkServer::start().await;
    fake.token(TOKEN);
    let db_other = fake.secret(ORG, Some(OTHER_PROJECT), "db-password", "pw-other-project", "");
    fake.secret(ORG, Some(PROJECT), "db-password", "pw-project", "");
    let config = fake.secret(ORG, Some(PROJECT), "config", r#"{"host":"db.internal","port":5432,"tls":{"on":true}}"#, "");
    let loose = fake.secret(ORG, None, "loose", "no-project-value", "");
    fake.secret("11111111-2222-4333-8444-555555555555", Some(PROJECT), "foreign", "foreign-value", "");
    World { fake, db_other, config, loose }
}

async fn get(w: &World, key: &str) -> Result<String, ProviderError> {
    let c = client(&w.fake).await;
    c.get_secret(&RemoteKey::new(key)).await.map(|v| String::from_utf8(v.into_bytes()).unwrap())
}

#[tokio::test]
async fn a_uuid_key_is_read_by_id_whatever_its_project() {
    let w = world().await;
    assert_eq!(get(&w, &w.db_other).await.unwrap(), "pw-other-project");
    assert_eq!(get(&w, &w.loose.to_uppercase()).await.unwrap(), "no-project-value");
    let seen = w.fake.requests();
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/rest/api/1/secret"));
    assert_eq!(seen[0].body, json!({"id": w.db_other}), "a GET with the id in its JSON body");
    assert_eq!(seen[0].token, TOKEN);
    assert_eq!((seen[0].api_url.as_str(), seen[0].identity_url.as_str()), ("https://api.bitwarden.eu", "https://identity.bitwarden.eu"));
}

#[tokio::test]
async fn a_name_is_the_one_secret_of_that_name_in_the_stores_project() {
    let w = world().await;
    assert_eq!(get(&w, "db-password").await.unwrap(), "pw-project");
    let seen = w.fake.requests();
    assert_eq!((seen[0].path.as_str(), &seen[0].body), ("/rest/api/1/secrets", &json!({"organizationId": ORG})));
    assert_eq!(seen.iter().filter(|s| s.path == "/rest/api/1/secret").count(), 2, "each secret of that name is read");

    let missing = get(&w, "loose").await.unwrap_err();
    assert!(matches!(&missing, ProviderError::NotFound(m) if m.contains(PROJECT) && m.contains("loose")), "{missing}");
    assert!(get(&w, "foreign").await.unwrap_err().is_not_found(), "another organization's secret is not listed");

    w.fake.secret(ORG, Some(PROJECT), "db-password", "pw-project-twice", "");
    let twice = get(&w, "db-password").await.unwrap_err();
    assert!(matches!(&twice, ProviderError::Invalid(m) if m.contains("more than one secret")), "{twice}");
    assert!(!twice.to_string().contains("pw-project"), "no value in the error");
}

#[tokio::test]
async fn extract_takes_the_keys_of_a_json_value_rendering_nested_values_as_esos_yaml_and_go_v() {
    let w = world().await;
    let c = client(&w.fake).await;
    let map = c.get_secret_map(&RemoteKey::new(&w.config)).await.unwrap();
    let text = |k: &str| String::from_utf8(map[k].as_bytes().to_vec()).unwrap();
    assert_eq!((text("host"), text("port"), text("tls")), ("db.internal".into(), "5432".into(), r#""on": true"#.into()));
    let by_name = c.get_secret_map(&RemoteKey::new("config").with_property(Some("tls".into()))).await.unwrap();
    assert_eq!(by_name["on"], SecretValue::from("true"));

    // A YAML value's keys too, as ESO reads them; anything else is not a map.
    let yaml = w.fake.secret(ORG, Some(PROJECT), "yaml", "user: app\npassword: 'p: w'\nlimits:\n  max: 3\n", "");
    let map = c.get_secret_map(&RemoteKey::new(&yaml)).await.unwrap();
    let text = |k: &str| String::from_utf8(map[k].as_bytes().to_vec()).unwrap();
    assert_eq!((text("user"), text("password"), text("limits")), ("app".into(), "p: w".into(), "max: 3".into()));

    // ESO reads the value as YAML and writes a mapping back with go-yaml v3 (sorted keys, four
    // spaces, quotes where a plain scalar would change type); other values print as Go's %v.
    let nested = r#"{"db": {"port": 5432, "hosts": ["a", "b"], "tls": {"on": "true", "ratio": 1.5}, "note": "x: y"},
                     "ids": [1, 2], "none": null, "big": 1000000.0, "flag": false, "pairs": [{"k": "v"}]}"#;
    let nested = w.fake.secret(ORG, Some(PROJECT), "nested", nested, "");
    let map = c.get_secret_map(&RemoteKey::new(&nested)).await.unwrap();
    let text = |k: &str| String::from_utf8(map[k].as_bytes().to_vec()).unwrap();
    let db = "hosts:\n    - a\n    - b\nnote: 'x: y'\nport: 5432\ntls:\n    \"on\": \"true\"\n    ratio: 1.5";
    assert_eq!(text("db"), db);
    assert_eq!((text("ids"), text("none"), text("big"), text("flag")), ("[1 2]".into(), "<nil>".into(), "1e+06".into(), "false".into()));
    assert_eq!(text("pairs"), "[map[k:v]]");
    let plain = w.fake.secret(ORG, Some(PROJECT), "plain", "just text", "");
    let err = c.get_secret_map(&RemoteKey::new(&plain)).await.unwrap_err();
    assert!(err.to_string().contains("not a JSON object") && !err.to_string().contains("just text"), "{err}");
}

#[tokio::test]
async fn find_returns_the_organizations_secrets_by_id_filtered_by_name() {
    let w = world().await;
    let c = client(&w.fake).await;
    let scope = FindScope::unmetered();
    let all = c.find(&FindQuery::default(), &scope).await.unwrap();
    assert_eq!(all.len(), 4, "every secret of the organization, any project: {:?}", all.keys());
    assert_eq!(all[&w.db_other], SecretValue::from("pw-other-project"));

    let db = FindQuery { name: Some(FindName { regexp: "^db-".into() }), ..Default::default() };
    let found = c.find(&db, &scope).await.unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.values().any(|v| v == &SecretValue::from("pw-project")));
    let batch = w.fake.requests().into_iter().rfind(|s| s.path == "/rest/api/1/secrets-by-ids").unwrap();
    assert_eq!(batch.body["ids"].as_array().unwrap().len(), 2, "one batched read of the matches");

    let tags = FindQuery { tags: [("env".to_string(), "prod".to_string())].into(), ..Default::default() };
    assert!(c.find(&tags, &scope).await.unwrap_err().to_string().contains("find.tags is not supported"));
    let path = FindQuery { path: Some("db".into()), ..Default::default() };
    assert!(c.find(&path, &scope).await.unwrap_err().to_string().contains("find.path is not supported"));
    let bad = FindQuery { name: Some(FindName { regexp: "(".into() }), ..Default::default() };
    assert!(c.find(&bad, &scope).await.unwrap_err().to_string().contains("invalid find.name.regexp"));

    let limited = FindScope::new(&Unmetered, FindLimits { max_matches: 2, ..FindLimits::default() });
    assert!(c.find(&FindQuery::default(), &limited).await.is_err(), "the match limit holds while listing");
}

#[tokio::test]
async fn errors_say_what_the_controller_does_next_and_never_show_the_token() {
    let w = world().await;
    let refused = client_with(&w.fake, store(&w.fake), "0.revoked.token:AAAA").await.unwrap();
    let err = refused.get_secret(&RemoteKey::new("db-password")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("invalid_client")), "{err}");
    assert!(!err.to_string().contains("revoked"), "{err}");

    let c = client(&w.fake).await;
    let gone = c.get_secret(&RemoteKey::new("00000000-0000-4000-8000-000000000000")).await.unwrap_err();
    assert!(matches!(&gone, ProviderError::NotFound(m) if m.contains("Resource not found") && m.contains("secret 00000000-")), "{gone}");
    w.fake.fail("/secrets", 400, "failed to get secret: Received error message from server: [429 Too Many Requests] ", 1);
    assert_eq!(c.get_secret(&RemoteKey::new("db-password")).await.unwrap_err().kind(), "throttled");
    w.fake.fail("/secret", 502, "upstream", 1);
    assert_eq!(c.get_secret(&RemoteKey::new(&w.config)).await.unwrap_err().kind(), "transient");

    let versioned = RemoteKey::new("config").with_version(Some("2".into()));
    assert!(c.get_secret(&versioned).await.unwrap_err().to_string().contains("no versions"));
    let metadata = RemoteKey::new("config").with_metadata(MetadataPolicy::Fetch);
    assert!(c.get_secret(&metadata).await.unwrap_err().to_string().contains("metadataPolicy Fetch"));
}

#[tokio::test]
async fn the_sdk_server_is_trusted_only_through_the_stores_ca() {
    let w = world().await;
    // A plain PEM bundle is taken as ESO takes it; so is a caProvider.
    let mut pem = store(&w.fake);
    pem["caBundle"] = json!(w.fake.ca_pem);
    let c = client_with(&w.fake, pem, TOKEN).await.unwrap();
    assert_eq!(c.get_secret(&RemoteKey::new("db-password")).await.unwrap(), SecretValue::from("pw-project"));
    let mut provider = store(&w.fake);
    provider.as_object_mut().unwrap().remove("caBundle");
    provider["caProvider"] = json!({"type": "Secret", "name": "bitwarden-tls-certs", "key": "ca.crt"});
    let c = client_with(&w.fake, provider, TOKEN).await.unwrap();
    assert_eq!(c.get_secret(&RemoteKey::new("db-password")).await.unwrap(), SecretValue::from("pw-project"));

    // Another CA: the TLS handshake fails and the token is never sent.
    let other = FakeSdkServer::start().await;
    let mut wrong = store(&w.fake);
    wrong["caBundle"] = store(&other)["caBundle"].clone();
    let before = w.fake.requests().len();
    let c = client_with(&w.fake, wrong, TOKEN).await.unwrap();
    let err = c.get_secret(&RemoteKey::new("db-password")).await.unwrap_err();
    assert_eq!(err.kind(), "transient", "{err}");
    assert_eq!(w.fake.requests().len(), before, "no request got through");

    let mut http = store(&w.fake);
    http["bitwardenServerSDKURL"] = json!(w.fake.url.replace("https://", "http://"));
    assert!(client_with(&w.fake, http, TOKEN).await.err().unwrap().to_string().contains("must use https"));
    let blank = client_with(&w.fake, store(&w.fake), " \n").await.err().unwrap();
    assert!(blank.to_string().contains("access token is empty"), "{blank}");
}

#[tokio::test]
async fn a_batch_lists_once_reads_by_ids_and_answers_each_key_as_a_single_read_would() {
    let w = world().await;
    let c = client(&w.fake).await;
    let twice = w.fake.secret(ORG, Some(PROJECT), "twice", "t1", "");
    w.fake.secret(ORG, Some(PROJECT), "twice", "t2", "");
    let keys: Vec<RemoteKey> = ["db-password", w.db_other.as_str(), "config", "loose", "twice", "00000000-0000-4000-8000-000000000000"]
        .into_iter()
        .map(RemoteKey::new)
        .chain([RemoteKey::new("config").with_version(Some("1".into()))])
        .collect();
    let before = w.fake.requests().len();
    let got = c.get_secrets(&keys).await;
    let text = |i: usize| got[i].as_ref().map(|v| String::from_utf8(v.as_bytes().to_vec()).unwrap());
    assert_eq!(text(0).unwrap(), "pw-project");
    assert_eq!(text(1).unwrap(), "pw-other-project");
    assert!(text(2).unwrap().contains("db.internal"));
    assert!(got[3].as_ref().unwrap_err().is_not_found(), "a name in no project is not found");
    assert!(got[4].as_ref().unwrap_err().to_string().contains("more than one secret"), "{:?}", got[4]);
    assert!(got[5].as_ref().unwrap_err().is_not_found(), "a missing id is not found, and fails no other key");
    assert!(got[6].as_ref().unwrap_err().to_string().contains("no versions"));
    let calls: Vec<String> = w.fake.requests()[before..].iter().map(|r| r.path.clone()).collect();
    assert_eq!(calls.iter().filter(|p| p.ends_with("/secrets")).count(), 1, "one list for every name: {calls:?}");
    assert!(calls.iter().any(|p| p.ends_with("/secrets-by-ids")), "{calls:?}");
    // The batch holding the missing id is refused whole, then read id by id.
    assert!(calls.len() < 12, "{calls:?}");

    w.fake.remove(&twice);
    let got = c.get_secrets(&[RemoteKey::new("twice"), RemoteKey::new(&w.config)]).await;
    assert_eq!(got[0].as_ref().unwrap(), &SecretValue::from("t2"));
}
