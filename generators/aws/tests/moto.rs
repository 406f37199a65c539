//! The AWS generators against the test environment's moto (`tests/env/testenv up`), through the
//! real SDK and the AWS store's credential chain; ECR Public (which moto lacks) against a local
//! fake of its one JSON call.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::json;
use sesame_generator_aws::{ClientOptions, EcrAuthorizationToken, EcrAuthorizationTokenSpec, StsSessionToken, StsSessionTokenSpec};
use sesame_generator_core::{Generator, GeneratorContext, GeneratorError};
use sesame_provider_core::{
    CaProvider, CallRecorder, CredentialSource, ProviderContext, ProviderError, SecretKeySelector, SecretValue, ServiceAccountSelector,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Provider calls as (provider, call, outcome).
#[derive(Default)]
struct Calls(Mutex<Vec<(&'static str, &'static str, &'static str)>>);

impl CallRecorder for Calls {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, _: Duration) {
        self.0.lock().unwrap().push((provider, call, outcome.map_or_else(|e| e.kind(), |_| "ok")));
    }
}

/// The Secret `aws-creds` with keys `id` and `secret`, as the controller would resolve it.
struct Keys(BTreeMap<String, &'static str>);

#[async_trait]
impl CredentialSource for Keys {
    async fn secret_key(&self, sel: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        let name = format!("{}/{}", sel.name, sel.key.as_deref().unwrap_or_default());
        self.0.get(&name).map(|v| SecretValue::from(*v)).ok_or_else(|| ProviderError::Auth(format!("secret {name} not found")))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        Err(ProviderError::Auth("no tokens here".into()))
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(BTreeMap::new())
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        Err(ProviderError::NotFound("ca".into()))
    }
}

fn ctx(with_keys: bool) -> (GeneratorContext, Arc<Calls>) {
    let keys = if with_keys {
        BTreeMap::from([("aws-creds/id".to_string(), "AKIASESAMEGEN0000001"), ("aws-creds/secret".to_string(), "gen-secret-key")])
    } else {
        BTreeMap::new()
    };
    let calls = Arc::new(Calls::default());
    let provider = ProviderContext { credentials: Arc::new(Keys(keys)), calls: calls.clone() };
    (GeneratorContext { namespace: "tenant".into(), provider }, calls)
}

fn moto() -> ClientOptions {
    ClientOptions { endpoint_url: Some(sesame_testsupport::env().aws_endpoint.clone()), ..ClientOptions::default() }
}

/// A spec with static keys from `aws-creds`, in moto's region, plus `extra` fields.
fn spec<T: serde::de::DeserializeOwned>(extra: serde_json::Value) -> T {
    let mut spec = json!({
        "region": sesame_testsupport::env().aws_region,
        "auth": {"secretRef": {
            "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
            "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"}
        }}
    });
    spec.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    serde_json::from_value(spec).unwrap()
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    String::from_utf8(data[key].clone()).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn ecr_private_token_is_split_into_the_registry_login() {
    let (ctx, calls) = ctx(true);
    let g = EcrAuthorizationToken::new(spec::<EcrAuthorizationTokenSpec>(json!({}))).unwrap().with_options(moto());
    let out = g.generate(&ctx).await.unwrap();
    assert_eq!(out.data.keys().collect::<Vec<_>>(), ["expires_at", "password", "proxy_endpoint", "username"]);
    assert_eq!(text(&out.data, "username"), "AWS");
    // moto's token is "AWS:<account>-auth-token", valid until 2015-01-01.
    assert!(text(&out.data, "password").ends_with("-auth-token"));
    let region = &sesame_testsupport::env().aws_region;
    let endpoint = text(&out.data, "proxy_endpoint");
    assert!(endpoint.starts_with("https://") && endpoint.ends_with(&format!(".dkr.ecr.{region}.amazonaws.com")), "{endpoint}");
    assert_eq!(text(&out.data, "expires_at"), "1420070400");
    assert_eq!(out.state, None);
    assert_eq!(*calls.0.lock().unwrap(), [("AWS/ECR", "GetAuthorizationToken", "ok")]);
}

#[tokio::test]
async fn ecr_with_a_role_assumes_it_first() {
    let (ctx, calls) = ctx(true);
    let role = json!({"role": "arn:aws:iam::123456789012:role/ecr-puller"});
    let g = EcrAuthorizationToken::new(spec::<EcrAuthorizationTokenSpec>(role)).unwrap().with_options(moto());
    assert_eq!(text(&g.generate(&ctx).await.unwrap().data, "username"), "AWS");
    let calls = calls.0.lock().unwrap().clone();
    assert!(calls.iter().any(|c| c.1 == "AssumeRole" && c.2 == "ok"), "{calls:?}");
    assert_eq!(calls.last(), Some(&("AWS/ECR", "GetAuthorizationToken", "ok")));
}

#[tokio::test]
async fn sts_session_token_outputs_the_temporary_credentials() {
    let (ctx, calls) = ctx(true);
    let params = json!({"requestParameters": {"sessionDuration": 3600}});
    let g = StsSessionToken::new(spec::<StsSessionTokenSpec>(params)).unwrap().with_options(moto());
    let before = now();
    let out = g.generate(&ctx).await.unwrap();
    assert_eq!(out.data.keys().collect::<Vec<_>>(), ["access_key_id", "expiration", "secret_access_key", "session_token"]);
    assert!(text(&out.data, "access_key_id").starts_with("AKIA"));
    assert!(!text(&out.data, "secret_access_key").is_empty() && !text(&out.data, "session_token").is_empty());
    let expiration: u64 = text(&out.data, "expiration").parse().unwrap();
    assert!((before + 3500..=now() + 3700).contains(&expiration), "expiration {expiration} is not about an hour from now");
    assert_eq!(*calls.0.lock().unwrap(), [("AWS/STS", "GetSessionToken", "ok")]);
}

#[tokio::test]
async fn missing_credentials_fail_before_any_aws_call() {
    let (ctx, calls) = ctx(false);
    let err = EcrAuthorizationToken::new(spec::<EcrAuthorizationTokenSpec>(json!({})))
        .unwrap()
        .with_options(moto())
        .generate(&ctx)
        .await
        .unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) if m.contains("aws-creds")), "{err}");
    let err = StsSessionToken::new(spec::<StsSessionTokenSpec>(json!({}))).unwrap().with_options(moto()).generate(&ctx).await.unwrap_err();
    assert!(matches!(err, GeneratorError::Auth(_)), "{err}");
    assert!(calls.0.lock().unwrap().is_empty());
}

/// ECR Public's GetAuthorizationToken (AWS JSON 1.1): one canned answer, and the request's
/// `X-Amz-Target` handed back for the test to check.
async fn ecr_public_fake(body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then the (small) body announced by Content-Length.
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            assert!(n > 0, "the client closed the connection early");
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        let text = String::from_utf8_lossy(&request).to_string();
        text.lines()
            .find_map(|l| l.to_ascii_lowercase().starts_with("x-amz-target:").then(|| l[13..].trim().to_string()))
            .unwrap_or_default()
    });
    (url, server)
}

#[tokio::test]
async fn ecr_public_token_has_no_proxy_endpoint() {
    // base64("AWS:public-pass"), expiring at 1700000000.
    let (url, server) =
        ecr_public_fake(r#"{"authorizationData":{"authorizationToken":"QVdTOnB1YmxpYy1wYXNz","expiresAt":1700000000}}"#).await;
    let (ctx, calls) = ctx(true);
    let options = ClientOptions { endpoint_url: Some(url), max_retries: 0, ..ClientOptions::default() };
    let g = EcrAuthorizationToken::new(spec::<EcrAuthorizationTokenSpec>(json!({"scope": "public"}))).unwrap().with_options(options);
    let out = g.generate(&ctx).await.unwrap();
    assert_eq!(out.data.keys().collect::<Vec<_>>(), ["expires_at", "password", "username"]);
    assert_eq!(
        (text(&out.data, "username"), text(&out.data, "password"), text(&out.data, "expires_at")),
        ("AWS".into(), "public-pass".into(), "1700000000".into())
    );
    assert_eq!(server.await.unwrap(), "SpencerFrontendService.GetAuthorizationToken");
    assert_eq!(*calls.0.lock().unwrap(), [("AWS/ECRPublic", "GetAuthorizationToken", "ok")]);
}
