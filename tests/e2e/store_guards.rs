//! What a store author may not do: point a store's credentials at another host through a field
//! that reaches a URL, or borrow the controller's own cloud identity from a namespaced
//! SecretStore. And the audiences a ServiceAccount token is minted for.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sesame::api::{ClusterSecretStore, SecretStore};
use sesame::fetch::{KubeCredentials, Tenancy};
use sesame_provider_core::{CredentialSource, ServiceAccountSelector};

use crate::harness::*;

/// The SecretStore's Ready condition: (status, reason, message).
async fn store_ready(scene: &Scene, name: &str) -> Option<(String, String, String)> {
    let store: SecretStore = scene.stores().get(name).await.ok()?;
    let c = store.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
}

/// Wait until the SecretStore is Ready=`status` with `reason` and a message containing `names`.
async fn wait_store(scene: &Scene, sesame: &Sesame, name: &str, status: &str, reason: &str, names: &str) -> String {
    let ok = eventually(Duration::from_secs(30), || async {
        store_ready(scene, name).await.is_some_and(|(s, r, m)| s == status && r == reason && m.contains(names))
    })
    .await;
    let got = store_ready(scene, name).await;
    assert!(ok, "store {name} never reached Ready={status}/{reason} naming {names:?}: {got:?}\n{}", tail(&sesame.logs()));
    got.unwrap().2
}

/// Server-side apply that may be refused; the apiserver's message when it is.
async fn try_apply(scene: &Scene, body: Value) -> Result<(), String> {
    let gvk = kube::api::GroupVersionKind::gvk("external-secrets.io", "v1", "SecretStore");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "secretstores");
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(scene.client.clone(), &scene.ns, &ar);
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&body)).await.map(|_| ()).map_err(|e| e.to_string())
}

fn store_json(scene: &Scene, name: &str, provider: Value) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name, "namespace": scene.ns},
        "spec": {"controller": scene.class, "provider": provider},
    })
}

#[tokio::test]
async fn hostile_url_fields_end_in_a_clear_not_ready_store_and_never_reach_another_host() {
    let scene = Scene::new("guard-url").await;
    // A listener standing in for the attacker's host: nothing may connect to it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    scene.plain_secret("creds", &[("token", "t"), ("id", "i"), ("secret", "s")]).await;
    let token = json!({"tokenSecretRef": {"name": "creds", "key": "token"}});
    let sp = json!({"clientId": {"name": "creds", "key": "id"}, "clientSecret": {"name": "creds", "key": "secret"}});
    let stores = [
        ("vault-server", json!({"vault": {"server": format!("http://evil@127.0.0.1:{port}"), "path": "secret", "auth": token}}), "server"),
        ("vault-path", json!({"vault": {"server": format!("http://127.0.0.1:{port}"), "path": "../../sys/raw", "auth": token}}), "path"),
        (
            "vault-login-mount",
            json!({"vault": {"server": format!("http://127.0.0.1:{port}"), "path": "secret",
                "auth": {"userPass": {"path": "userpass/../../sys#", "username": "u", "secretRef": {"name": "creds", "key": "token"}}}}}),
            "auth.userPass.path",
        ),
        (
            "azure-vault",
            json!({"azurekv": {"vaultUrl": format!("https://127.0.0.1:{port}#.vault.azure.net"), "tenantId": "t", "authSecretRef": sp}}),
            "vaultUrl",
        ),
        (
            "azure-authority",
            json!({"azurekv": {"vaultUrl": "https://v.vault.azure.net", "tenantId": "t", "authSecretRef": sp,
                "environmentType": "AzureStackCloud", "customCloudConfig": {"activeDirectoryEndpoint": format!("https://127.0.0.1:{port}/x?y")}}}),
            "activeDirectoryEndpoint",
        ),
    ];
    for (name, provider, _) in &stores {
        try_apply(&scene, store_json(&scene, name, provider.clone())).await.unwrap_or_else(|e| panic!("apply {name}: {e}"));
    }
    // Fields that are a host name label are refused by the CRD itself.
    for (name, provider, field) in [
        ("gcp-location", json!({"gcpsm": {"projectID": "p", "location": "evil.example/x#"}}), "location"),
        ("aws-region", json!({"aws": {"service": "SecretsManager", "region": "evil.example/x#"}}), "region"),
    ] {
        let refused = try_apply(&scene, store_json(&scene, name, provider)).await.expect_err("the apiserver accepted a hostile host label");
        assert!(refused.contains(field) && refused.contains("^[a-z0-9-]"), "{name}: {refused}");
    }
    let sesame = scene.sesame();
    for (name, _, field) in &stores {
        wait_store(&scene, &sesame, name, "False", "InvalidProviderConfig", field).await;
    }
    // Referent or not, a ClusterSecretStore is checked the same way before anything else.
    let css = format!("css-{}", scene.ns);
    let body = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": css},
        "spec": {"controller": scene.class, "provider": {"vault": {"server": format!("http://evil@127.0.0.1:{port}"), "auth": token}}},
    });
    apply(&scene.client, "", "clustersecretstores", &css, body).await;
    let api: Api<ClusterSecretStore> = Api::all(scene.client.clone());
    let refused = eventually(Duration::from_secs(30), || async {
        api.get(&css)
            .await
            .ok()
            .and_then(|s| s.status)
            .is_some_and(|s| s.conditions.iter().any(|c| c.status == "False" && c.reason.as_deref() == Some("InvalidProviderConfig")))
    })
    .await;
    assert!(refused, "the referent ClusterSecretStore with a hostile server was not refused\n{}", tail(&sesame.logs()));
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "a request went to the host a hostile field named");
    let _ = api.delete(&css, &Default::default()).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn secretstores_may_not_borrow_the_controllers_identity_unless_the_flag_allows_it() {
    let scene = Scene::new("guard-identity").await;
    let env = sesame_testsupport::env();
    let aws = json!({"aws": {"service": "SecretsManager", "region": env.aws_region}});
    scene.store("aws-own", aws.clone()).await;
    scene.store("gcp-adc", json!({"gcpsm": {"projectID": "p"}})).await;
    scene.store("azure-mi", json!({"azurekv": {"vaultUrl": "https://v.vault.azure.net", "authType": "ManagedIdentity"}})).await;
    scene.store("azure-own-wi", json!({"azurekv": {"vaultUrl": "https://v.vault.azure.net", "authType": "WorkloadIdentity"}})).await;
    let css = format!("css-{}", scene.ns);
    let body = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": css},
        "spec": {"controller": scene.class, "provider": aws},
    });
    apply(&scene.client, "", "clustersecretstores", &css, body).await;
    // The controller's own AWS identity: the SDK default chain finds these variables (moto).
    let vars = [
        ("AWS_ENDPOINT_URL", env.aws_endpoint.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ACCESS_KEY_ID", sesame_testsupport::AWS_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", sesame_testsupport::AWS_SECRET_ACCESS_KEY),
    ];
    let mut sesame = Sesame::start_with_env(&scene.ns, &["--controller-class", &scene.class], &vars);
    for name in ["aws-own", "gcp-adc", "azure-mi", "azure-own-wi"] {
        wait_store(&scene, &sesame, name, "False", "InvalidProviderConfig", "may not authenticate as the controller").await;
    }
    let api: Api<ClusterSecretStore> = Api::all(scene.client.clone());
    let cluster_valid = eventually(Duration::from_secs(30), || async {
        api.get(&css)
            .await
            .ok()
            .and_then(|s| s.status)
            .is_some_and(|s| s.conditions.iter().any(|c| c.status == "True" && c.reason.as_deref() == Some("Valid")))
    })
    .await;
    assert!(cluster_valid, "a ClusterSecretStore may still use the controller's identity\n{}", tail(&sesame.logs()));
    sesame.terminate();

    // An operator who trusts every namespace may allow it.
    let sesame =
        Sesame::start_with_env(&scene.ns, &["--controller-class", &scene.class, "--refuse-secretstore-controller-identity=false"], &vars);
    wait_store(&scene, &sesame, "aws-own", "True", "Valid", "store validated").await;
    let _ = api.delete(&css, &Default::default()).await;
    scene.delete_namespace().await;
}

/// The `aud` claim of a JWT, as a list.
fn audiences_of(jwt: &str) -> Vec<String> {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    match &claims["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn a_token_request_carries_the_providers_audience_with_service_account_audiences_appended() {
    let scene = Scene::new("guard-aud").await;
    let sa = ServiceAccount { metadata: ObjectMeta { name: Some("reader".into()), ..Default::default() }, ..Default::default() };
    Api::<ServiceAccount>::namespaced(scene.client.clone(), &scene.ns).create(&PostParams::default(), &sa).await.unwrap();
    let credentials = KubeCredentials::new(scene.client.clone(), Tenancy::Namespaced(scene.ns.clone()));
    let selector = ServiceAccountSelector { name: "reader".into(), namespace: None, audiences: vec!["extra".into()] };
    // What the AWS provider asks for: its default audience, then serviceAccountRef.audiences.
    let provider_list = vec![sesame_provider_aws::DEFAULT_AUDIENCE.to_string(), "extra".to_string()];
    let token = credentials.service_account_token(&selector, &provider_list, Some(600)).await.expect("a token from the apiserver");
    assert_eq!(audiences_of(&token), provider_list, "the minted token's aud claim");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn store_reasons_and_columns_are_esos() {
    let scene = Scene::new("guard-reasons").await;
    let mut unknown = fake_store_json("unknown", Some(&scene.ns), &scene.class, &[("/k", "v")], "SecretStore");
    unknown["spec"]["provider"]["fake"]["validationResult"] = 1.into();
    apply(&scene.client, &scene.ns, "secretstores", "unknown", unknown).await;
    let mut failing = fake_store_json("failing", Some(&scene.ns), &scene.class, &[("/k", "v")], "SecretStore");
    failing["spec"]["provider"]["fake"]["validationResult"] = 2.into();
    apply(&scene.client, &scene.ns, "secretstores", "failing", failing).await;
    let sesame = scene.sesame();
    // Undecidable: Ready all the same, with ESO's reason; usable at once.
    wait_store(&scene, &sesame, "unknown", "True", "ValidationUnknown", "could not determine validation status").await;
    wait_store(&scene, &sesame, "failing", "False", "InvalidProviderConfig", "unable to validate store").await;
    let store = scene.stores().get("unknown").await.unwrap();
    assert_eq!(store.status.unwrap().observed_generation, store.metadata.generation, "the verdict names its generation");
    scene
        .external_secret("es", json!({"secretStoreRef": {"name": "unknown"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}))
        .await;
    wait_secret_data(&scene, &sesame, "es", &map(&[("k", "v")])).await;
    // `kubectl get secretstores` shows ESO's columns.
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    for crd in ["secretstores.external-secrets.io", "clustersecretstores.external-secrets.io"] {
        let crd = Api::<CustomResourceDefinition>::all(scene.client.clone()).get(crd).await.unwrap();
        let columns: Vec<String> = crd.spec.versions[0].additional_printer_columns.iter().flatten().map(|c| c.name.clone()).collect();
        assert_eq!(columns, ["AGE", "Status", "Capabilities", "Ready"], "{}", crd.metadata.name.unwrap());
    }
    scene.delete_namespace().await;
}
