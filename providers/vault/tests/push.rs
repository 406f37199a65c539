//! PushSecret writes on the real OpenBao server: KV v1 (ESO's `custom_metadata` marker inside
//! the map) and KV v2 with `checkAndSet.required`.
mod common;

use common::*;
use serde_json::json;
use sesame_provider_core::{Capabilities, PushRef, RemoteKey};
use sesame_provider_vault::VaultCheckAndSet;
use sesame_provider_vault::VaultKvVersion::{V1, V2};

fn creds(bao: &Bao) -> Creds {
    Creds::with(&[("vault-token", "token", bao.token.as_bytes())])
}

#[tokio::test]
async fn kv1_pushes_with_esos_marker_merges_properties_refuses_foreign_secrets_and_deletes() {
    let bao = Bao::root().await;
    let mount = bao.kv(V1).await;
    let (provider, calls) = build(&store(&bao, &mount, V1, token_auth()), creds(&bao)).await;
    assert_eq!(provider.capabilities(), Capabilities::ReadWrite);
    assert!(!provider.secret_exists(&PushRef::new("app/db", None)).await.unwrap());

    provider.push_secret(&PushRef::new("app/db", Some("user".into())), b"app").await.unwrap();
    provider.push_secret(&PushRef::new("app/db", Some("password".into())), b"pw").await.unwrap();
    let raw = bao.must("GET", &format!("{mount}/app/db"), None).await;
    assert_eq!(raw["data"], json!({"user": "app", "password": "pw", "custom_metadata": {"managed-by": "external-secrets"}}));
    assert!(provider.secret_exists(&PushRef::new("app/db", Some("user".into()))).await.unwrap());
    let writes = calls.count("WriteSecretData");
    provider.push_secret(&PushRef::new("app/db", Some("user".into())), b"app").await.unwrap();
    assert_eq!(calls.count("WriteSecretData"), writes, "an unchanged map is not written again");

    // Someone's own secret: not overwritten.
    bao.must("POST", &format!("{mount}/theirs"), Some(json!({"k": "not ours"}))).await;
    let err = provider.push_secret(&PushRef::new("theirs", Some("k".into())), b"ours").await.unwrap_err();
    assert!(err.to_string().contains("not managed"), "{err}");
    assert_eq!(bao.must("GET", &format!("{mount}/theirs"), None).await["data"], json!({"k": "not ours"}));

    provider.delete_secret(&PushRef::new("app/db", Some("user".into()))).await.unwrap();
    let raw = bao.must("GET", &format!("{mount}/app/db"), None).await;
    assert_eq!(raw["data"], json!({"password": "pw", "custom_metadata": {"managed-by": "external-secrets"}}));
    provider.delete_secret(&PushRef::new("app/db", Some("password".into()))).await.unwrap();
    assert_eq!(bao.call("GET", &format!("{mount}/app/db"), None).await.0, 404);
    provider.delete_secret(&PushRef::new("app/db", None)).await.unwrap();
}

#[tokio::test]
async fn kv2_with_check_and_set_sends_the_version_it_replaces() {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    // The mount itself requires cas: a write without it is refused by OpenBao.
    bao.must("POST", &format!("{mount}/config"), Some(json!({"cas_required": true}))).await;
    let mut spec = store(&bao, &mount, V2, token_auth());
    spec.check_and_set = Some(VaultCheckAndSet { required: true });
    let (provider, _) = build(&spec, creds(&bao)).await;

    provider.push_secret(&PushRef::new("db", None), br#"{"password":"pw-1"}"#).await.unwrap();
    provider.push_secret(&PushRef::new("db", Some("password".into())), b"pw-2").await.unwrap();
    assert_eq!(text(provider.get_secret(&RemoteKey::new("db")).await.unwrap()), r#"{"password":"pw-2"}"#);
    let meta = bao.must("GET", &format!("{mount}/metadata/db"), None).await;
    assert_eq!(meta["data"]["current_version"], 2);
    assert_eq!(meta["data"]["custom_metadata"]["managed-by"], "external-secrets");

    // Without checkAndSet the same mount refuses the write (the test above is not vacuous).
    let (plain, _) = build(&store(&bao, &mount, V2, token_auth()), creds(&bao)).await;
    let err = plain.push_secret(&PushRef::new("db", Some("password".into())), b"pw-3").await.unwrap_err();
    assert!(!err.to_string().contains("pw-3"), "{err}");
    assert_eq!(text(provider.get_secret(&RemoteKey::new("db")).await.unwrap()), r#"{"password":"pw-2"}"#);
}

#[tokio::test]
async fn check_and_set_on_a_kv1_store_is_refused_as_eso_does() {
    let bao = Bao::root().await;
    let mut spec = store(&bao, "kv1", V1, token_auth());
    spec.check_and_set = Some(VaultCheckAndSet { required: true });
    let ctx = sesame_provider_core::ProviderContext {
        credentials: std::sync::Arc::new(creds(&bao)),
        calls: std::sync::Arc::new(Calls::default()),
    };
    let err = sesame_provider_vault::build(&spec, ctx).await.err().expect("refused");
    assert!(err.to_string().contains("checkAndSet is not supported with Vault KV version v1"), "{err}");
}
