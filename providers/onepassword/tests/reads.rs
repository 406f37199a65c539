//! The 1Password Connect provider against the fake Connect server: vault priority, items by title
//! and id, fields and files, extract, find, push, and every error class. The real request code runs.
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use fake::FakeConnect;
use serde_json::json;
use sesame_provider_core::{
    CaProvider, CredentialSource, FindLimits, FindName, FindQuery, FindScope, NoCalls, ProviderContext, ProviderError, PushRef, RemoteKey,
    SecretKeySelector, SecretProvider, SecretValue, ServiceAccountSelector, Unmetered,
};
use sesame_provider_onepassword::OnePasswordProvider;

const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.connect-token";
const BINARY: &[u8] = &[0x00, 0xff, 0xfe, b'k', 0x80];

/// The controller's side: the Secret `connect` holds the token under `token`.
struct Creds(String);

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        assert_eq!((sel.name.as_str(), sel.key.as_deref()), ("connect", Some("token")));
        Ok(SecretValue::from(self.0.as_str()))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        unreachable!()
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        unreachable!()
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        unreachable!()
    }
}

/// Two vaults: `staging` (searched first) and `production`. `db` is in both.
struct World {
    fake: FakeConnect,
    staging: String,
    db_prod: String,
}

async fn world() -> World {
    let fake = FakeConnect::start().await;
    let staging = fake.vault("staging");
    let production = fake.vault("production");
    fake.vault("other");
    fake.token(TOKEN, &[&staging, &production]);
    fake.item(&staging, "db", "LOGIN", &["team-a"], &[("username", "app"), ("password", "stg-pw")], &[]);
    let db_prod = fake.item(&production, "db", "LOGIN", &[], &[("password", "prod-pw")], &[]);
    fake.item(&production, "tls", "SERVER", &["team-a"], &[("host", "h.example")], &[("cert.pem", b"PEM"), ("key.bin", BINARY)]);
    fake.item(&production, "doc", "DOCUMENT", &[], &[("notes", "n")], &[("report.pdf", b"%PDF")]);
    fake.item(&production, "dup", "LOGIN", &[], &[("password", "dup-secret-1"), ("password", "dup-secret-2")], &[]);
    World { fake, staging, db_prod }
}

async fn client_with(w: &World, vaults: serde_json::Value, token: &str) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let spec: OnePasswordProvider = serde_json::from_value(json!({
        "connectHost": w.fake.url, "vaults": vaults,
        "auth": {"secretRef": {"connectTokenSecretRef": {"name": "connect", "key": "token"}}}
    }))
    .unwrap();
    let ctx = ProviderContext { credentials: Arc::new(Creds(token.into())), calls: Arc::new(NoCalls) };
    sesame_provider_onepassword::build(&spec, ctx).await
}

async fn client(w: &World) -> Arc<dyn SecretProvider> {
    client_with(w, json!({"staging": 1, "production": 2}), TOKEN).await.expect("the store builds")
}

fn key(name: &str, property: Option<&str>) -> RemoteKey {
    RemoteKey::new(name).with_property(property.map(str::to_string))
}

async fn get(c: &Arc<dyn SecretProvider>, name: &str, property: Option<&str>) -> Result<Vec<u8>, ProviderError> {
    c.get_secret(&key(name, property)).await.map(SecretValue::into_bytes)
}

fn text(map: BTreeMap<String, SecretValue>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

#[tokio::test]
async fn an_item_comes_from_the_first_vault_by_priority_and_its_password_field_by_default() {
    let w = world().await;
    let c = client(&w).await;
    assert!(c.applies_property());
    c.validate().await.unwrap();
    assert_eq!(get(&c, "db", None).await.unwrap(), b"stg-pw");
    assert_eq!(get(&c, "db", Some("username")).await.unwrap(), b"app");
    assert_eq!(get(&c, "db", Some("field/username")).await.unwrap(), b"app");
    let reversed = client_with(&w, json!({"staging": 2, "production": 1}), TOKEN).await.unwrap();
    assert_eq!(get(&reversed, "db", None).await.unwrap(), b"prod-pw");
    // A native item id is read by id.
    assert_eq!(get(&c, &w.db_prod, None).await.unwrap(), b"prod-pw");
    // The title went as Connect's SCIM filter.
    assert!(w.fake.requests().iter().any(|r| r.contains("filter=title+eq+%22db%22") || r.contains("filter=title%20eq%20%22db%22")));
}

#[tokio::test]
async fn files_are_read_by_prefix_or_from_document_items_and_bytes_survive() {
    let w = world().await;
    let c = client(&w).await;
    assert_eq!(get(&c, "tls", Some("file/cert.pem")).await.unwrap(), b"PEM");
    assert_eq!(get(&c, "tls", Some("file/key.bin")).await.unwrap(), BINARY);
    assert_eq!(get(&c, "doc", Some("report.pdf")).await.unwrap(), b"%PDF");
    assert_eq!(get(&c, "doc", None).await.unwrap(), b"%PDF", "a DOCUMENT's first file by default");
    assert_eq!(get(&c, "doc", Some("field/notes")).await.unwrap(), b"n");
    assert!(get(&c, "tls", Some("file/missing")).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn extract_returns_every_field_or_every_file() {
    let w = world().await;
    let c = client(&w).await;
    let fields = c.get_secret_map(&key("db", None)).await.unwrap();
    assert_eq!(text(fields), BTreeMap::from([("username".into(), "app".into()), ("password".into(), "stg-pw".into())]));
    let files = c.get_secret_map(&key("tls", Some("file/"))).await.unwrap();
    assert_eq!(files["key.bin"].as_bytes(), BINARY);
    assert_eq!(files.len(), 2);
    let one = c.get_secret_map(&key("tls", Some("host"))).await.unwrap();
    assert_eq!(text(one), BTreeMap::from([("host".into(), "h.example".into())]));
}

#[tokio::test]
async fn missing_items_and_fields_are_not_found_and_ambiguity_is_refused() {
    let w = world().await;
    let c = client(&w).await;
    assert!(get(&c, "nope", None).await.unwrap_err().is_not_found());
    assert!(get(&c, "tls", Some("password")).await.unwrap_err().is_not_found());
    let dup = get(&c, "dup", None).await.unwrap_err();
    assert!(matches!(dup, ProviderError::Invalid(ref m) if m.contains("expected one field")), "{dup}");
    assert!(!dup.to_string().contains("dup-secret"), "no value in the message");
    w.fake.item(&w.staging, "twice", "LOGIN", &[], &[], &[]);
    w.fake.item(&w.staging, "twice", "LOGIN", &[], &[], &[]);
    assert!(get(&c, "twice", None).await.unwrap_err().to_string().contains("expected one 1Password item"));
    let version = c.get_secret(&RemoteKey::new("db").with_version(Some("3".into()))).await.unwrap_err();
    assert!(version.to_string().contains("remoteRef.version"), "{version}");
}

#[tokio::test]
async fn auth_and_vault_errors_say_what_connect_said() {
    let w = world().await;
    let bad = client_with(&w, json!({"staging": 1}), "wrong-token").await.unwrap();
    let err = bad.validate().await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(ref m) if m.contains("Invalid token signature")), "{err}");
    assert!(!err.to_string().contains("wrong-token"));
    let unknown = client_with(&w, json!({"nowhere": 1}), TOKEN).await.unwrap();
    assert!(matches!(unknown.validate().await, Err(ProviderError::Invalid(m)) if m.contains("nowhere")));
    let ungranted = client_with(&w, json!({"other": 1}), TOKEN).await.unwrap();
    assert_eq!(ungranted.get_secret(&key("db", None)).await.unwrap_err().kind(), "auth");
    w.fake.fail("/items", 503, 1);
    assert_eq!(get(&client(&w).await, "db", None).await.unwrap_err().kind(), "transient");
}

#[tokio::test]
async fn find_reads_fields_by_title_label_and_tags_within_the_limits() {
    let w = world().await;
    let c = client(&w).await;
    let scope = FindScope::unmetered();
    let by_path = FindQuery { path: Some("tls".into()), ..FindQuery::default() };
    assert_eq!(text(c.find(&by_path, &scope).await.unwrap()), BTreeMap::from([("host".into(), "h.example".into())]));
    let by_name = FindQuery { name: Some(FindName { regexp: "^pass".into() }), path: Some("db".into()), ..FindQuery::default() };
    // The earlier vault's `password` wins.
    assert_eq!(text(c.find(&by_name, &FindScope::unmetered()).await.unwrap()), BTreeMap::from([("password".into(), "stg-pw".into())]));
    // Tags: only the first vault is searched, as in ESO.
    let by_tag = FindQuery { tags: BTreeMap::from([("team-a".into(), "ignored".into())]), ..FindQuery::default() };
    let tagged = text(c.find(&by_tag, &FindScope::unmetered()).await.unwrap());
    assert_eq!(tagged, BTreeMap::from([("username".into(), "app".into()), ("password".into(), "stg-pw".into())]));
    let everything = FindQuery { path: Some("doc".into()), ..FindQuery::default() };
    assert!(c.find(&everything, &FindScope::new(&Unmetered, FindLimits { max_matches: 0, max_bytes: 100 })).await.is_err());
    // `dup` has one label twice: a find over it is refused.
    assert!(c.find(&FindQuery::default(), &FindScope::unmetered()).await.is_err());
}

#[tokio::test]
async fn push_creates_updates_and_deletes_fields_as_eso() {
    let w = world().await;
    let c = client(&w).await;
    let metadata = json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
        "spec": {"vault": "production", "tags": ["pushed"]}});
    let remote = PushRef { metadata: Some(metadata), ..PushRef::new("new-item", None) };
    assert!(!c.secret_exists(&remote).await.unwrap());
    c.push_secret(&remote, b"v1").await.unwrap();
    let created = w.fake.find_by_title("new-item");
    assert_eq!(created.len(), 1);
    assert_eq!((created[0]["category"].as_str(), created[0]["tags"][0].as_str()), (Some("SERVER"), Some("pushed")));
    assert_eq!(created[0]["fields"][0]["label"], "password");
    assert_eq!(created[0]["fields"][0]["type"], "CONCEALED");
    assert!(c.secret_exists(&remote).await.unwrap());
    assert_eq!(get(&c, "new-item", None).await.unwrap(), b"v1");

    // Another property goes into the same item; an unchanged value writes nothing.
    let user = PushRef::new("new-item", Some("user".into()));
    c.push_secret(&user, b"u").await.unwrap();
    let puts = || w.fake.requests().iter().filter(|r| r.starts_with("PUT")).count();
    let before = puts();
    c.push_secret(&user, b"u").await.unwrap();
    assert_eq!(puts(), before, "unchanged: no write");
    assert!(c.secret_exists(&user).await.unwrap());
    let item = &w.fake.find_by_title("new-item")[0];
    assert_eq!(item["fields"].as_array().unwrap().len(), 2);
    assert_eq!(item["urls"], serde_json::Value::Null, "created items carry no urls");

    // An existing item keeps what the provider does not manage (urls, other fields).
    c.push_secret(&PushRef::new("tls", Some("token".into())), b"t").await.unwrap();
    let tls = &w.fake.find_by_title("tls")[0];
    assert_eq!(tls["urls"][0]["href"], "https://example.com");
    assert_eq!(tls["files"].as_array().unwrap().len(), 2);

    // Delete removes one field, then the item when nothing is left.
    c.delete_secret(&user).await.unwrap();
    assert_eq!(w.fake.find_by_title("new-item")[0]["fields"].as_array().unwrap().len(), 1);
    c.delete_secret(&PushRef::new("new-item", None)).await.unwrap();
    assert!(w.fake.find_by_title("new-item").is_empty());
    c.delete_secret(&PushRef::new("new-item", None)).await.unwrap();

    assert!(c.push_secret(&PushRef::new("bin", None), BINARY).await.unwrap_err().to_string().contains("not UTF-8"));
    let foreign =
        json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": {"vault": "other"}});
    let err = c.push_secret(&PushRef { metadata: Some(foreign), ..PushRef::new("x", None) }, b"v").await.unwrap_err();
    assert!(err.to_string().contains("not one of the store's vaults"), "{err}");
}
