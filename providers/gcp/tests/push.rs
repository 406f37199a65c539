//! PushSecret on the fake Secret Manager, as ESO 2.9 pushes: the managed-by label, refusal of
//! an unmanaged secret, metadata (labels, annotations, topics, replication), a new version only
//! for a new value, property merge, and delete of the whole secret or of one property.
mod common;
mod fake;

use common::{KeyStore, text};
use serde_json::{Value, json};
use sesame_provider_core::{Capabilities, PushRef, RemoteKey};

const DB: &str = "projects/acme-prod/secrets/db";

fn with_metadata(key: &str, spec: Value) -> PushRef {
    PushRef {
        metadata: Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec})),
        ..PushRef::new(key, None)
    }
}

fn versions(store: &KeyStore, name: &str) -> Vec<String> {
    store.fake.lock().secrets[name].versions.iter().map(|v| String::from_utf8(v.data.clone()).unwrap()).collect()
}

#[tokio::test]
async fn a_push_creates_a_managed_secret_and_adds_a_version_only_for_a_new_value() {
    let store = KeyStore::new().await;
    let p = store.build().await;
    assert_eq!(p.capabilities(), Capabilities::ReadWrite);
    assert!(!p.secret_exists(&PushRef::new("db", None)).await.unwrap());

    p.push_secret(&PushRef::new("db", None), b"pw-1").await.unwrap();
    {
        let s = store.fake.lock();
        let secret = &s.secrets[DB];
        assert_eq!(secret.labels.get("managed-by").map(String::as_str), Some("external-secrets"));
        assert_eq!(secret.replication, json!({"automatic": {}}), "automatic replication by default, as ESO");
    }
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "pw-1");
    assert!(p.secret_exists(&PushRef::new("db", None)).await.unwrap());

    p.push_secret(&PushRef::new("db", None), b"pw-1").await.unwrap();
    assert_eq!(versions(&store, DB), ["pw-1"], "an unchanged value adds no version");
    p.push_secret(&PushRef::new("db", None), b"pw-2").await.unwrap();
    assert_eq!(versions(&store, DB), ["pw-1", "pw-2"]);
    assert_eq!(store.fake.count(":addVersion"), 2);
}

#[tokio::test]
async fn a_secret_without_the_managed_by_label_is_never_written_nor_deleted() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[("team", "db")], &[]);
    store.fake.version(DB, b"theirs");
    let p = store.build().await;
    for remote in [PushRef::new("db", None), PushRef::new("db", Some("password".into()))] {
        let err = p.push_secret(&remote, b"ours").await.unwrap_err().to_string();
        assert!(err.contains("not managed") && !err.contains("ours"), "{err}");
        p.delete_secret(&remote).await.unwrap();
    }
    let s = store.fake.lock();
    assert_eq!(s.secrets[DB].versions.len(), 1);
    assert_eq!(s.secrets[DB].labels.get("team").map(String::as_str), Some("db"));
    assert!(!s.secrets[DB].labels.contains_key("managed-by"), "the label was not taken over");
    assert!(s.log.iter().all(|l| !l.starts_with("PATCH") && !l.starts_with("DELETE") && !l.contains(":addVersion")), "{:?}", s.log);
}

#[tokio::test]
async fn metadata_sets_labels_annotations_topics_and_replication_as_eso() {
    let store = KeyStore::new().await;
    let p = store.build().await;
    let spec = json!({
        "labels": {"team": "payments"}, "annotations": {"owner": "team-db"},
        "topics": ["projects/acme-prod/topics/rotations"],
        "replicationLocations": ["europe-west1", "europe-west4"], "cmekKeyName": "projects/acme-prod/locations/x/keyRings/r/cryptoKeys/k",
    });
    p.push_secret(&with_metadata("db", spec), b"v").await.unwrap();
    {
        let s = store.fake.lock();
        let secret = &s.secrets[DB];
        assert_eq!(secret.labels, [("managed-by".into(), "external-secrets".into()), ("team".into(), "payments".into())].into());
        assert_eq!(secret.annotations, [("owner".into(), "team-db".into())].into());
        assert_eq!(secret.topics, ["projects/acme-prod/topics/rotations"]);
        let replicas = secret.replication["userManaged"]["replicas"].as_array().unwrap();
        assert_eq!(replicas.iter().map(|r| r["location"].as_str().unwrap()).collect::<Vec<_>>(), ["europe-west1", "europe-west4"]);
        assert!(replicas.iter().all(|r| r["customerManagedEncryption"]["kmsKeyName"].as_str().unwrap().ends_with("cryptoKeys/k")));
    }
    // Replace (the default): the labels become the metadata's; Merge keeps the others.
    store.fake.lock().secrets.get_mut(DB).unwrap().labels.insert("added-by-hand".into(), "x".into());
    p.push_secret(&with_metadata("db", json!({"labels": {"team": "core"}, "mergePolicy": "Merge"})), b"v").await.unwrap();
    assert_eq!(store.fake.lock().secrets[DB].labels.get("added-by-hand").map(String::as_str), Some("x"));
    p.push_secret(&with_metadata("db", json!({"labels": {"team": "core"}})), b"v").await.unwrap();
    {
        let s = store.fake.lock();
        assert_eq!(s.secrets[DB].labels, [("managed-by".into(), "external-secrets".into()), ("team".into(), "core".into())].into());
        assert!(s.secrets[DB].annotations.is_empty(), "annotations are replaced too");
        assert_eq!(s.secrets[DB].versions.len(), 1, "metadata changes add no version");
    }
    // Google's own checks come back as a clear error, and the secret is left as it was.
    let err = p.push_secret(&with_metadata("db", json!({"labels": {"Team": "x"}})), b"v").await.unwrap_err().to_string();
    assert!(err.contains("INVALID_ARGUMENT") && err.contains("labels"), "{err}");
    let err = p.push_secret(&PushRef { property: Some("a".into()), ..with_metadata("db", json!({})) }, b"v").await.unwrap_err();
    assert!(err.to_string().contains("metadata and property"), "{err}");
}

#[tokio::test]
async fn a_regional_store_creates_regional_secrets_without_replication() {
    let store = KeyStore::new().await.location("europe-west1");
    let p = store.build().await;
    p.push_secret(&PushRef::new("db", None), b"eu").await.unwrap();
    let name = "projects/acme-prod/locations/europe-west1/secrets/db";
    assert_eq!(versions(&store, name), ["eu"]);
    assert!(store.fake.lock().secrets[name].replication.is_null());
}

#[tokio::test]
async fn properties_merge_into_the_json_payload_and_are_deleted_one_by_one() {
    let store = KeyStore::new().await;
    let p = store.build().await;
    let user = PushRef::new("db", Some("user".into()));
    let password = PushRef::new("db", Some("password".into()));
    p.push_secret(&user, b"app").await.unwrap();
    p.push_secret(&password, b"pw-1").await.unwrap();
    p.push_secret(&password, b"pw-1").await.unwrap();
    let latest: Value = serde_json::from_str(versions(&store, DB).last().unwrap()).unwrap();
    assert_eq!(latest, json!({"user": "app", "password": "pw-1"}));
    assert_eq!(versions(&store, DB).len(), 2, "an unchanged property adds no version");
    assert!(p.secret_exists(&password).await.unwrap());
    assert!(!p.secret_exists(&PushRef::new("db", Some("other".into()))).await.unwrap());

    p.delete_secret(&password).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(versions(&store, DB).last().unwrap()).unwrap(), json!({"user": "app"}));
    p.delete_secret(&user).await.unwrap();
    assert!(!store.fake.lock().secrets.contains_key(DB), "the secret goes with its last property");
    p.delete_secret(&user).await.unwrap();
}

#[tokio::test]
async fn delete_removes_the_whole_managed_secret_and_a_missing_one_is_fine() {
    let store = KeyStore::new().await;
    let p = store.build().await;
    p.push_secret(&PushRef::new("db", None), b"v").await.unwrap();
    p.delete_secret(&PushRef::new("db", None)).await.unwrap();
    assert!(!store.fake.lock().secrets.contains_key(DB));
    p.delete_secret(&PushRef::new("db", None)).await.unwrap();
    assert_eq!(store.fake.count("DELETE "), 1);
}
