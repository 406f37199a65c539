//! PushSecret on the fake Key Vault, as ESO 2.9 pushes secrets: the managed-by tag, refusal of
//! an unmanaged secret, metadata (expirationDate, contentType, tags), no new version for an
//! unchanged value, property merge, and soft delete of the whole secret or of one property.
#![cfg(feature = "client")]
mod fake;

use fake::State;
use fake::support::{service_principal_store, text};
use serde_json::{Value, json};
use sesame_provider_core::{Capabilities, PushRef, RemoteKey};

fn with_metadata(key: &str, spec: Value) -> PushRef {
    PushRef {
        metadata: Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec})),
        ..PushRef::new(key, None)
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.secrets.get(name).map(|v| v.iter().map(|o| o.value.clone()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_push_sets_a_managed_secret_and_writes_a_version_only_for_a_new_value() {
    let (fake, client, calls) = service_principal_store().await;
    assert_eq!(client.capabilities(), Capabilities::ReadWrite);
    assert!(!client.secret_exists(&PushRef::new("db", None)).await.unwrap());

    client.push_secret(&PushRef::new("db", None), b"pw-1").await.unwrap();
    client.push_secret(&PushRef::new("secret/db", None), b"pw-1").await.unwrap();
    assert_eq!(values(&fake.state(), "db"), ["pw-1"], "an unchanged value writes no version");
    assert_eq!(fake.state().secrets["db"][0].tags.get("managed-by").map(String::as_str), Some("external-secrets"));
    assert_eq!(text(client.get_secret(&RemoteKey::new("db")).await.unwrap()), "pw-1");
    client.push_secret(&PushRef::new("db", None), b"pw-2").await.unwrap();
    assert_eq!(values(&fake.state(), "db"), ["pw-1", "pw-2"]);
    assert!(client.secret_exists(&PushRef::new("db", None)).await.unwrap());
    assert_eq!(calls.names().iter().filter(|c| *c == "SetSecret").count(), 2);
}

#[tokio::test]
async fn metadata_sets_expiry_content_type_and_tags_as_eso() {
    let (fake, client, _) = service_principal_store().await;
    let spec = json!({"expirationDate": "2030-12-31T20:00:00Z", "contentType": "application/json", "tags": {"team": "payments"}});
    client.push_secret(&with_metadata("db", spec.clone()), b"{}").await.unwrap();
    client.push_secret(&with_metadata("db", spec), b"{}").await.unwrap();
    let state = fake.state();
    let latest = state.secrets["db"].last().unwrap();
    assert_eq!(state.secrets["db"].len(), 1);
    assert_eq!(latest.exp, Some(1_924_977_600));
    assert_eq!(latest.content_type.as_deref(), Some("application/json"));
    assert_eq!(latest.tags.get("team").map(String::as_str), Some("payments"));
    assert_eq!(latest.tags.get("managed-by").map(String::as_str), Some("external-secrets"));
}

#[tokio::test]
async fn a_secret_without_the_managed_by_tag_is_never_overwritten_nor_deleted() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret("theirs", "not ours");
    for remote in [PushRef::new("theirs", None), PushRef::new("theirs", Some("password".into()))] {
        let err = client.push_secret(&remote, b"ours").await.unwrap_err().to_string();
        assert!(err.contains("not managed") && !err.contains("ours"), "{err}");
        client.delete_secret(&remote).await.unwrap();
    }
    assert_eq!(values(&fake.state(), "theirs"), ["not ours"]);
    assert!(fake.requests().iter().all(|r| r.method == "GET" || r.method == "POST"), "only reads (and the token) went out");
}

#[tokio::test]
async fn properties_merge_into_the_json_value_and_are_deleted_one_by_one() {
    let (fake, client, _) = service_principal_store().await;
    let user = PushRef::new("db", Some("user".into()));
    let password = PushRef::new("db", Some("password".into()));
    client.push_secret(&user, b"app").await.unwrap();
    client.push_secret(&password, b"pw-1").await.unwrap();
    let latest: Value = serde_json::from_str(values(&fake.state(), "db").last().unwrap()).unwrap();
    assert_eq!(latest, json!({"user": "app", "password": "pw-1"}));
    assert!(client.secret_exists(&password).await.unwrap());
    assert!(!client.secret_exists(&PushRef::new("db", Some("other".into()))).await.unwrap());

    client.delete_secret(&password).await.unwrap();
    let latest: Value = serde_json::from_str(values(&fake.state(), "db").last().unwrap()).unwrap();
    assert_eq!(latest, json!({"user": "app"}));
    assert_eq!(fake.state().secrets["db"].last().unwrap().tags.get("managed-by").map(String::as_str), Some("external-secrets"));
    client.delete_secret(&user).await.unwrap();
    assert!(!fake.state().secrets.contains_key("db"), "the secret goes with its last property");
}

#[tokio::test]
async fn delete_is_a_soft_delete_and_a_missing_secret_is_fine() {
    let (fake, client, _) = service_principal_store().await;
    client.push_secret(&PushRef::new("db", None), b"v").await.unwrap();
    client.delete_secret(&PushRef::new("db", None)).await.unwrap();
    client.delete_secret(&PushRef::new("db", None)).await.unwrap();
    let state = fake.state();
    assert!(!state.secrets.contains_key("db"));
    assert!(state.deleted_secrets.contains_key("db"), "recoverable, never purged (as ESO)");
    assert_eq!(state.log.iter().filter(|r| r.method == "DELETE").count(), 1);
}

#[tokio::test]
async fn a_value_that_is_not_text_never_reaches_the_vault() {
    let (fake, client, _) = service_principal_store().await;
    let err = client.push_secret(&PushRef::new("db", None), &[0xff, 0xfe]).await.unwrap_err().to_string();
    assert!(err.contains("UTF-8"), "{err}");
    assert!(fake.requests().iter().all(|r| r.method != "PUT"));
}
