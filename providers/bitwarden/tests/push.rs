//! PushSecret against the fake bitwarden-sdk-server, by ESO's rules: nothing is overwritten on a
//! guess (same name, project and note: update; anything else: create), a name twice in the
//! project is refused for delete and exists, and a secret already gone deletes cleanly.
mod common;
mod fake;

use common::*;
use fake::FakeSdkServer;
use serde_json::json;
use sesame_provider_core::PushRef;

fn push_ref(key: &str, note: Option<&str>) -> PushRef {
    let mut r = PushRef::new(key, None);
    r.metadata = note.map(|n| json!({"note": n}));
    r
}

async fn fake() -> FakeSdkServer {
    let fake = FakeSdkServer::start().await;
    fake.token(TOKEN);
    fake
}

fn writes(fake: &FakeSdkServer) -> Vec<(String, serde_json::Value)> {
    fake.requests().into_iter().filter(|s| s.method != "GET").map(|s| (s.method, s.body)).collect()
}

#[tokio::test]
async fn a_push_creates_then_updates_in_place_and_skips_what_is_already_there() {
    let fake = fake().await;
    let c = client(&fake).await;
    c.push_secret(&push_ref("api-key", Some("pushed by sesame")), b"v1").await.unwrap();
    let created = fake.named("api-key");
    assert_eq!(created.len(), 1);
    assert_eq!(
        (&created[0]["projectId"], &created[0]["note"], &created[0]["value"]),
        (&json!(PROJECT), &json!("pushed by sesame"), &json!("v1"))
    );
    let (method, body) = &writes(&fake)[0];
    assert_eq!(method, "POST");
    assert_eq!(body, &json!({"key": "api-key", "note": "pushed by sesame", "organizationId": ORG, "projectIds": [PROJECT], "value": "v1"}));

    c.push_secret(&push_ref("api-key", Some("pushed by sesame")), b"v1").await.unwrap();
    assert_eq!(writes(&fake).len(), 1, "the same key, note, project and value: nothing to write");

    c.push_secret(&push_ref("api-key", Some("pushed by sesame")), b"v2").await.unwrap();
    let (method, body) = &writes(&fake)[1];
    assert_eq!((method.as_str(), &body["id"]), ("PUT", &created[0]["id"]), "only the value differs: the same secret is updated");
    assert_eq!(fake.named("api-key")[0]["value"], "v2");
}

#[tokio::test]
async fn another_note_or_another_project_is_another_secret() {
    let fake = fake().await;
    fake.secret(ORG, Some(OTHER_PROJECT), "token", "theirs", "");
    let c = client(&fake).await;
    c.push_secret(&push_ref("token", None), b"ours").await.unwrap();
    c.push_secret(&push_ref("token", Some("a note")), b"ours-noted").await.unwrap();
    let named = fake.named("token");
    assert_eq!(named.len(), 3, "{named:?}");
    assert_eq!(named[0]["value"], "theirs", "the other project's secret is untouched");
    assert_eq!((&named[1]["note"], &named[1]["value"]), (&json!(""), &json!("ours")));
    assert_eq!((&named[2]["note"], &named[2]["value"]), (&json!("a note"), &json!("ours-noted")));

    // PushSecretMetadata's envelope carries the note in its spec, as ESO reads it.
    let mut envelope = PushRef::new("token", None);
    envelope.metadata =
        Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": {"note": "a note"}}));
    c.push_secret(&envelope, b"ours-noted-2").await.unwrap();
    assert_eq!(fake.named("token")[2]["value"], "ours-noted-2");
}

#[tokio::test]
async fn exists_and_delete_find_the_secret_by_name_in_the_project_or_by_id() {
    let fake = fake().await;
    let theirs = fake.secret(ORG, Some(OTHER_PROJECT), "shared", "theirs", "");
    let c = client(&fake).await;
    assert!(!c.secret_exists(&push_ref("shared", None)).await.unwrap(), "only the store's project counts");
    c.push_secret(&push_ref("shared", None), b"ours").await.unwrap();
    assert!(c.secret_exists(&push_ref("shared", None)).await.unwrap());
    assert!(c.secret_exists(&push_ref(&theirs, None)).await.unwrap(), "an id exists when it can be read");
    assert!(!c.secret_exists(&push_ref("00000000-0000-4000-8000-000000000000", None)).await.unwrap());

    c.delete_secret(&push_ref("shared", None)).await.unwrap();
    let left = fake.named("shared");
    assert_eq!((left.len(), &left[0]["id"]), (1, &json!(theirs)), "only the project's secret is deleted");
    let (method, body) = writes(&fake).pop().unwrap();
    assert_eq!(method, "DELETE");
    assert_eq!(body["ids"].as_array().unwrap().len(), 1);
    c.delete_secret(&push_ref("shared", None)).await.unwrap();
    c.delete_secret(&push_ref("00000000-0000-4000-8000-000000000000", None)).await.unwrap();
    c.delete_secret(&push_ref(&theirs, None)).await.unwrap();
    assert!(fake.named("shared").is_empty(), "an id is deleted whatever its project");

    fake.secret(ORG, Some(PROJECT), "twice", "a", "");
    fake.secret(ORG, Some(PROJECT), "twice", "b", "");
    assert!(c.delete_secret(&push_ref("twice", None)).await.unwrap_err().to_string().contains("more than one secret"));
    assert_eq!(fake.named("twice").len(), 2, "nothing deleted on a guess");
}

#[tokio::test]
async fn what_cannot_be_pushed_is_refused_clearly() {
    let fake = fake().await;
    let c = client(&fake).await;
    let property = PushRef::new("db", Some("password".into()));
    assert!(c.push_secret(&property, b"v").await.unwrap_err().to_string().contains("remoteRef.property is not supported"));
    assert!(c.push_secret(&push_ref("db", None), &[0xff, 0xfe]).await.unwrap_err().to_string().contains("not UTF-8"));
    assert!(c.push_secret(&push_ref("", None), b"v").await.unwrap_err().to_string().contains("remote key must be defined"));
    let mut bad_note = push_ref("db", None);
    bad_note.metadata = Some(json!({"note": ["x"]}));
    assert!(c.push_secret(&bad_note, b"v").await.unwrap_err().to_string().contains("note must be a string"));
    assert!(writes(&fake).is_empty(), "nothing was written");
    assert_eq!(c.capabilities().as_str(), "ReadWrite");
}
