//! Refusals, throttling and outages, injected by the proxy in front of moto.
use std::time::Duration;

use sesame_provider_aws::AwsServiceType::{ParameterStore, SecretsManager};
use sesame_provider_aws::ClientOptions;
use sesame_provider_core::RemoteKey;

use crate::support::*;

async fn secret(value: &str) -> String {
    let name = unique("faults");
    sm_admin().await.create_secret().name(&name).secret_string(value).send().await.unwrap();
    name
}

/// Fast retries so the tests that exhaust them stay short.
fn quick(url: &str) -> ClientOptions {
    ClientOptions { retry_interval: Some(Duration::from_millis(20)), ..at(url) }
}

#[tokio::test]
async fn access_denied_is_an_auth_error_naming_code_and_key_and_is_not_retried() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("never shown").await;
    proxy.inject(Fault { op: "GetSecretValue", status: 400, code: "AccessDeniedException", times: None });
    let (client, calls) = build(&store(SecretsManager), TestCredentials::keys(), quick(&proxy.url)).await;

    let err = client.get_secret(&RemoteKey::new(&name)).await.unwrap_err();
    assert_eq!(err.kind(), "auth", "{err}");
    let message = err.to_string();
    assert!(message.contains("AccessDeniedException") && message.contains(&name), "{message}");
    assert!(!message.contains("never shown"));
    assert_eq!(proxy.count("GetSecretValue"), 1);
    assert_eq!(calls.all(), vec![("AWS/SecretsManager", "GetSecretValue", "auth")]);
}

#[tokio::test]
async fn rejected_credentials_are_an_auth_error() {
    let proxy = Proxy::start(&moto()).await;
    proxy.inject(Fault { op: "GetParameter", status: 400, code: "UnrecognizedClientException", times: None });
    let (client, _) = build(&store(ParameterStore), TestCredentials::keys(), quick(&proxy.url)).await;

    let err = client.get_secret(&RemoteKey::new("/any")).await.unwrap_err();
    assert_eq!(err.kind(), "auth", "{err}");
    assert!(err.to_string().contains("UnrecognizedClientException"), "{err}");
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_until_it_passes() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("patience").await;
    proxy.inject(Fault { op: "GetSecretValue", status: 400, code: "ThrottlingException", times: Some(2) });
    let (client, calls) = build(&store(SecretsManager), TestCredentials::keys(), at(&proxy.url)).await;

    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "patience");
    assert_eq!(proxy.count("GetSecretValue"), 3, "two throttled attempts, then the answer");
    assert_eq!(calls.all(), vec![("AWS/SecretsManager", "GetSecretValue", "ok")], "one call, retried inside the SDK");
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_a_throttled_error() {
    let proxy = Proxy::start(&moto()).await;
    proxy.inject(Fault { op: "GetParameter", status: 429, code: "TooManyRequestsException", times: None });
    let options = ClientOptions { max_retries: 2, ..quick(&proxy.url) };
    let (client, _) = build(&store(ParameterStore), TestCredentials::keys(), options).await;

    let err = client.get_secret(&RemoteKey::new("/busy")).await.unwrap_err();
    assert_eq!(err.kind(), "throttled", "{err}");
    assert!(err.is_retryable());
    assert_eq!(proxy.count("GetParameter"), 3, "maxRetries 2: three attempts");
}

#[tokio::test]
async fn a_server_error_is_retried_then_transient() {
    let proxy = Proxy::start(&moto()).await;
    let name = secret("flaky").await;
    proxy.inject(Fault { op: "GetSecretValue", status: 503, code: "ServiceUnavailable", times: Some(1) });
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), quick(&proxy.url)).await;
    assert_eq!(text(client.get_secret(&RemoteKey::new(&name)).await.unwrap()), "flaky");

    proxy.inject(Fault { op: "GetSecretValue", status: 500, code: "InternalServiceError", times: None });
    let err = client.get_secret(&RemoteKey::new(&name)).await.unwrap_err();
    assert_eq!(err.kind(), "transient", "{err}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    let options = ClientOptions { max_retries: 0, ..at("http://127.0.0.1:9") };
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), options).await;

    let err = client.get_secret(&RemoteKey::new("anything")).await.unwrap_err();
    assert_eq!(err.kind(), "transient", "{err}");
}

#[tokio::test]
async fn n_keys_over_k_distinct_secrets_cost_ceil_k_over_20_batch_calls() {
    let stem = unique("batching");
    let admin = sm_admin().await;
    for i in 0..45 {
        admin.create_secret().name(format!("{stem}-{i:02}")).secret_string(format!("value-{i}")).send().await.unwrap();
    }
    for (n, k, batches) in [(60, 45, 3), (30, 20, 1), (21, 21, 2), (5, 1, 0)] {
        let proxy = Proxy::start(&moto()).await;
        let (client, calls) = build(&store(SecretsManager), TestCredentials::keys(), at(&proxy.url)).await;
        // N ExternalSecrets' keys over K distinct secrets, in the order they arrive.
        let keys: Vec<RemoteKey> = (0..n).map(|i| RemoteKey::new(format!("{stem}-{:02}", i % k))).collect();

        let got = client.get_secrets(&keys).await;
        for (i, value) in got.into_iter().enumerate() {
            assert_eq!(text(value.unwrap()), format!("value-{}", i % k));
        }
        let singles = if k == 1 { 1 } else { 0 };
        assert_eq!(calls.count("BatchGetSecretValue"), batches, "N={n} K={k}: recorded batch calls");
        assert_eq!(proxy.count("BatchGetSecretValue"), batches, "N={n} K={k}: batch requests on the wire");
        assert_eq!(proxy.count("GetSecretValue"), singles, "N={n} K={k}: single reads");
        println!("batching: N={n} keys over K={k} secrets -> {batches} BatchGetSecretValue, {singles} GetSecretValue");
    }
}

#[tokio::test]
async fn a_refused_batch_falls_back_to_single_reads_and_stops_batching() {
    let stem = unique("batch-denied");
    let admin = sm_admin().await;
    for i in 0..3 {
        admin.create_secret().name(format!("{stem}-{i}")).secret_string(format!("v{i}")).send().await.unwrap();
    }
    let proxy = Proxy::start(&moto()).await;
    proxy.inject(Fault { op: "BatchGetSecretValue", status: 400, code: "AccessDeniedException", times: None });
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), at(&proxy.url)).await;
    let keys: Vec<RemoteKey> = (0..3).map(|i| RemoteKey::new(format!("{stem}-{i}"))).collect();

    for _ in 0..2 {
        let got = client.get_secrets(&keys).await;
        assert_eq!(got.into_iter().map(|v| text(v.unwrap())).collect::<Vec<_>>(), vec!["v0", "v1", "v2"]);
    }
    assert_eq!(proxy.count("BatchGetSecretValue"), 1, "asked once, then no more");
    assert_eq!(proxy.count("GetSecretValue"), 6);
}

#[tokio::test]
async fn a_failed_batch_fails_only_its_own_keys() {
    let name = secret("kept apart").await;
    let proxy = Proxy::start(&moto()).await;
    proxy.inject(Fault { op: "BatchGetSecretValue", status: 400, code: "ThrottlingException", times: None });
    let options = ClientOptions { max_retries: 1, ..quick(&proxy.url) };
    let (client, _) = build(&store(SecretsManager), TestCredentials::keys(), options).await;
    let keys = [RemoteKey::new(&name), RemoteKey::new(unique("x")), RemoteKey::new(&name).with_version(Some("AWSPREVIOUS".into()))];

    let got = client.get_secrets(&keys).await;
    assert_eq!(got[0].as_ref().unwrap_err().kind(), "throttled");
    assert_eq!(got[1].as_ref().unwrap_err().kind(), "throttled");
    assert!(got[2].as_ref().unwrap_err().is_not_found(), "the single read is its own: {:?}", got[2]);
}

#[tokio::test]
async fn a_refused_get_parameters_falls_back_to_single_reads() {
    let stem = unique("/batch-denied");
    let admin = ssm_admin().await;
    for i in 0..3 {
        let kind = aws_sdk_ssm::types::ParameterType::String;
        admin.put_parameter().name(format!("{stem}/{i}")).value(format!("v{i}")).r#type(kind).send().await.unwrap();
    }
    let proxy = Proxy::start(&moto()).await;
    proxy.inject(Fault { op: "GetParameters", status: 400, code: "AccessDeniedException", times: None });
    let (client, _) = build(&store(ParameterStore), TestCredentials::keys(), at(&proxy.url)).await;
    let keys: Vec<RemoteKey> = (0..3).map(|i| RemoteKey::new(format!("{stem}/{i}"))).collect();

    let got = client.get_secrets(&keys).await;
    assert_eq!(got.into_iter().map(|v| text(v.unwrap())).collect::<Vec<_>>(), vec!["v0", "v1", "v2"]);
    assert_eq!((proxy.count("GetParameters"), proxy.count("GetParameter")), (1, 3));
}

#[tokio::test]
async fn find_by_path_falls_back_to_describe_parameters_when_the_path_read_is_refused() {
    let stem = unique("/path-denied");
    let admin = ssm_admin().await;
    for name in ["a", "b"] {
        let kind = aws_sdk_ssm::types::ParameterType::SecureString;
        admin.put_parameter().name(format!("{stem}/{name}")).value(name).r#type(kind).send().await.unwrap();
    }
    let proxy = Proxy::start(&moto()).await;
    proxy.inject(Fault { op: "GetParametersByPath", status: 400, code: "AccessDeniedException", times: None });
    let (client, _) = build(&store(ParameterStore), TestCredentials::keys(), at(&proxy.url)).await;

    let query = sesame_provider_core::FindQuery { path: Some(stem.clone()), ..Default::default() };
    let found = client.find(&query, &sesame_provider_core::FindScope::unmetered()).await.unwrap();
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), vec![format!("{stem}/a"), format!("{stem}/b")]);
    assert_eq!(text(found[&format!("{stem}/b")].clone()), "b");
    assert!(proxy.count("DescribeParameters") >= 1 && proxy.count("GetParameters") == 1);
}
