//! Infisical through the binary: the store's `hostAPI` is the fake Infisical API, as an operator
//! would point it at a self-hosted instance.
#[path = "../../../providers/infisical/tests/fake/mod.rs"]
mod fake;

use base64::Engine;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::push_secret::{apply_push, ready};
use fake::FakeInfisical;

const CLIENT_ID: &str = "machine-identity-e2e";
const CLIENT_SECRET: &str = "ua-secret-e2e-0123456789";
const ROTATED: &str = "ua-secret-e2e-rotated-9876";

async fn fake_infisical() -> FakeInfisical {
    let fake = FakeInfisical::start().await;
    fake.client(CLIENT_ID, CLIENT_SECRET);
    fake.secret("first-project", "dev", "/", "DB_PASSWORD", "inf-pw-1");
    fake.secret("first-project", "dev", "/", "API_CONFIG", r#"{"url":"https://api.internal","retries":"3"}"#);
    fake.secret("first-project", "dev", "/", "DB_URL", "postgres://app:${DB_PASSWORD}@db");
    fake.secret("first-project", "dev", "/shared", "REDIS_URL", "redis://cache:6379");
    fake.import("first-project", "dev", "/", "/shared");
    fake
}

/// ESO's Infisical store manifest (Universal Auth), its `hostAPI` at the fake.
async fn infisical_store(scene: &Scene, fake: &FakeInfisical, secret: &str) {
    scene.plain_secret("universal-auth-credentials", &[("clientId", CLIENT_ID), ("clientSecret", secret)]).await;
    let store = json!({"infisical": {
        "auth": {"universalAuthCredentials": {
            "clientId": {"key": "clientId", "name": "universal-auth-credentials"},
            "clientSecret": {"key": "clientSecret", "name": "universal-auth-credentials"},
        }},
        "secretsScope": {"projectSlug": "first-project", "environmentSlug": "dev", "secretsPath": "/", "recursive": true},
        "hostAPI": fake.url,
    }});
    scene.store("infisical", store).await;
}

#[tokio::test]
async fn infisical_secrets_sync_with_property_extract_and_find_and_survive_a_credential_rotation() {
    let scene = Scene::new("e2e-infisical").await;
    let fake = fake_infisical().await;
    infisical_store(&scene, &fake, CLIENT_SECRET).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "infisical", "True", "Valid", "store validated").await;

    scene
        .external_secret(
            "web",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "infisical"},
                "data": [
                    {"secretKey": "DB_PASS", "remoteRef": {"key": "DB_PASSWORD"}},
                    {"secretKey": "DB_URL", "remoteRef": {"key": "DB_URL"}},
                    {"secretKey": "API_URL", "remoteRef": {"key": "API_CONFIG", "property": "url"}},
                ],
                "dataFrom": [{"extract": {"key": "API_CONFIG"}}, {"find": {"name": {"regexp": "^REDIS"}}}],
            }),
        )
        .await;
    let want = map(&[
        ("DB_PASS", "inf-pw-1"),
        ("DB_URL", "postgres://app:inf-pw-1@db"),
        ("API_URL", "https://api.internal"),
        ("url", "https://api.internal"),
        ("retries", "3"),
        ("REDIS_URL", "redis://cache:6379"),
    ]);
    wait_secret_data(&scene, &sesame, "web", &want).await;
    scene.wait_ready(&sesame, "web", "True", "SecretSynced").await;

    // The identity's secret is rotated and its tokens die: the next read is refused, the client
    // is dropped, and the rebuilt one logs in with the rotated secret read from Kubernetes.
    let rotated = base64::engine::general_purpose::STANDARD.encode(ROTATED);
    let patch = json!({"data": {"clientSecret": rotated}});
    scene.secrets().patch("universal-auth-credentials", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("rotate");
    fake.client(CLIENT_ID, ROTATED);
    fake.secret("first-project", "dev", "/", "DB_PASSWORD", "inf-pw-2");
    fake.revoke_all();
    force_sync(&scene, "web", "rotated").await;
    let want2 = map(&[
        ("DB_PASS", "inf-pw-2"),
        ("DB_URL", "postgres://app:inf-pw-2@db"),
        ("API_URL", "https://api.internal"),
        ("url", "https://api.internal"),
        ("retries", "3"),
        ("REDIS_URL", "redis://cache:6379"),
    ]);
    wait_secret_data(&scene, &sesame, "web", &want2).await;
    let rotated_login = fake.lock().login_bodies.iter().any(|b| b["clientSecret"] == ROTATED);
    assert!(rotated_login, "the rebuilt client logged in with the rotated client secret");

    // A secret removed upstream: Ready=False naming it, the Secret keeps its data.
    fake.lock().folders.get_mut(&("first-project".into(), "dev".into(), "/".into())).unwrap().remove("DB_URL");
    force_sync(&scene, "web", "gone").await;
    let es = scene.wait_ready(&sesame, "web", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("Secret with name 'DB_URL' not found"), "the Ready message names the cause: {message}");
    assert_eq!(scene.secret_data("web").await.as_ref(), Some(&want2), "the Secret keeps its last synced data");
    assert_not_logged(&sesame, &["inf-pw-1", "inf-pw-2", "redis://cache:6379", CLIENT_SECRET, ROTATED, "fake-token-1"]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn infisical_a_refused_login_and_a_key_file_without_the_operators_directory_are_clear_store_conditions() {
    let scene = Scene::new("e2e-infisical-auth").await;
    let fake = fake_infisical().await;
    infisical_store(&scene, &fake, "not-the-secret").await;
    scene.plain_secret("gcp-key-path", &[("identityId", "gcp-iam-identity"), ("path", "/etc/passwd")]).await;
    scene.store("infisical-gcp-path", gcp_iam_store(&fake, "gcp-key-path", "path")).await;
    let sesame = scene.sesame();
    let message = wait_store(&scene, &sesame, "infisical", "False", "InvalidProviderConfig", "Invalid credentials").await;
    assert!(message.contains("HTTP 401") && !message.contains("not-the-secret"), "{message}");
    let message = wait_store(&scene, &sesame, "infisical-gcp-path", "False", "InvalidProviderConfig", "--infisical-gcp-key-dir").await;
    assert!(message.contains("put the key JSON itself in the Secret"), "{message}");
    assert!(fake.requests().iter().all(|r| !r.contains("gcp-auth")), "nothing was sent for the refused path");
    assert_not_logged(&sesame, &["not-the-secret", "root:x:0:0"]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn infisical_a_push_secret_round_trips_through_an_external_secret_and_its_deletion_removes_exactly_what_it_pushed() {
    let scene = Scene::new("e2e-infisical-push").await;
    let fake = fake_infisical().await;
    fake.secret("first-project", "dev", "/", "SERVICE", r#"{"owner":"ops"}"#);
    infisical_store(&scene, &fake, CLIENT_SECRET).await;
    scene.plain_secret("source", &[("api-key", "inf-pushed-1"), ("user", "svc-user")]).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "infisical", "True", "Valid", "store validated").await;
    let push = json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": "push", "namespace": scene.ns},
        "spec": {"refreshInterval": "1h", "deletionPolicy": "Delete",
                 "secretStoreRefs": [{"name": "infisical", "kind": "SecretStore"}],
                 "selector": {"secret": {"name": "source"}},
                 "data": [{"match": {"secretKey": "api-key", "remoteRef": {"remoteKey": "PUSHED_KEY"}}},
                          {"match": {"secretKey": "user", "remoteRef": {"remoteKey": "SERVICE", "property": "user"}}}]},
    });
    apply_push(&scene, push).await;
    ready(&scene, &sesame, "push", "True").await;
    let root = || fake.folder("first-project", "dev", "/");
    assert_eq!(root()["PUSHED_KEY"], "inf-pushed-1");
    assert_eq!(root()["SERVICE"], r#"{"owner":"ops","user":"svc-user"}"#, "the property is merged into the existing object");

    // Read back through an ExternalSecret on the same store.
    scene
        .external_secret(
            "back",
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": "infisical"},
                   "data": [{"secretKey": "key", "remoteRef": {"key": "PUSHED_KEY"}},
                            {"secretKey": "user", "remoteRef": {"key": "SERVICE", "property": "user"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "back", &map(&[("key", "inf-pushed-1"), ("user", "svc-user")])).await;

    // A new source value updates the remote secret in place.
    let patch = json!({"data": {"api-key": base64::engine::general_purpose::STANDARD.encode("inf-pushed-2")}});
    scene.secrets().patch("source", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("update the source");
    let updated = eventually(Duration::from_secs(30), || async { root().get("PUSHED_KEY").is_some_and(|v| v == "inf-pushed-2") }).await;
    assert!(updated, "the pushed secret follows its source: {:?}\n{}", root(), tail(&sesame.logs()));
    let methods: Vec<String> = fake.lock().write_bodies.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(methods, ["POST", "PATCH", "PATCH"], "created once, then updated");

    // deletionPolicy Delete: the pushed secret goes, the pushed property goes, the rest stays.
    let ps: Api<sesame::api::PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    ps.delete("push", &DeleteParams::default()).await.unwrap();
    let gone = eventually(Duration::from_secs(30), || async { !root().contains_key("PUSHED_KEY") }).await;
    assert!(gone, "deletionPolicy Delete removes the pushed secret\n{}", tail(&sesame.logs()));
    let cleaned = eventually(Duration::from_secs(30), || async { root().get("SERVICE").is_some_and(|v| v == r#"{"owner":"ops"}"#) }).await;
    assert!(cleaned, "only the pushed property is removed: {:?}", root());
    let left: Vec<String> = root().into_keys().collect();
    assert_eq!(left, ["API_CONFIG", "DB_PASSWORD", "DB_URL", "SERVICE"], "nothing else is touched");
    assert_not_logged(&sesame, &["inf-pushed-1", "inf-pushed-2", "svc-user", CLIENT_SECRET]);
    scene.delete_namespace().await;
}

/// The controller's ServiceAccount (tests/e2e/identity.rs), whose token file Kubernetes Auth sends.
const CONTROLLER_SA: (&str, &str) = ("sesame-e2e-identity", "sesame");

/// A token of the controller's ServiceAccount in a file, as the kubelet projects it in a pod.
async fn controller_token_file(scene: &Scene) -> std::path::PathBuf {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}})).unwrap();
    let minted: TokenRequest = kube::Api::<ServiceAccount>::namespaced(scene.client.clone(), CONTROLLER_SA.0)
        .create_subresource("token", CONTROLLER_SA.1, &kube::api::PostParams::default(), &request)
        .await
        .expect("a token of the controller's ServiceAccount");
    let path = std::env::temp_dir().join(format!("{}-sa-token", scene.ns));
    std::fs::write(&path, minted.status.unwrap().token).unwrap();
    path
}

/// The user the apiserver says `jwt` authenticates as.
async fn reviewed(scene: &Scene, jwt: &str) -> Option<String> {
    use k8s_openapi::api::authentication::v1::TokenReview;
    let review: TokenReview = serde_json::from_value(json!({"spec": {"token": jwt}})).unwrap();
    let done = kube::Api::<TokenReview>::all(scene.client.clone()).create(&kube::api::PostParams::default(), &review).await.ok()?;
    let status = done.status?;
    status.authenticated.filter(|a| *a)?;
    status.user?.username
}

fn cluster_store(scene: &Scene, name: &str, provider: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": name},
        "spec": {"controller": scene.class, "provider": provider},
    })
}

#[tokio::test]
async fn infisical_kubernetes_auth_sends_the_controllers_token_file_from_a_cluster_store_only() {
    let scene = Scene::new("e2e-infisical-k8s").await;
    let fake = fake_infisical().await;
    let subject = format!("system:serviceaccount:{}:{}", CONTROLLER_SA.0, CONTROLLER_SA.1);
    fake.kubernetes_identity("k8s-identity", &subject);
    let path = controller_token_file(&scene).await;
    scene.plain_secret("infisical-k8s", &[("identityId", "k8s-identity"), ("tokenPath", path.to_str().unwrap())]).await;
    let k8s = |ns: Option<&str>| {
        let sel = |key: &str| json!({"name": "infisical-k8s", "key": key, "namespace": ns});
        json!({"infisical": {
            "auth": {"kubernetesAuthCredentials": {"identityId": sel("identityId"), "serviceAccountTokenPath": sel("tokenPath")}},
            "secretsScope": {"projectSlug": "first-project", "environmentSlug": "dev"},
            "hostAPI": fake.url,
        }})
    };
    // A SecretStore may not send the controller's token to a URL its namespace chose.
    scene.store("infisical-k8s", k8s(None)).await;
    let css = format!("infisical-k8s-{}", scene.ns);
    apply(&scene.client, "", "clustersecretstores", &css, cluster_store(&scene, &css, k8s(Some(&scene.ns)))).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "infisical-k8s", "False", "InvalidProviderConfig", "may not authenticate as the controller").await;
    scene
        .external_secret(
            "web",
            json!({"secretStoreRef": {"name": css, "kind": "ClusterSecretStore"}, "data": [{"secretKey": "pw", "remoteRef": {"key": "DB_PASSWORD"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "web", &map(&[("pw", "inf-pw-1")])).await;
    let body = fake.lock().login_bodies.iter().find(|b| b["identityId"] == "k8s-identity").cloned().expect("a kubernetes-auth login");
    let jwt = body["jwt"].as_str().unwrap().to_string();
    assert_eq!(reviewed(&scene, &jwt).await, Some(subject), "the controller's real token, as Infisical's TokenReview sees it");
    assert_not_logged(&sesame, &[jwt.as_str(), "inf-pw-1"]);
    let _ = kube::Api::<sesame::api::ClusterSecretStore>::all(scene.client.clone()).delete(&css, &Default::default()).await;
    let _ = std::fs::remove_file(path);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn infisical_aws_auth_signs_get_caller_identity_with_the_controllers_credentials_which_sts_accepts() {
    let scene = Scene::new("e2e-infisical-aws").await;
    let fake = fake_infisical().await;
    let env = sesame_testsupport::env();
    // moto answers every caller as this user; Infisical replays the request to STS.
    fake.aws_identity("aws-identity", "arn:aws:sts::123456789012:user/moto", Some(&env.aws_endpoint));
    scene.plain_secret("infisical-aws", &[("identityId", "aws-identity")]).await;
    let store = json!({"infisical": {
        "auth": {"awsAuthCredentials": {"identityId": {"name": "infisical-aws", "key": "identityId"}}},
        "secretsScope": {"projectSlug": "first-project", "environmentSlug": "dev"},
        "hostAPI": fake.url,
    }});
    scene.store("infisical-aws", store).await;
    let vars = [
        ("AWS_REGION", env.aws_region.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ACCESS_KEY_ID", sesame_testsupport::AWS_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", sesame_testsupport::AWS_SECRET_ACCESS_KEY),
    ];
    let sesame = scene.sesame_with(&["--refuse-secretstore-controller-identity=false"], &vars);
    wait_store(&scene, &sesame, "infisical-aws", "True", "Valid", "store validated").await;
    scene
        .external_secret(
            "web",
            json!({"secretStoreRef": {"name": "infisical-aws"}, "data": [{"secretKey": "pw", "remoteRef": {"key": "DB_PASSWORD"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "web", &map(&[("pw", "inf-pw-1")])).await;
    let body = fake.lock().login_bodies.iter().find(|b| b["identityId"] == "aws-identity").cloned().unwrap();
    let headers = base64::engine::general_purpose::STANDARD.decode(body["iamRequestHeaders"].as_str().unwrap()).unwrap();
    let headers: serde_json::Value = serde_json::from_slice(&headers).unwrap();
    assert_eq!(headers["Host"], format!("sts.{}.amazonaws.com", env.aws_region));
    let authz = headers["Authorization"].as_str().unwrap();
    assert!(authz.starts_with(&format!("AWS4-HMAC-SHA256 Credential={}/", sesame_testsupport::AWS_ACCESS_KEY_ID)), "{authz}");
    assert_not_logged(&sesame, &["inf-pw-1"]);
    scene.delete_namespace().await;
}

/// A GCP IAM Auth store whose key is the Secret `secret`'s `key` (key JSON or a path).
fn gcp_iam_store(fake: &FakeInfisical, secret: &str, key: &str) -> serde_json::Value {
    json!({"infisical": {
        "auth": {"gcpIamAuthCredentials": {
            "identityId": {"name": secret, "key": "identityId"},
            "serviceAccountKeyFilePath": {"name": secret, "key": key},
        }},
        "secretsScope": {"projectSlug": "first-project", "environmentSlug": "dev"},
        "hostAPI": fake.url,
    }})
}

#[tokio::test]
async fn infisical_gcp_iam_auth_logs_in_with_the_key_json_or_a_key_file_only_under_the_allowed_directory() {
    let scene = Scene::new("e2e-infisical-gcp-iam").await;
    let fake = fake_infisical().await;
    let key = fake::signed::TestKey::generate();
    let sa = "infisical-reader@project.iam.gserviceaccount.com";
    fake.gcp_iam_identity("gcp-iam-identity", sa, key.public());
    let root = std::env::temp_dir().join(format!("{}-gcp-keys", scene.ns));
    let dir = root.join("allowed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.json"), key.service_account_json(sa)).unwrap();
    std::fs::write(root.join("outside.json"), key.service_account_json(sa)).unwrap();
    let inside = dir.join("key.json").to_str().unwrap().to_string();
    let outside = root.join("outside.json").to_str().unwrap().to_string();
    let json = key.service_account_json(sa);
    let data = [("identityId", "gcp-iam-identity"), ("keyJson", json.as_str()), ("inside", inside.as_str()), ("outside", outside.as_str())];
    scene.plain_secret("infisical-gcp", &data).await;
    scene.store("infisical-gcp-json", gcp_iam_store(&fake, "infisical-gcp", "keyJson")).await;
    scene.store("infisical-gcp-file", gcp_iam_store(&fake, "infisical-gcp", "inside")).await;
    scene.store("infisical-gcp-outside", gcp_iam_store(&fake, "infisical-gcp", "outside")).await;
    let vars = [("SESAME_GCP_OAUTH2_ENDPOINT", fake.url.as_str()), ("SESAME_GCP_IAMCREDENTIALS_ENDPOINT", fake.url.as_str())];
    let sesame = scene.sesame_with(&["--infisical-gcp-key-dir", dir.to_str().unwrap()], &vars);
    wait_store(&scene, &sesame, "infisical-gcp-json", "True", "Valid", "store validated").await;
    wait_store(&scene, &sesame, "infisical-gcp-file", "True", "Valid", "store validated").await;
    wait_store(&scene, &sesame, "infisical-gcp-outside", "False", "InvalidProviderConfig", "is not under the directory").await;
    for (name, store) in [("from-json", "infisical-gcp-json"), ("from-file", "infisical-gcp-file")] {
        let es = json!({"secretStoreRef": {"name": store}, "data": [{"secretKey": "pw", "remoteRef": {"key": "DB_PASSWORD"}}]});
        scene.external_secret(name, es).await;
        wait_secret_data(&scene, &sesame, name, &map(&[("pw", "inf-pw-1")])).await;
    }
    let login = fake.lock().login_bodies.iter().rev().find(|b| b["identityId"] == "gcp-iam-identity").cloned().unwrap();
    let claims = fake::cloud::claims(login["jwt"].as_str().unwrap()).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["aud"].as_str()), (Some(sa), Some("gcp-iam-identity")), "signed by IAM for the identity");
    let key_line = key.pkcs8_pem.lines().nth(1).unwrap().to_string();
    assert_not_logged(&sesame, &[key_line.as_str(), "inf-pw-1", "ya29.fake-1"]);
    let _ = std::fs::remove_dir_all(root);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn infisical_oci_auth_signs_the_user_request_with_the_tenants_encrypted_key() {
    let scene = Scene::new("e2e-infisical-oci").await;
    let fake = fake_infisical().await;
    let key = fake::signed::TestKey::generate();
    let (tenancy, user) = ("ocid1.tenancy.oc1..aaaae2e", "ocid1.user.oc1..aaaae2e");
    fake.oci_identity("oci-identity", tenancy, user, key.public());
    let pem = key.encrypted_pem("oci-passphrase-e2e");
    let data = [
        ("identityId", "oci-identity"),
        ("privateKey", pem.as_str()),
        ("passphrase", "oci-passphrase-e2e"),
        ("fingerprint", "12:34:56:78:9a:bc:de:f0"),
        ("userId", user),
        ("tenancyId", tenancy),
        ("region", "eu-frankfurt-1"),
    ];
    scene.plain_secret("infisical-oci", &data).await;
    let sel = |key: &str| json!({"name": "infisical-oci", "key": key});
    let store = json!({"infisical": {
        "auth": {"ociAuthCredentials": {
            "identityId": sel("identityId"), "privateKey": sel("privateKey"), "privateKeyPassphrase": sel("passphrase"),
            "fingerprint": sel("fingerprint"), "userId": sel("userId"), "tenancyId": sel("tenancyId"), "region": sel("region"),
        }},
        "secretsScope": {"projectSlug": "first-project", "environmentSlug": "dev"},
        "hostAPI": fake.url,
    }});
    scene.store("infisical-oci", store).await;
    let sesame = scene.sesame();
    wait_store(&scene, &sesame, "infisical-oci", "True", "Valid", "store validated").await;
    let es = json!({"secretStoreRef": {"name": "infisical-oci"}, "data": [{"secretKey": "pw", "remoteRef": {"key": "DB_PASSWORD"}}]});
    scene.external_secret("web", es).await;
    wait_secret_data(&scene, &sesame, "web", &map(&[("pw", "inf-pw-1")])).await;
    let login = fake.lock().login_bodies.iter().rev().find(|b| b["identityId"] == "oci-identity").cloned().unwrap();
    assert_eq!(login["userOcid"], user);
    assert_eq!(login["headers"]["host"], "identity.eu-frankfurt-1.oraclecloud.com");
    let pem_line = pem.lines().nth(1).unwrap().to_string();
    assert_not_logged(&sesame, &[pem_line.as_str(), "oci-passphrase-e2e", "inf-pw-1"]);
    scene.delete_namespace().await;
}
