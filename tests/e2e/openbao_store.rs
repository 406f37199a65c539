//! ESO's own `spec.provider.openBao` key on the real OpenBao server: served by the Vault client,
//! read-only and finding by name, as ESO's OpenBao provider.
use std::time::Duration;

use serde_json::json;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::harness::*;

#[tokio::test]
async fn an_openbao_store_syncs_values_and_finds_by_name_and_is_read_only() {
    let scene = Scene::new("e2e-openbao").await;
    let env = sesame_testsupport::env();
    let bao =
        VaultClient::new(VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap()).unwrap();
    for (name, password) in [("app", "bao-1"), ("app-two", "bao-2"), ("other", "bao-3")] {
        let data: std::collections::BTreeMap<&str, &str> = [("password", password)].into();
        vaultrs::kv2::set(&bao, "secret", &format!("{}/{name}", scene.ns), &data).await.unwrap();
    }
    let mount = format!("up-{}", scene.ns);
    vaultrs::sys::auth::enable(&bao, &mount, "userpass", None).await.expect("enable userpass");
    let policy = format!(
        "path \"secret/data/{0}/*\" {{ capabilities = [\"read\"] }}\npath \"secret/metadata/{0}/*\" {{ capabilities = [\"read\", \"list\"] }}\npath \"secret/metadata/{0}\" {{ capabilities = [\"list\"] }}",
        scene.ns
    );
    vaultrs::sys::policy::set(&bao, &scene.ns, &policy).await.expect("write the policy");
    let password = format!("pw-{}", scene.ns);
    let mut opts = vaultrs::api::auth::userpass::requests::CreateUserRequest::builder();
    vaultrs::auth::userpass::user::set(&bao, &mount, "sesame", &password, Some(opts.token_policies(vec![scene.ns.clone()])))
        .await
        .expect("create the user");
    scene.plain_secret("bao-login", &[("password", &password)]).await;
    let auth = json!({"userPass": {"path": mount, "username": "sesame", "secretRef": {"name": "bao-login", "key": "password"}}});
    scene.store("bao", json!({"openBao": {"server": env.vault_addr, "path": "secret", "auth": auth}})).await;
    let sesame = scene.sesame();

    let ok = eventually(Duration::from_secs(30), || async {
        let status = scene.stores().get("bao").await.unwrap().status.unwrap_or_default();
        status.capabilities.as_deref() == Some("ReadOnly") && status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
    .await;
    assert!(ok, "the openBao store is Ready and ReadOnly: {:?}\n{}", scene.stores().get("bao").await.unwrap().status, tail(&sesame.logs()));

    let key = format!("{}/app", scene.ns);
    scene
        .external_secret("one", json!({"secretStoreRef": {"name": "bao"}, "data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]}))
        .await;
    wait_secret_data(&scene, &sesame, "one", &map(&[("password", "bao-1")])).await;
    let find = json!({"path": scene.ns, "name": {"regexp": "app"}});
    scene.external_secret("found", json!({"secretStoreRef": {"name": "bao"}, "dataFrom": [{"find": find}]})).await;
    let app = format!("{}_app", scene.ns);
    let app_two = format!("{}_app-two", scene.ns);
    let es = scene.wait_ready(&sesame, "found", "True", "SecretSynced").await;
    let data = scene.secret_data("found").await.unwrap_or_default();
    assert_eq!(data.len(), 2, "two names match: {data:?} {:?}", ready_condition(&es));
    assert!(data.keys().all(|k| k.ends_with("app") || k.ends_with("app-two")), "{data:?} ({app}, {app_two})");
    scene.delete_namespace().await;
}
