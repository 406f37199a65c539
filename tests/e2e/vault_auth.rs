//! Vault store auth methods beyond token/AppRole/Kubernetes/JWT/userpass, through the real binary.
//!
//! What is not real: the OpenBao of the test environment (2.7.2) has no `ldap` auth plugin, so
//! the ldap store logs in at a userpass method mounted where an ldap method would be. Both take
//! the same request (`POST auth/<path>/login/<user>`, `{"password": …}`), so this shows Sesame
//! reads `auth.ldap` and sends that request, not that an LDAP bind happens.
use std::time::Duration;

use serde_json::json;
use sesame::api::SecretStore;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::harness::*;

async fn store_ready(scene: &Scene, name: &str) -> Option<(String, String, String)> {
    let store: SecretStore = scene.stores().get(name).await.ok()?;
    let c = store.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
}

/// A fresh login method at `auth/<path>` (userpass, see the module doc) with user `alice` whose
/// tokens may read `secret/data/<ns>/*`, where `<ns>/db` holds `password`.
async fn bao_login_path(scene: &Scene, path: &str, password: &str) {
    let env = sesame_testsupport::env();
    let settings = VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap();
    let bao = VaultClient::new(settings).unwrap();
    let policy = format!("path \"secret/data/{}/*\" {{ capabilities = [\"read\"] }}", scene.ns);
    vaultrs::sys::policy::set(&bao, &scene.ns, &policy).await.expect("write the policy");
    vaultrs::sys::auth::enable(&bao, path, "userpass", None).await.expect("enable the login method");
    let mut opts = vaultrs::api::auth::userpass::requests::CreateUserRequest::builder();
    vaultrs::auth::userpass::user::set(&bao, path, "alice", password, Some(opts.token_policies(vec![scene.ns.clone()])))
        .await
        .expect("create the user");
    let data: std::collections::BTreeMap<&str, &str> = [("password", "from-vault")].into();
    vaultrs::kv2::set(&bao, "secret", &format!("{}/db", scene.ns), &data).await.expect("write the secret");
}

#[tokio::test]
async fn a_vault_store_with_ldap_auth_syncs_an_external_secret() {
    let scene = Scene::new("e2e-vault-ldap").await;
    let env = sesame_testsupport::env();
    let path = format!("ldap-{}", scene.ns);
    let password = format!("pw-{}", scene.ns);
    bao_login_path(&scene, &path, &password).await;
    scene.plain_secret("ldap-login", &[("password", &password)]).await;
    let auth = json!({"ldap": {"path": path, "username": "alice", "secretRef": {"name": "ldap-login", "key": "password"}}});
    scene.store("bao", json!({"vault": {"server": env.vault_addr, "path": "secret", "version": "v2", "auth": auth}})).await;
    let sesame = scene.sesame();
    scene
        .external_secret(
            "db",
            json!({"secretStoreRef": {"name": "bao"}, "data": [{"secretKey": "password", "remoteRef": {"key": format!("{}/db", scene.ns), "property": "password"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "from-vault")])).await;
    assert!(!sesame.logs().contains(&password), "the ldap password never reaches the log");
    scene.delete_namespace().await;
}

#[tokio::test]
/// ESO's GCE login is the controller's own instance: a namespaced store is refused while
/// `--refuse-secretstore-controller-identity` is on (the ClusterSecretStore case is
/// `cloud::gcp::vault_gcp_gce_login_uses_the_metadata_servers_identity_for_a_cluster_store_only`).
async fn a_vault_store_with_gcp_gce_login_is_refused_with_a_reason_and_its_fields_are_kept() {
    let scene = Scene::new("e2e-vault-gcp").await;
    let env = sesame_testsupport::env();
    let auth = json!({"gcp": {"role": "reader", "projectID": "p", "serviceAccountRef": {"name": "sa"}}});
    scene.store("gcp", json!({"vault": {"server": env.vault_addr, "path": "secret", "auth": auth}})).await;
    let kept: SecretStore = scene.stores().get("gcp").await.unwrap();
    let spec = serde_json::to_value(&kept.spec).unwrap();
    assert_eq!(spec["provider"]["vault"]["auth"]["gcp"]["path"], "gcp", "ESO's default path, not pruned");
    assert_eq!(spec["provider"]["vault"]["auth"]["gcp"]["projectID"], "p");
    let sesame = scene.sesame();
    let ok = eventually(Duration::from_secs(30), || async {
        store_ready(&scene, "gcp").await.is_some_and(|(s, r, m)| {
            s == "False" && r == "InvalidProviderConfig" && m.contains("auth.gcp") && m.contains("controller itself")
        })
    })
    .await;
    assert!(ok, "the store says why: {:?}\n{}", store_ready(&scene, "gcp").await, tail(&sesame.logs()));
    scene.delete_namespace().await;
}
