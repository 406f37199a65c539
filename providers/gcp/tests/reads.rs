//! Reading secrets: versions, the selection policy, properties, metadata, regional secrets, find.
mod common;
mod fake;

use common::{KeyStore, PROJECT, text};
use fake::VersionState;
use sesame_provider_core::{FindName, FindQuery, MetadataPolicy, ProviderError, RemoteKey, property};
use sesame_provider_gcp::SecretVersionSelectionPolicy::{LatestOrFail, LatestOrFetch};

const DB: &str = "projects/acme-prod/secrets/db";

fn versioned(key: &str, version: &str) -> RemoteKey {
    RemoteKey::new(key).with_version(Some(version.into()))
}

#[tokio::test]
async fn an_unversioned_read_returns_the_latest_version_whole() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, br#"{"user":"old"}"#);
    store.fake.version(DB, br#"{"user":"admin","pass":"s3cr3t"}"#);
    let p = store.build().await;
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), r#"{"user":"admin","pass":"s3cr3t"}"#);
    assert_eq!(store.fake.count("/v1/projects/acme-prod/secrets/db/versions/latest:access"), 1);
}

#[tokio::test]
async fn a_named_version_is_read_as_is() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"one");
    store.fake.version(DB, b"two");
    let p = store.build().await;
    assert_eq!(text(p.get_secret(&versioned("db", "1")).await.unwrap()), "one");
    assert_eq!(text(p.get_secret(&versioned("db", "latest")).await.unwrap()), "two");
}

#[tokio::test]
async fn binary_payloads_arrive_byte_for_byte() {
    let store = KeyStore::new().await;
    let bytes: Vec<u8> = (0..=255).collect();
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, &bytes);
    let p = store.build().await;
    assert_eq!(p.get_secret(&RemoteKey::new("db")).await.unwrap().into_bytes(), bytes);
}

#[tokio::test]
async fn latest_or_fail_reports_a_disabled_latest_version() {
    let store = KeyStore::new().await.policy(LatestOrFail);
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"good");
    store.fake.version(DB, b"revoked");
    store.fake.set_state(DB, 2, VersionState::Disabled);
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("FAILED_PRECONDITION") && m.contains("DISABLED state")), "{err}");
}

#[tokio::test]
async fn latest_or_fetch_falls_back_to_the_newest_enabled_version() {
    let store = KeyStore::new().await.policy(LatestOrFetch);
    store.fake.secret(DB, &[], &[]);
    for v in ["v1", "v2", "v3", "v4"] {
        store.fake.version(DB, v.as_bytes());
    }
    store.fake.set_state(DB, 4, VersionState::Destroyed);
    store.fake.set_state(DB, 3, VersionState::Disabled);
    let p = store.build().await;
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "v2");
    assert_eq!(store.calls.names(), ["AccessSecretVersion", "ListSecretVersions", "AccessSecretVersion"]);
}

#[tokio::test]
async fn latest_or_fetch_never_overrides_a_named_version() {
    let store = KeyStore::new().await.policy(LatestOrFetch);
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    store.fake.version(DB, b"v2");
    store.fake.set_state(DB, 2, VersionState::Disabled);
    let err = store.build().await.get_secret(&versioned("db", "2")).await.unwrap_err();
    assert!(err.to_string().contains("DISABLED state"), "{err}");
}

#[tokio::test]
async fn latest_or_fetch_with_no_enabled_version_reports_why() {
    let store = KeyStore::new().await.policy(LatestOrFetch);
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"v1");
    store.fake.set_state(DB, 1, VersionState::Destroyed);
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(err.to_string().contains("DESTROYED state"), "{err}");
}

#[tokio::test]
async fn properties_are_selected_by_the_caller_from_the_whole_payload() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, br#"{"db":{"host":"10.0.0.1","ports":[5432,6432]},"a.b":"dotted"}"#);
    let payload = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap();
    let prop = |p: &str| text(property::extract(payload.as_bytes(), p, "db").unwrap());
    assert_eq!(prop("db.host"), "10.0.0.1");
    assert_eq!(prop("db.ports.1"), "6432");
    assert_eq!(prop("a.b"), "dotted");
    assert!(property::extract(payload.as_bytes(), "db.user", "db").unwrap_err().is_not_found());
}

#[tokio::test]
async fn metadata_fetch_returns_labels_and_annotations_as_json() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[("env", "prod"), ("team", "payments")], &[("owner", "alice@acme.example")]);
    store.fake.version(DB, b"never read");
    let key = RemoteKey::new("db").with_metadata(MetadataPolicy::Fetch);
    let meta = store.build().await.get_secret(&key).await.unwrap();
    assert_eq!(text(meta.clone()), r#"{"annotations":{"owner":"alice@acme.example"},"labels":{"env":"prod","team":"payments"}}"#);
    assert_eq!(text(property::extract(meta.as_bytes(), "labels.env", "db").unwrap()), "prod");
    assert_eq!(store.calls.names(), ["GetSecret"]);
}

#[tokio::test]
async fn a_regional_store_reads_location_paths() {
    let store = KeyStore::new().await.location("europe-west1");
    let regional = "projects/acme-prod/locations/europe-west1/secrets/db";
    store.fake.secret(regional, &[("env", "eu")], &[]);
    store.fake.version(regional, b"regional value");
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"global value");
    let p = store.build().await;
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "regional value");
    let meta = p.get_secret(&RemoteKey::new("db").with_metadata(MetadataPolicy::Fetch)).await.unwrap();
    assert!(text(meta).contains(r#""env":"eu""#));
}

#[tokio::test]
async fn find_lists_by_label_and_name_across_pages() {
    let store = KeyStore::new().await;
    store.fake.lock().page_size = 2;
    for (id, env) in [("db-main", "prod"), ("db-replica", "prod"), ("db-test", "dev"), ("api-key", "prod"), ("db-old", "prod")] {
        let name = format!("projects/{PROJECT}/secrets/{id}");
        store.fake.secret(&name, &[("env", env)], &[]);
        store.fake.version(&name, id.as_bytes());
    }
    let p = store.build().await;
    let by_label = FindQuery { tags: [("env".to_string(), "prod".to_string())].into(), ..Default::default() };
    let found = p.find(&by_label, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["api-key", "db-main", "db-old", "db-replica"]);
    assert_eq!(text(found["db-main"].clone()), "db-main");

    let by_name = FindQuery { path: Some("db-".into()), name: Some(FindName { regexp: "(main|test)$".into() }), ..Default::default() };
    assert_eq!(
        p.find(&by_name, &sesame_provider_core::FindScope::unmetered()).await.unwrap().keys().collect::<Vec<_>>(),
        ["db-main", "db-test"]
    );
    let list_pages = store.fake.requests().iter().filter(|r| *r == "GET /v1/projects/acme-prod/secrets").count();
    assert_eq!(list_pages, 4, "two pages of two for each find");
}

#[tokio::test]
async fn reads_are_not_serialised_within_or_across_stores() {
    let first = KeyStore::new().await;
    first.fake.secret(DB, &[], &[]);
    first.fake.version(DB, b"v1");
    // Three reads must be in flight at once before the fake answers any of them.
    first.fake.rendezvous(":access", 3);
    let key = sesame_provider_gcp::Endpoints::all_at(&first.fake.url);
    let a = first.build().await;
    let b = sesame_provider_gcp::build_with_endpoints(&first.spec, first.ctx(), key).await.unwrap();
    let db = RemoteKey::new("db");
    let all = async { tokio::join!(a.get_secret(&db), a.get_secret(&db), b.get_secret(&db)) };
    let (x, y, z) = tokio::time::timeout(std::time::Duration::from_secs(20), all).await.expect("no read waits for another");
    assert_eq!([text(x.unwrap()), text(y.unwrap()), text(z.unwrap())], ["v1", "v1", "v1"]);
}
