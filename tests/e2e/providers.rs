//! The real binary syncing from real provider servers: AWS (moto) and Vault (OpenBao).
use std::time::Duration;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use serde_json::json;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::harness::*;

/// A Secrets Manager client on the test environment's moto.
pub(crate) async fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    let env = sesame_testsupport::env();
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(env.aws_region.clone()))
        .endpoint_url(&env.aws_endpoint)
        .credentials_provider(Credentials::new(
            sesame_testsupport::AWS_ACCESS_KEY_ID,
            sesame_testsupport::AWS_SECRET_ACCESS_KEY,
            None,
            None,
            "e2e",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

pub(crate) async fn aws_store(scene: &Scene) {
    let env = sesame_testsupport::env();
    scene
        .plain_secret("aws-creds", &[("id", sesame_testsupport::AWS_ACCESS_KEY_ID), ("secret", sesame_testsupport::AWS_SECRET_ACCESS_KEY)])
        .await;
    scene
        .store(
            "aws",
            json!({"aws": {
                "service": "SecretsManager",
                "region": env.aws_region,
                "auth": {"secretRef": {
                    "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                    "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"},
                }},
            }}),
        )
        .await;
}

fn aws_env() -> Vec<(&'static str, String)> {
    vec![("AWS_ENDPOINT_URL", sesame_testsupport::env().aws_endpoint.clone()), ("AWS_EC2_METADATA_DISABLED", "true".into())]
}

/// Start sesame for the scene with the AWS SDK pointed at moto.
pub(crate) fn aws_sesame(scene: &Scene, args: &[&str]) -> Sesame {
    let vars = aws_env();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    scene.sesame_with(args, &vars)
}

/// A secret on moto under the scene's namespace, and the scene's AWS store; returns its name.
async fn aws_secret_and_store(scene: &Scene, sm: &aws_sdk_secretsmanager::Client, key: &str, value: &str) -> String {
    let name = format!("{}/{key}", scene.ns);
    sm.create_secret().name(&name).secret_string(value).send().await.unwrap();
    aws_store(scene).await;
    name
}

#[tokio::test]
async fn syncs_from_aws_secrets_manager_and_follows_a_change_after_force_sync() {
    let scene = Scene::new("e2e-aws").await;
    let sm = secrets_manager().await;
    let name = aws_secret_and_store(&scene, &sm, "db", r#"{"user":"app","password":"first"}"#).await;
    let sesame = aws_sesame(&scene, &[]);
    scene
        .external_secret(
            "db",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "aws"},
                "data": [{"secretKey": "password", "remoteRef": {"key": name, "property": "password"}}],
                "dataFrom": [{"extract": {"key": name}}],
            }),
        )
        .await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "first"), ("user", "app")])).await;

    sm.put_secret_value().secret_id(&name).secret_string(r#"{"user":"app","password":"second"}"#).send().await.unwrap();
    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "2"}}});
    scene.externalsecrets().patch("db", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "second"), ("user", "app")])).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn many_externalsecrets_over_few_keys_cost_one_batch_call_per_twenty_keys() {
    let scene = Scene::new("e2e-awsbatch").await;
    let sm = secrets_manager().await;
    let keys: Vec<String> = (0..25).map(|i| format!("{}/k{i}", scene.ns)).collect();
    for (i, k) in keys.iter().enumerate() {
        sm.create_secret().name(k).secret_string(format!("v{i}")).send().await.unwrap();
    }
    aws_store(&scene).await;
    // 40 ExternalSecrets over the 25 keys, created before the controller starts.
    for i in 0..40 {
        let key = &keys[i % 25];
        scene
            .external_secret(
                &format!("es-{i}"),
                json!({"secretStoreRef": {"name": "aws"}, "data": [{"secretKey": "v", "remoteRef": {"key": key}}]}),
            )
            .await;
    }
    // A generous window: on a loaded CI machine the first reconciles of 40 objects spread out.
    let sesame = aws_sesame(&scene, &["--coalesce-window", "3s"]);
    for i in 0..40 {
        wait_secret_data(&scene, &sesame, &format!("es-{i}"), &map(&[("v", &format!("v{}", i % 25))])).await;
    }
    let (_, metrics) = sesame.get("/metrics").await.unwrap();
    let batch = sample(&metrics, "externalsecret_provider_api_calls_count{", &["BatchGetSecretValue"]);
    let single = sample(&metrics, "externalsecret_provider_api_calls_count{", &["call=\"GetSecretValue\""]);
    println!("first sync of 40 ExternalSecrets over 25 keys: BatchGetSecretValue={batch} GetSecretValue={single}");
    assert_eq!(batch, 2.0, "⌈25/20⌉ batch calls expected\n{metrics}");
    assert_eq!(single, 0.0);
    scene.delete_namespace().await;
}

async fn openbao() -> VaultClient {
    let env = sesame_testsupport::env();
    VaultClient::new(VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap()).unwrap()
}

/// Tokens OpenBao holds that were issued by a login on `mount`, counted by OpenBao itself (its
/// token accessors), not by what Sesame reports.
async fn logins_on(bao: &VaultClient, mount: &str) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = sesame_testsupport::env();
    let host = env.vault_addr.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect to OpenBao");
    // HTTP/1.0: the answer is never chunked, the body runs to the end of the connection.
    let request = format!("GET /v1/auth/token/accessors?list=true HTTP/1.0\r\nHost: {host}\r\nX-Vault-Token: {}\r\n\r\n", env.vault_token);
    stream.write_all(request.as_bytes()).await.expect("send the accessor listing");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read the accessor listing");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let listing: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("accessor listing is not JSON ({e}): {answer}"));
    let accessors = listing["data"]["keys"].as_array().cloned().unwrap_or_default();
    let mut count = 0;
    for accessor in accessors.iter().filter_map(|a| a.as_str()) {
        // A token revoked between the listing and the lookup is no login of ours.
        if let Ok(token) = vaultrs::token::lookup_accessor(bao, accessor).await {
            count += usize::from(token.path.starts_with(&format!("auth/{mount}/login/")));
        }
    }
    count
}

#[tokio::test]
async fn syncs_from_openbao_kv_v2_and_logs_in_once_for_many_externalsecrets() {
    let scene = Scene::new("e2e-vault").await;
    let env = sesame_testsupport::env();
    let bao = openbao().await;
    let path = format!("{}/app", scene.ns);
    let data: std::collections::BTreeMap<&str, &str> = [("user", "app"), ("password", "v1")].into();
    vaultrs::kv2::set(&bao, "secret", &path, &data).await.unwrap();
    // A userpass login of this test's own: every login is a token OpenBao can count.
    let mount = format!("up-{}", scene.ns);
    vaultrs::sys::auth::enable(&bao, &mount, "userpass", None).await.expect("enable userpass");
    let policy = format!("path \"secret/data/{}/*\" {{ capabilities = [\"read\"] }}", scene.ns);
    vaultrs::sys::policy::set(&bao, &scene.ns, &policy).await.expect("write the policy");
    let password = format!("pw-{}", scene.ns);
    let mut opts = vaultrs::api::auth::userpass::requests::CreateUserRequest::builder();
    vaultrs::auth::userpass::user::set(&bao, &mount, "sesame", &password, Some(opts.token_policies(vec![scene.ns.clone()])))
        .await
        .expect("create the user");
    scene.plain_secret("bao-login", &[("password", &password)]).await;
    let auth = json!({"userPass": {"path": mount, "username": "sesame", "secretRef": {"name": "bao-login", "key": "password"}}});
    scene.store("bao", json!({"vault": {"server": env.vault_addr, "path": "secret", "version": "v2", "auth": auth}})).await;
    let sesame = scene.sesame();
    for i in 0..10 {
        scene
            .external_secret(&format!("es-{i}"), json!({"secretStoreRef": {"name": "bao"}, "data": [{"secretKey": "password", "remoteRef": {"key": path, "property": "password"}}]}))
            .await;
    }
    for i in 0..10 {
        wait_secret_data(&scene, &sesame, &format!("es-{i}"), &map(&[("password", "v1")])).await;
    }
    let data: std::collections::BTreeMap<&str, &str> = [("user", "app"), ("password", "v2")].into();
    vaultrs::kv2::set(&bao, "secret", &path, &data).await.unwrap();
    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "2"}}});
    scene.externalsecrets().patch("es-0", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    wait_secret_data(&scene, &sesame, "es-0", &map(&[("password", "v2")])).await;

    assert_eq!(logins_on(&bao, &mount).await, 1, "OpenBao issued one login token for 11 syncs of 10 ExternalSecrets");
    let (_, metrics) = sesame.get("/metrics").await.unwrap();
    let logins = sample(&metrics, "externalsecret_provider_api_calls_count{", &["HashiCorp/Vault", "call=\"Login\""]);
    assert_eq!(logins, 1.0, "Sesame counts the same single login\n{metrics}");
    let reads = sample(&metrics, "externalsecret_provider_api_calls_count{", &["HashiCorp/Vault", "ReadSecretData"]);
    assert!(reads >= 1.0, "Vault reads are counted\n{metrics}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn routine_refreshes_leave_the_secret_alone_until_the_remote_value_changes() {
    let scene = Scene::new("e2e-aws-quiet").await;
    let sm = secrets_manager().await;
    let name = aws_secret_and_store(&scene, &sm, "token", "first").await;
    let sesame = aws_sesame(&scene, &[]);
    scene
        .external_secret(
            "token",
            json!({"refreshInterval": "2s", "secretStoreRef": {"name": "aws"}, "data": [{"secretKey": "token", "remoteRef": {"key": name}}]}),
        )
        .await;
    let first = wait_secret_data(&scene, &sesame, "token", &map(&[("token", "first")])).await;
    let refresh_time = |es: sesame::api::ExternalSecret| es.status.and_then(|s| s.refresh_time).unwrap_or_default();
    let synced_at = refresh_time(scene.es("token").await);

    // Several refreshes read the provider and find the same value: the Secret is not rewritten.
    let refreshed = eventually(Duration::from_secs(30), || async {
        let now = refresh_time(scene.es("token").await);
        now.as_str() > synced_at.as_str() && chrono_secs(&now) >= chrono_secs(&synced_at) + 4
    })
    .await;
    assert!(refreshed, "the ExternalSecret was not refreshed on its 2s interval\n{}", tail(&sesame.logs()));
    let unchanged = scene.secret("token").await.expect("the Secret exists");
    assert_eq!(unchanged.metadata.resource_version, first.metadata.resource_version, "a refresh with nothing new rewrote the Secret");

    // A new remote value arrives on the next routine refresh, with no change to the spec.
    sm.put_secret_value().secret_id(&name).secret_string("second").send().await.unwrap();
    wait_secret_data(&scene, &sesame, "token", &map(&[("token", "second")])).await;
    scene.delete_namespace().await;
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp as Sesame writes it (`…Z`).
fn chrono_secs(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp()).unwrap_or(0)
}
