//! PushSecret on Infisical against the fake, as ESO 2.9 does it: create when absent, update when
//! different, no write when equal, a property merged into the JSON object, deletion of only the
//! pushed property, the project's ID resolved once (and again when the project was recreated).
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use fake::FakeInfisical;
use serde_json::json;
use sesame_provider_core::{
    CaProvider, Capabilities, CredentialSource, NoCalls, ProviderContext, ProviderError, PushRef, SecretKeySelector, SecretProvider,
    SecretValue, ServiceAccountSelector,
};
use sesame_provider_infisical::InfisicalProvider;

struct Creds;

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        Ok(SecretValue::from(if sel.key.as_deref() == Some("clientId") { "client-1" } else { "secret-1" }))
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

async fn infisical() -> FakeInfisical {
    let fake = FakeInfisical::start().await;
    fake.client("client-1", "secret-1");
    fake.secret("web", "prod", "/", "EXISTING", "old");
    fake.secret("web", "prod", "/", "CONFIG", r#"{"a":"1","b":"2"}"#);
    fake.secret("web", "prod", "/", "PLAIN", "plain-text");
    fake.secret("web", "prod", "/apps", "URL", "https://x");
    fake
}

async fn client(fake: &FakeInfisical, path: &str) -> Arc<dyn SecretProvider> {
    let sel = |k: &str| json!({"name": "infisical", "key": k});
    let spec: InfisicalProvider = serde_json::from_value(json!({
        "auth": {"universalAuthCredentials": {"clientId": sel("clientId"), "clientSecret": sel("clientSecret")}},
        "secretsScope": {"projectSlug": "web", "environmentSlug": "prod", "secretsPath": path},
        "hostAPI": fake.url,
    }))
    .unwrap();
    let ctx = ProviderContext { credentials: Arc::new(Creds), calls: Arc::new(NoCalls) };
    sesame_provider_infisical::build(&spec, ctx).await.expect("the store builds")
}

fn at(key: &str, property: Option<&str>) -> PushRef {
    PushRef::new(key, property.map(str::to_string))
}

fn writes(fake: &FakeInfisical) -> Vec<String> {
    fake.requests().into_iter().filter(|l| !l.starts_with("GET") && !l.contains("/auth/")).collect()
}

fn root(fake: &FakeInfisical) -> BTreeMap<String, String> {
    fake.folder("web", "prod", "/")
}

#[tokio::test]
async fn push_creates_updates_and_skips_an_unchanged_value() {
    let fake = infisical().await;
    let c = client(&fake, "/").await;
    assert_eq!(c.capabilities(), Capabilities::ReadWrite);
    c.push_secret(&at("NEW", None), b"v1").await.unwrap();
    c.push_secret(&at("EXISTING", None), b"new").await.unwrap();
    c.push_secret(&at("EXISTING", None), b"new").await.unwrap();
    assert_eq!(root(&fake)["NEW"], "v1");
    assert_eq!(root(&fake)["EXISTING"], "new");
    assert_eq!(writes(&fake), ["POST /api/v3/secrets/raw/NEW", "PATCH /api/v3/secrets/raw/EXISTING"], "an equal value is not written");
    let bodies = fake.lock().write_bodies.clone();
    assert_eq!(
        bodies[0].1,
        json!({"workspaceId": "web-0000-id", "environment": "prod", "secretPath": "/", "secretValue": "v1", "skipMultilineEncoding": true})
    );
    let log = fake.requests();
    assert_eq!(log.iter().filter(|l| l.starts_with("GET /api/v1/projects/slug/web")).count(), 1, "the ID is resolved once: {log:?}");
    let existence = log.iter().find(|l| l.starts_with("GET /api/v3/secrets/raw/NEW")).unwrap();
    assert!(existence.contains("expandSecretReferences=false&include_imports=false"), "{existence}");
}

#[tokio::test]
async fn keys_resolve_to_folders_as_reads_do() {
    let fake = infisical().await;
    let c = client(&fake, "/apps").await;
    c.push_secret(&at("URL", None), b"https://y").await.unwrap();
    c.push_secret(&at("/NEW_AT_ROOT", None), b"r").await.unwrap();
    assert_eq!(fake.folder("web", "prod", "/apps")["URL"], "https://y");
    assert_eq!(root(&fake)["NEW_AT_ROOT"], "r");
    let err = c.push_secret(&at("missing/folder/K", None), b"v").await.unwrap_err();
    assert!(err.to_string().contains("Folder with path '/apps/missing/folder'"), "{err}");
    assert!(c.push_secret(&at("", None), b"v").await.unwrap_err().to_string().contains("remoteKey is required"));
}

#[tokio::test]
async fn a_property_merges_into_the_json_object_and_deletion_removes_only_it() {
    let fake = infisical().await;
    let c = client(&fake, "/").await;
    c.push_secret(&at("CONFIG", Some("c")), b"3").await.unwrap();
    assert_eq!(root(&fake)["CONFIG"], r#"{"a":"1","b":"2","c":"3"}"#);
    c.push_secret(&at("FRESH", Some("k")), b"v").await.unwrap();
    assert_eq!(root(&fake)["FRESH"], r#"{"k":"v"}"#);
    assert!(c.secret_exists(&at("CONFIG", Some("c"))).await.unwrap());
    assert!(!c.secret_exists(&at("CONFIG", Some("z"))).await.unwrap());

    c.delete_secret(&at("CONFIG", Some("c"))).await.unwrap();
    assert_eq!(root(&fake)["CONFIG"], r#"{"a":"1","b":"2"}"#, "the other properties stay");
    c.delete_secret(&at("FRESH", Some("k"))).await.unwrap();
    assert!(!root(&fake).contains_key("FRESH"), "the last property takes the secret with it");
    let before = writes(&fake).len();
    c.delete_secret(&at("CONFIG", Some("absent"))).await.unwrap();
    assert_eq!(writes(&fake).len(), before, "an absent property is already deleted");

    let err = c.push_secret(&at("PLAIN", Some("k")), b"v").await.unwrap_err();
    assert!(err.to_string().contains("not a JSON object"), "{err}");
    let err = c.delete_secret(&at("PLAIN", Some("k"))).await.unwrap_err();
    assert!(err.to_string().contains("not a JSON object"), "{err}");
    assert!(c.secret_exists(&at("PLAIN", Some("k"))).await.is_err());
    assert_eq!(root(&fake)["PLAIN"], "plain-text", "a refused property write loses nothing");
}

#[tokio::test]
async fn delete_removes_the_secret_and_a_missing_one_is_already_gone() {
    let fake = infisical().await;
    let c = client(&fake, "/").await;
    assert!(c.secret_exists(&at("EXISTING", None)).await.unwrap());
    c.delete_secret(&at("EXISTING", None)).await.unwrap();
    assert!(!root(&fake).contains_key("EXISTING"));
    assert!(!c.secret_exists(&at("EXISTING", None)).await.unwrap());
    c.delete_secret(&at("EXISTING", None)).await.unwrap();
    assert_eq!(writes(&fake), ["DELETE /api/v3/secrets/raw/EXISTING"]);
    assert_eq!(fake.lock().write_bodies[0].1, json!({"workspaceId": "web-0000-id", "environment": "prod", "secretPath": "/"}));
}

#[tokio::test]
async fn an_older_infisical_is_found_by_its_workspace_route_and_a_recreated_project_is_resolved_again() {
    let fake = infisical().await;
    fake.lock().legacy_project_route = true;
    let c = client(&fake, "/").await;
    c.push_secret(&at("A", None), b"1").await.unwrap();
    let lookups = |f: &FakeInfisical| f.requests().into_iter().filter(|l| l.contains("/slug/web")).collect::<Vec<_>>();
    assert_eq!(lookups(&fake), ["GET /api/v1/projects/slug/web", "GET /api/v1/workspace/slug/web"]);

    // The project is deleted and recreated under its slug: the remembered ID answers 404.
    fake.lock().project_ids.insert("web".into(), "web-recreated".into());
    c.push_secret(&at("B", None), b"2").await.unwrap();
    assert_eq!(root(&fake)["B"], "2");
    assert_eq!(lookups(&fake).len(), 4, "resolved again once");
    c.push_secret(&at("C", None), b"3").await.unwrap();
    assert_eq!(lookups(&fake).len(), 4, "the new ID is remembered");
}

#[tokio::test]
async fn an_unknown_project_and_a_failed_lookup_write_nothing() {
    let fake = infisical().await;
    let c = client(&fake, "/").await;
    fake.fail("/slug/", 500, 1);
    let err = c.push_secret(&at("A", None), b"1").await.unwrap_err();
    assert_eq!(err.kind(), "transient");
    assert!(err.to_string().contains("cannot resolve the id of project \"web\""), "{err}");
    assert!(writes(&fake).is_empty());

    let gone = {
        let fake2 = FakeInfisical::start().await;
        fake2.client("client-1", "secret-1");
        fake2.secret("other", "prod", "/", "X", "y");
        fake2
    };
    let c = client(&gone, "/").await;
    let err = c.delete_secret(&at("X", None)).await;
    assert!(err.is_ok(), "a secret that cannot be found is already deleted: {err:?}");
    let err = c.push_secret(&at("X", None), b"v").await.unwrap_err();
    assert_eq!(err.kind(), "invalid", "{err}");
    assert!(err.to_string().contains("no Infisical project found for slug \"web\""), "{err}");
}

#[tokio::test]
async fn a_value_that_is_not_text_is_refused_and_never_echoed() {
    let fake = infisical().await;
    let c = client(&fake, "/").await;
    let err = c.push_secret(&at("BIN", None), &[0xff, 0xfe, 0x01]).await.unwrap_err();
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    c.push_secret(&at("EXISTING", None), b"s3cr3t-value").await.unwrap();
    fake.fail("/secrets/raw/EXISTING", 403, 2);
    let err = c.push_secret(&at("EXISTING", None), b"other-s3cr3t").await.unwrap_err();
    assert_eq!(err.kind(), "auth");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
}
