//! Proves each server of `tests/env/testenv up` is the real thing and usable from Rust.
//! Every name is unique, so these run in parallel, beside other suites, and on rerun.
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use sesame_testsupport::{env, eventually, kube_client, unique_name};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn kube_apiserver_is_v1_20_2() {
    let info = kube_client().await.apiserver_version().await.expect("GET /version");
    assert_eq!(info.git_version, "v1.20.2", "{info:?}");
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "20"));
}

#[tokio::test]
async fn crd_becomes_established() {
    let client = kube_client().await;
    let plural = unique_name("smokes").replace('-', "");
    let group = "smoke.sesame.test";
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "names": { "kind": "Smoke", "plural": plural, "singular": format!("{plural}x"), "listKind": "SmokeList" },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } }
            }]
        }
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let name = crd.metadata.name.clone().unwrap();
    crds.create(&PostParams::default(), &crd).await.expect("create CRD");
    tokio::time::timeout(WAIT, await_condition(crds.clone(), &name, conditions::is_crd_established()))
        .await
        .expect("CRD Established in time")
        .expect("watch CRD");
    crds.delete(&name, &DeleteParams::default()).await.expect("delete CRD");
}

#[tokio::test]
async fn secret_watch_sees_the_secret() {
    let client = kube_client().await;
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    let name = unique_name("smoke-secret");
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(secrets.clone(), cfg).applied_objects().boxed();

    let secret = Secret {
        metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
        string_data: Some(BTreeMap::from([("password".to_string(), "hunter2".to_string())])),
        ..Default::default()
    };
    // The watch is lazy: poll it once concurrently with the create so the event is not missed.
    let create = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        secrets.create(&PostParams::default(), &secret).await.expect("create Secret")
    };
    let watch = async { tokio::time::timeout(WAIT, stream.try_next()).await.expect("watch event in time").expect("watch") };
    let (created, seen) = tokio::join!(create, watch);
    let seen = seen.expect("stream ended");
    assert_eq!(seen.metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(seen.metadata.uid, created.metadata.uid);
    let value = seen.data.unwrap()["password"].0.clone();
    assert_eq!(value, b"hunter2");
    secrets.delete(&name, &DeleteParams::default()).await.expect("delete Secret");
}

#[tokio::test]
async fn owned_object_is_garbage_collected() {
    let client = kube_client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let owner_name = unique_name("smoke-owner");
    let owner = cms
        .create(
            &PostParams::default(),
            &ConfigMap { metadata: ObjectMeta { name: Some(owner_name.clone()), ..Default::default() }, ..Default::default() },
        )
        .await
        .expect("create owner");
    let dependent_name = unique_name("smoke-dependent");
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            name: Some(dependent_name.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: owner_name.clone(),
                uid: owner.metadata.uid.clone().unwrap(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    };
    cms.create(&PostParams::default(), &dependent).await.expect("create dependent");
    cms.delete(&owner_name, &DeleteParams::background()).await.expect("delete owner");
    eventually("the garbage collector to delete the dependent ConfigMap", WAIT, || async {
        cms.get_opt(&dependent_name).await.expect("get dependent").is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn namespace_deletion_completes() {
    let client = kube_client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let name = unique_name("smoke-ns");
    namespaces
        .create(
            &PostParams::default(),
            &Namespace { metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() }, ..Default::default() },
        )
        .await
        .expect("create namespace");
    // The serviceaccount controller gives every namespace its `default` ServiceAccount.
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &name);
    eventually("the default ServiceAccount", WAIT, || async { sas.get_opt("default").await.expect("get SA") }).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, &name);
    cms.create(
        &PostParams::default(),
        &ConfigMap { metadata: ObjectMeta { name: Some("inside".into()), ..Default::default() }, ..Default::default() },
    )
    .await
    .expect("create ConfigMap in namespace");
    namespaces.delete(&name, &DeleteParams::default()).await.expect("delete namespace");
    eventually("the namespace controller to finish deleting the namespace", WAIT, || async {
        namespaces.get_opt(&name).await.expect("get namespace").is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn openbao_kv2_write_and_read() {
    use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
    let env = env();
    let client =
        VaultClient::new(VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap()).unwrap();
    let path = unique_name("smoke/secret");
    let data = BTreeMap::from([("user".to_string(), "admin".to_string()), ("pass".to_string(), "s3cr3t".to_string())]);
    vaultrs::kv2::set(&client, "secret", &path, &data).await.expect("kv2 write");
    let read: BTreeMap<String, String> = vaultrs::kv2::read(&client, "secret", &path).await.expect("kv2 read");
    assert_eq!(read, data);
    let meta = vaultrs::kv2::read_metadata(&client, "secret", &path).await.expect("kv2 metadata");
    assert_eq!(meta.current_version, 1);
    // Note: vaultrs::sys::status/health cannot parse OpenBao's /v1/sys/health (no
    // `performance_standby` field), so a provider must not rely on them.
}

#[tokio::test]
async fn moto_secrets_manager_create_and_read() {
    use aws_sdk_secretsmanager::config::{Credentials, Region};
    let env = env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&env.aws_endpoint)
        .region(Region::new(env.aws_region.clone()))
        .credentials_provider(Credentials::new(
            sesame_testsupport::AWS_ACCESS_KEY_ID,
            sesame_testsupport::AWS_SECRET_ACCESS_KEY,
            None,
            None,
            "sesame-testenv",
        ))
        .load()
        .await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique_name("smoke/db");
    sm.create_secret().name(&name).secret_string(r#"{"password":"p4ss"}"#).send().await.expect("CreateSecret");
    let got = sm.get_secret_value().secret_id(&name).send().await.expect("GetSecretValue");
    assert_eq!(got.secret_string(), Some(r#"{"password":"p4ss"}"#));
    assert_eq!(got.name(), Some(name.as_str()));
}

fn run(bin: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} {args:?} failed: {text}", bin.display());
    println!("{} {}: {}", bin.display(), args.join(" "), text.trim());
    text
}

#[test]
fn helm_4_and_kubectl_1_35_run() {
    let env = env();
    let helm = run(&env.helm, &["version", "--short"]);
    assert!(helm.trim_start().starts_with("v4."), "helm version: {helm}");
    let kubectl = run(&env.kubectl, &["version", "--client"]);
    assert!(kubectl.contains("v1.35."), "kubectl version: {kubectl}");
    // kubectl really talks to the apiserver, with the kubeconfig from env.json.
    let server = run(&env.kubectl, &["--kubeconfig", env.kubeconfig.to_str().unwrap(), "get", "--raw", "/version"]);
    assert!(server.contains("\"gitVersion\": \"v1.20.2\""), "{server}");
}

#[test]
fn promtool_checks_metrics() {
    let env = env();
    let mut child = Command::new(&env.promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"# HELP smoke_total A smoke counter.\n# TYPE smoke_total counter\nsmoke_total 1\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// What the Vault provider's kubernetes auth needs: a TokenRequest-minted ServiceAccount token
/// that the apiserver's TokenReview accepts, and that OpenBao's kubernetes auth verifies by
/// TokenReview against this apiserver (the SA reviews itself through `system:auth-delegator`).
#[tokio::test]
async fn service_account_token_logs_in_to_openbao() {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
    use vaultrs::api::auth::kubernetes::requests::{ConfigureKubernetesAuthRequest, CreateKubernetesRoleRequest};
    use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

    let env = env();
    let client = kube_client().await;
    let sa_name = unique_name("smoke-sa");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    sas.create(
        &PostParams::default(),
        &ServiceAccount { metadata: ObjectMeta { name: Some(sa_name.clone()), ..Default::default() }, ..Default::default() },
    )
    .await
    .expect("create ServiceAccount");
    let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
    crbs.create(
        &PostParams::default(),
        &ClusterRoleBinding {
            metadata: ObjectMeta { name: Some(sa_name.clone()), ..Default::default() },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "system:auth-delegator".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: sa_name.clone(),
                namespace: Some("default".into()),
                ..Default::default()
            }]),
        },
    )
    .await
    .expect("create ClusterRoleBinding");

    let token = sas
        .create_token_request(
            &sa_name,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec { audiences: vec![env.kube_sa_issuer.clone()], expiration_seconds: Some(600), ..Default::default() },
                ..Default::default()
            },
        )
        .await
        .expect("TokenRequest")
        .status
        .expect("TokenRequest status")
        .token;

    let reviews: Api<TokenReview> = Api::all(client.clone());
    let review = reviews
        .create(
            &PostParams::default(),
            &TokenReview { spec: TokenReviewSpec { token: Some(token.clone()), ..Default::default() }, ..Default::default() },
        )
        .await
        .expect("TokenReview")
        .status
        .expect("TokenReview status");
    assert_eq!(review.authenticated, Some(true), "{review:?}");
    assert_eq!(review.user.and_then(|u| u.username), Some(format!("system:serviceaccount:default:{sa_name}")));

    let bao =
        VaultClient::new(VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap()).unwrap();
    let mount = unique_name("k8s");
    vaultrs::sys::auth::enable(&bao, &mount, "kubernetes", None).await.expect("enable kubernetes auth");
    let ca = std::fs::read_to_string(&env.kube_ca).expect("read kube CA");
    vaultrs::auth::kubernetes::configure(
        &bao,
        &mount,
        &env.kube_server,
        Some(ConfigureKubernetesAuthRequest::builder().kubernetes_ca_cert(ca).disable_local_ca_jwt(true)),
    )
    .await
    .expect("configure kubernetes auth");
    vaultrs::auth::kubernetes::role::create(
        &bao,
        &mount,
        "smoke",
        Some(
            CreateKubernetesRoleRequest::builder()
                .bound_service_account_names(vec![sa_name.clone()])
                .bound_service_account_namespaces(vec!["default".to_string()])
                .audience(env.kube_sa_issuer.clone())
                .token_policies(vec!["default".to_string()]),
        ),
    )
    .await
    .expect("create kubernetes auth role");
    // RBAC caches need a moment to see the new binding.
    let auth = eventually("OpenBao kubernetes login with the ServiceAccount token", WAIT, || async {
        vaultrs::auth::kubernetes::login(&bao, &mount, "smoke", &token).await.ok()
    })
    .await;
    assert!(!auth.client_token.is_empty());
    assert_eq!(auth.metadata.unwrap_or_default().get("service_account_name"), Some(&sa_name));

    crbs.delete(&sa_name, &DeleteParams::default()).await.expect("delete ClusterRoleBinding");
    sas.delete(&sa_name, &DeleteParams::default()).await.expect("delete ServiceAccount");
}
