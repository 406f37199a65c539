//! Every way a store authenticates, observed on the wire: which key signed which request.
use std::time::Duration;

use base64::Engine;
use sesame_provider_aws::AwsServiceType::{ParameterStore, SecretsManager};
use sesame_provider_aws::{AwsAuth, AwsJwtAuth, ClientOptions, ROLE_ARN_ANNOTATION, SessionOrigin, SessionTagsPolicy, Tag};
use sesame_provider_core::{ProviderContext, RemoteKey, SecretKeySelector, ServiceAccountSelector};

use crate::support::*;

async fn secret(value: &str) -> String {
    let name = unique("auth");
    sm_admin().await.create_secret().name(&name).secret_string(value).send().await.unwrap();
    name
}

/// The `<AccessKeyId>` an STS response handed out.
fn issued_key(sts_response: &str) -> String {
    let start = sts_response.find("<AccessKeyId>").expect("STS issued credentials") + "<AccessKeyId>".len();
    sts_response[start..].split('<').next().unwrap().to_string()
}

fn jwt_auth(account: &str, audiences: &[&str]) -> AwsJwtAuth {
    AwsJwtAuth {
        service_account_ref: ServiceAccountSelector {
            name: account.into(),
            namespace: None,
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
        },
    }
}

#[tokio::test]
async fn static_keys_from_the_store_secret_sign_every_request() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("static").await;
    let mut spec = store(SecretsManager);
    let token = SecretKeySelector { name: "aws-creds".into(), key: Some("token".into()), namespace: None };
    spec.auth.secret_ref.as_mut().unwrap().session_token = Some(token);
    let creds = TestCredentials::keys().with_secret("aws-creds", "token", "a-session-token");
    let (client, _) = build(&spec, creds, at(&proxy.url)).await;

    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "static");
    let get = &proxy.of("GetSecretValue")[0];
    assert_eq!(get.access_key.as_deref(), Some(ACCESS_KEY));
    assert!(get.session_token);
}

#[tokio::test]
async fn rotated_keys_in_the_secret_are_picked_up_without_rebuilding_the_client() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("rotating").await;
    let creds = TestCredentials::keys();
    let secrets = creds.secrets.clone();
    let options = ClientOptions { secret_ref_refresh: Duration::from_millis(200), ..at(&proxy.url) };
    let (client, _) = build(&store(SecretsManager), creds, options).await;

    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "rotating");
    secrets.lock().unwrap().insert(("aws-creds".into(), "id".into()), "AKIAROTATEDKEY000002".into());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "rotating");

    let keys: Vec<_> = proxy.of("GetSecretValue").into_iter().map(|e| e.access_key.unwrap()).collect();
    assert_eq!(keys, vec![ACCESS_KEY, "AKIAROTATEDKEY000002"]);
}

#[tokio::test]
async fn a_store_whose_key_secret_is_missing_fails_to_build_with_an_auth_error() {
    let creds = TestCredentials::default().with_secret("aws-creds", "id", ACCESS_KEY);
    let ctx = ProviderContext { credentials: std::sync::Arc::new(creds), calls: std::sync::Arc::new(Calls::default()) };

    let err = sesame_provider_aws::build_with(&store(SecretsManager), ctx, at(&moto())).await.err().expect("no client");
    assert_eq!(err.kind(), "auth");
    assert!(err.to_string().contains("secretAccessKeySecretRef"), "{err}");
}

#[tokio::test]
async fn additional_roles_then_role_are_assumed_in_a_chain_and_cached() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("chained").await;
    let hop = "arn:aws:iam::123456789012:role/sesame-hop";
    let target = "arn:aws:iam::123456789012:role/sesame-reader";
    let mut spec = store(SecretsManager);
    spec.additional_roles = vec![hop.into()];
    spec.role = Some(target.into());
    spec.external_id = Some("ext-42".into());
    spec.session_tags = vec![Tag { key: "team".into(), value: "payments".into() }];
    spec.transitive_tag_keys = vec!["team".into()];
    let (client, calls) = build(&spec, TestCredentials::keys(), at(&proxy.url)).await;

    for _ in 0..2 {
        assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "chained");
    }
    let assumed = proxy.of("AssumeRole");
    assert_eq!(assumed.len(), 2, "each role once: the assumed credentials are cached");
    let (first, second) = (&assumed[0], &assumed[1]);
    assert!(first.request.contains(&format!("RoleArn={hop}")) && !first.request.contains("ExternalId"), "{}", first.request);
    assert_eq!(first.access_key.as_deref(), Some(ACCESS_KEY), "the first hop uses the static keys");
    assert!(second.request.contains(&format!("RoleArn={target}")), "{}", second.request);
    for field in [
        "ExternalId=ext-42",
        "Tags.member.1.Key=team",
        "Tags.member.1.Value=payments",
        "TransitiveTagKeys.member.1=team",
        "RoleSessionName=sesame-provider-aws",
    ] {
        assert!(second.request.contains(field), "AssumeRole lacks {field}: {}", second.request);
    }
    assert_eq!(second.access_key, Some(issued_key(&first.response)), "the role is assumed with the hop's credentials");
    for get in proxy.of("GetSecretValue") {
        assert_eq!(get.access_key, Some(issued_key(&second.response)), "reads use the role's credentials");
        assert!(get.session_token);
    }
    assert_eq!(calls.all().iter().filter(|c| *c == &("AWS/STS", "AssumeRole", "ok")).count(), 2);
}

#[tokio::test]
async fn session_tags_policy_custom_tags_the_assume_role_with_namespace_store_and_custom_tags() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("tagged").await;
    let role = "arn:aws:iam::123456789012:role/team-b";
    let mut spec = store(SecretsManager);
    spec.role = Some(role.into());
    spec.session_tags_policy = Some(SessionTagsPolicy::Custom);
    spec.custom_session_tags = [("env".to_string(), "production".to_string()), ("skipped".into(), String::new())].into();
    spec.session_tags = vec![Tag { key: "team".into(), value: "payments".into() }]; // replaced by the policy, as ESO
    spec.transitive_tag_keys = vec!["esoNamespace".into()];
    let origin = SessionOrigin { namespace: "team-b".into(), store_name: "team-b-store".into(), store_kind: "SecretStore".into() };
    let (client, _) = build(&spec, TestCredentials::keys(), ClientOptions { session_origin: origin, ..at(&proxy.url) }).await;

    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "tagged");
    let assumed = proxy.of("AssumeRole");
    assert_eq!(assumed.len(), 1);
    let request = &assumed[0].request;
    let tags = crate::proxy::sent_tags(request);
    let want: Vec<(String, String)> =
        [("env", "production"), ("esoNamespace", "team-b"), ("esoStoreKind", "SecretStore"), ("esoStoreName", "team-b-store")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(tags, want, "{request}");
    assert!(request.contains(&format!("RoleArn={role}")) && request.contains("TransitiveTagKeys.member.1=esoNamespace"), "{request}");
}

#[tokio::test]
async fn session_tags_policy_simple_on_a_cluster_store_validated_alone_tags_an_empty_namespace() {
    let proxy = Proxy::start(&moto()).await;
    let mut spec = store(SecretsManager);
    spec.role = Some("arn:aws:iam::123456789012:role/shared".into());
    spec.session_tags_policy = Some(SessionTagsPolicy::Simple);
    let origin = SessionOrigin { namespace: String::new(), store_name: "shared".into(), store_kind: "ClusterSecretStore".into() };
    let (client, _) = build(&spec, TestCredentials::keys(), ClientOptions { session_origin: origin, ..at(&proxy.url) }).await;

    client.validate().await.expect("moto accepts the tagged AssumeRole");
    let tags = crate::proxy::sent_tags(&proxy.of("AssumeRole")[0].request);
    let want = [("esoNamespace", ""), ("esoStoreKind", "ClusterSecretStore"), ("esoStoreName", "shared")];
    assert_eq!(tags, want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_refused_assume_role_is_an_auth_error_naming_the_role() {
    let proxy = Proxy::start(&moto()).await;
    proxy.inject(Fault { op: "AssumeRole", status: 403, code: "AccessDenied", times: None });
    let mut spec = store(SecretsManager);
    spec.role = Some("arn:aws:iam::123456789012:role/not-for-you".into());
    let (client, calls) = build(&spec, TestCredentials::keys(), at(&proxy.url)).await;

    let err = client.get_secret(&RemoteKey::new("anything")).await.unwrap_err();
    assert_eq!(err.kind(), "auth", "{err}");
    let message = err.to_string();
    assert!(message.contains("AssumeRole") && message.contains("role/not-for-you") && message.contains("AccessDenied"), "{message}");
    assert_eq!(proxy.count("GetSecretValue"), 0, "nothing is read without credentials");
    assert!(calls.all().contains(&("AWS/STS", "AssumeRole", "auth")));
}

#[tokio::test]
async fn web_identity_exchanges_a_service_account_token_for_the_annotated_role() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("web identity").await;
    let role = "arn:aws:iam::123456789012:role/sesame-irsa";
    let mut spec = store(SecretsManager); // secretRef stays set: jwt wins, as in ESO
    spec.auth.jwt = Some(jwt_auth("reader", &["extra-audience"]));
    let creds = TestCredentials::keys().with_annotations("reader", &[(ROLE_ARN_ANNOTATION, role)]);
    let audiences = creds.audiences.clone();
    let (client, _) = build(&spec, creds, at(&proxy.url)).await;

    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "web identity");
    assert_eq!(*audiences.lock().unwrap(), vec![vec!["sts.amazonaws.com".to_string(), "extra-audience".to_string()]]);
    let exchange = &proxy.of("AssumeRoleWithWebIdentity")[0];
    assert!(exchange.request.contains(&format!("RoleArn={role}")), "{}", exchange.request);
    assert!(exchange.request.contains("WebIdentityToken=test-token-for-reader"), "{}", exchange.request);
    assert_eq!(exchange.access_key, None, "AssumeRoleWithWebIdentity is not signed");
    assert_eq!(proxy.of("GetSecretValue")[0].access_key, Some(issued_key(&exchange.response)));
}

#[tokio::test]
async fn web_identity_needs_the_role_annotation_on_the_service_account() {
    let mut spec = store(SecretsManager);
    spec.auth = AwsAuth { secret_ref: None, jwt: Some(jwt_auth("plain", &[])) };
    let creds = TestCredentials::default().with_annotations("plain", &[]);
    let ctx = ProviderContext { credentials: std::sync::Arc::new(creds), calls: std::sync::Arc::new(Calls::default()) };

    let err = sesame_provider_aws::build_with(&spec, ctx, at(&moto())).await.err().expect("no client");
    assert_eq!(err.kind(), "auth");
    assert!(err.to_string().contains(ROLE_ARN_ANNOTATION), "{err}");
}

#[tokio::test]
async fn web_identity_with_a_token_minted_by_the_real_apiserver() {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    let kube = sesame_testsupport::kube_client().await;
    let ns = unique("aws-wi");
    let role = "arn:aws:iam::123456789012:role/sesame-irsa-real";
    let meta = |name: &str, annotations: Option<_>| kube::api::ObjectMeta { name: Some(name.into()), annotations, ..Default::default() };
    let namespaces: kube::Api<Namespace> = kube::Api::all(kube.clone());
    namespaces.create(&Default::default(), &Namespace { metadata: meta(&ns, None), ..Default::default() }).await.unwrap();
    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(kube.clone(), &ns);
    let annotations = [(ROLE_ARN_ANNOTATION.to_string(), role.to_string())].into();
    accounts
        .create(&Default::default(), &ServiceAccount { metadata: meta("reader", Some(annotations)), ..Default::default() })
        .await
        .unwrap();

    let proxy = Proxy::start(&moto()).await;
    let name = secret("minted").await;
    let mut spec = store(SecretsManager);
    spec.auth = AwsAuth { secret_ref: None, jwt: Some(jwt_auth("reader", &[])) };
    let creds = TestCredentials { kube: Some((kube.clone(), ns.clone())), ..Default::default() };
    let (client, _) = build(&spec, creds, at(&proxy.url)).await;
    let read = client.get_secret(&RemoteKey::new(&name)).await;
    let _ = namespaces.delete(&ns, &Default::default()).await;

    assert_eq!(text(read.unwrap()), "minted");
    let exchange = &proxy.of("AssumeRoleWithWebIdentity")[0];
    let token = exchange.request.split('&').find_map(|kv| kv.strip_prefix("WebIdentityToken=")).expect("a token");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["sub"], format!("system:serviceaccount:{ns}:reader"));
    assert!(claims["aud"].as_array().unwrap().contains(&"sts.amazonaws.com".into()), "{claims}");
}

#[tokio::test]
async fn validate_proves_the_credentials_with_get_caller_identity() {
    let proxy = Proxy::start(&moto()).await;
    let (client, calls) = build(&store(ParameterStore), TestCredentials::keys(), at(&proxy.url)).await;

    client.validate().await.unwrap();
    assert_eq!(calls.all(), vec![("AWS/STS", "GetCallerIdentity", "ok")]);

    proxy.inject(Fault { op: "GetCallerIdentity", status: 403, code: "InvalidClientTokenId", times: None });
    let err = client.validate().await.unwrap_err();
    assert_eq!(err.kind(), "auth", "{err}");
    assert!(err.to_string().contains("InvalidClientTokenId"), "{err}");
}

#[tokio::test]
async fn the_default_chain_and_aws_endpoint_url_variables_are_honoured() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("from the environment").await;
    let param = unique("/auth-env");
    ssm_admin()
        .await
        .put_parameter()
        .name(&param)
        .value("param from the environment")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();

    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "auth::child_reads_through_the_environment", "--nocapture"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: the service variables must win
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &proxy.url)
        .env("AWS_ENDPOINT_URL_SSM", &proxy.url)
        .env("AWS_ENDPOINT_URL_STS", &proxy.url)
        .env("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENVIRONMT")
        .env("AWS_SECRET_ACCESS_KEY", "from-the-environment")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env("SESAME_AWS_CHILD_SECRET", &name)
        .env("SESAME_AWS_CHILD_PARAMETER", &param)
        .output()
        .await
        .unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && output.contains("1 passed"), "child test failed:\n{output}");
    for op in ["GetCallerIdentity", "GetSecretValue", "GetParameter"] {
        let seen = proxy.of(op);
        assert_eq!(seen.len(), 1, "{op} went through AWS_ENDPOINT_URL_*");
        assert_eq!(seen[0].access_key.as_deref(), Some("AKIAFROMTHEENVIRONMT"), "{op} signed by the default chain");
    }
}

#[tokio::test]
#[ignore = "run by the_default_chain_and_aws_endpoint_url_variables_are_honoured, in a child process with AWS_* set"]
async fn child_reads_through_the_environment() {
    let name = std::env::var("SESAME_AWS_CHILD_SECRET").expect("run by its parent test");
    let param = std::env::var("SESAME_AWS_CHILD_PARAMETER").expect("run by its parent test");
    let mut spec = store(SecretsManager);
    spec.auth = AwsAuth::default();
    let (client, _) = build(&spec, TestCredentials::default(), ClientOptions::default()).await;
    client.validate().await.unwrap();
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "from the environment");
    spec.service = ParameterStore;
    let (client, _) = build(&spec, TestCredentials::default(), ClientOptions::default()).await;
    assert_eq!(text(client.get_secret(&RemoteKey::new(&param)).await.unwrap()), "param from the environment");
}
