//! `auth.iam`: the signed sts:GetCallerIdentity login, end to end as far as the test
//! environment allows.
//!
//! What is not real: OpenBao 2.7.2 (the test environment's) has no `aws` auth plugin. So the
//! store talks to a small shim standing in for Vault's aws auth method: on
//! `POST /v1/auth/<path>/login` it does what Vault does, replays the signed request to STS (moto)
//! and reads the caller's ARN from the answer, then (for the ARN it expects) issues a real
//! OpenBao token; every other request is passed to OpenBao. Moto identifies the caller by the
//! access key in the signature but does not verify the signature itself.
mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use serde_json::{Value, json};
use sesame_provider_core::{ProviderError, RemoteKey};
use sesame_provider_vault::VaultKvVersion::V2;
use sesame_provider_vault::{VaultAuth, VaultIamAuth};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A form call to moto's query API (IAM), with a credential scope naming the service.
async fn moto(service: &str, form: &[(&str, &str)]) -> String {
    let env = sesame_testsupport::env();
    let body: String = form.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let auth = format!("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0");
    let resp = reqwest::Client::new()
        .post(&env.aws_endpoint)
        .header("Authorization", auth)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("moto answers");
    resp.text().await.unwrap()
}

fn xml(text: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = text.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {text}")) + open.len();
    text[start..].split(&format!("</{tag}>")).next().unwrap().to_string()
}

/// What the shim saw of the login: the JSON body, and the ARN STS answered.
#[derive(Default)]
struct Seen {
    login: Option<Value>,
    arn: Option<String>,
}

/// The stand-in for Vault's aws auth method at `auth/<mount>`, in front of OpenBao.
async fn shim(bao: Bao, mount: String, expected_arn: String, policy: String, seen: Arc<Mutex<Seen>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            let (bao, mount, expected_arn, policy, seen) = (bao.clone(), mount.clone(), expected_arn.clone(), policy.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head, body) = loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                            .unwrap_or(0);
                        while buf.len() < end + 4 + length {
                            let n = conn.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, buf[end + 4..].to_vec());
                    }
                };
                let mut words = head.lines().next().unwrap_or_default().split(' ');
                let (method, target) = (words.next().unwrap_or_default().to_string(), words.next().unwrap_or_default().to_string());
                let header = |name: &str| {
                    head.lines().skip(1).find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let (status, answer) = if method == "POST" && target == format!("/v1/auth/{mount}/login") {
                    login(&bao, &body, &expected_arn, &policy, &seen).await
                } else {
                    let path = target.trim_start_matches("/v1/");
                    let token = header("x-vault-token").unwrap_or_default();
                    let body = (!body.is_empty()).then(|| serde_json::from_slice(&body).unwrap_or(Value::Null));
                    bao.with_token(&token).call(&method, path, body).await
                };
                let text = answer.to_string();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

/// What Vault's aws auth method does with an IAM login: replay the signed request to STS.
async fn login(bao: &Bao, body: &[u8], expected_arn: &str, policy: &str, seen: &Mutex<Seen>) -> (u16, Value) {
    let env = sesame_testsupport::env();
    let login: Value = serde_json::from_slice(body).unwrap();
    let decode = |field: &str| STANDARD.decode(login[field].as_str().unwrap_or_default()).unwrap_or_default();
    let headers: serde_json::Map<String, Value> = serde_json::from_slice(&decode("iam_request_headers")).unwrap_or_default();
    let mut request = reqwest::Client::new().post(&env.aws_endpoint).body(decode("iam_request_body"));
    for (name, values) in &headers {
        for v in values.as_array().into_iter().flatten() {
            request = request.header(name.as_str(), v.as_str().unwrap_or_default());
        }
    }
    let answer = request.send().await.unwrap().text().await.unwrap();
    let arn = xml(&answer, "Arn");
    seen.lock().unwrap().login = Some(login.clone());
    seen.lock().unwrap().arn = Some(arn.clone());
    if arn != expected_arn {
        return (400, json!({"errors": [format!("IAM Principal {arn} does not belong to the role")]}));
    }
    // Vault's answer to a login: the `auth` of a token with the role's policy (OpenBao's own).
    let created = bao.must("POST", "auth/token/create", Some(json!({"policies": [policy], "ttl": "1h"}))).await;
    // A login answers as Vault does: the whole response envelope, with the token under `auth`.
    (
        200,
        json!({"request_id": "", "lease_id": "", "renewable": false, "lease_duration": 0, "data": null, "wrap_info": null, "warnings": null, "auth": created["auth"]}),
    )
}

#[tokio::test]
async fn iam_login_posts_a_get_caller_identity_signed_with_the_secrets_keys_that_sts_attributes_to_that_user() {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "app", json!({"v": "via iam"})).await;
    let policy = bao.reader_policy(&mount).await;

    // A real IAM user in moto with its own access key: STS names it from the signature.
    let user = unique("vault-iam");
    moto("iam", &[("Action", "CreateUser"), ("UserName", &user), ("Version", "2010-05-08")]).await;
    let key = moto("iam", &[("Action", "CreateAccessKey"), ("UserName", &user), ("Version", "2010-05-08")]).await;
    let (key_id, secret) = (xml(&key, "AccessKeyId"), xml(&key, "SecretAccessKey"));
    let arn = xml(&moto("iam", &[("Action", "GetUser"), ("UserName", &user), ("Version", "2010-05-08")]).await, "Arn");

    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = shim(bao.clone(), "aws".into(), arn.clone(), policy, seen.clone()).await;
    let iam = VaultIamAuth {
        path: None,
        region: None,
        role: None,
        vault_role: "reader".into(),
        external_id: None,
        vault_aws_iam_server_id: Some("vault.example.com".into()),
        secret_ref: Some(sesame_provider_aws::AwsAuthSecretRef {
            access_key_id: sel("aws", "id"),
            secret_access_key: sel("aws", "secret"),
            session_token: None,
        }),
        jwt: None,
    };
    let mut spec = store(&bao, &mount, V2, VaultAuth { iam: Some(iam), ..Default::default() });
    spec.server = server;
    let creds = Creds::with(&[("aws", "id", key_id.as_bytes()), ("aws", "secret", secret.as_bytes())]);
    let (provider, calls) = build(&spec, creds).await;
    for _ in 0..3 {
        let got = provider.get_secret(&RemoteKey::new("app")).await.expect("read after the iam login");
        assert_eq!(json_of(got)["v"], "via iam");
    }
    assert_eq!(calls.count("Login"), 1);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.arn.as_deref(), Some(arn.as_str()), "STS attributed the signed request to the user whose keys the Secret holds");
    let login = seen.login.as_ref().unwrap();
    assert_eq!(login["role"], "reader", "vaultRole is the Vault role");
    assert_eq!(login["iam_http_request_method"], "POST");
    let url = String::from_utf8(STANDARD.decode(login["iam_request_url"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(url, "https://sts.amazonaws.com/");
    let headers = String::from_utf8(STANDARD.decode(login["iam_request_headers"].as_str().unwrap()).unwrap()).unwrap();
    assert!(headers.contains("vault.example.com"), "the server ID header travels: {headers}");
    assert!(!login.to_string().contains(&secret), "the secret key never leaves the signer");
}

#[tokio::test]
async fn an_iam_login_for_a_principal_vault_does_not_bind_is_an_auth_error() {
    let bao = Bao::root().await;
    let mount = bao.kv(V2).await;
    let policy = bao.reader_policy(&mount).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = shim(bao.clone(), "aws-other".into(), "arn:aws:iam::123456789012:user/someone-else".into(), policy, seen).await;
    let iam = VaultIamAuth {
        path: Some("aws-other".into()),
        region: None,
        role: None,
        vault_role: "reader".into(),
        external_id: None,
        vault_aws_iam_server_id: None,
        secret_ref: Some(sesame_provider_aws::AwsAuthSecretRef {
            access_key_id: sel("aws", "id"),
            secret_access_key: sel("aws", "secret"),
            session_token: None,
        }),
        jwt: None,
    };
    let mut spec = store(&bao, &mount, V2, VaultAuth { iam: Some(iam), ..Default::default() });
    spec.server = server;
    let (provider, _) = build(&spec, Creds::with(&[("aws", "id", b"AKIAUNBOUND0000000"), ("aws", "secret", b"not-shown-anywhere")])).await;
    let err = provider.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err}");
    assert!(err.to_string().contains("aws iam login at auth/aws-other as role reader"), "{err}");
    assert!(!err.to_string().contains("not-shown-anywhere"), "{err}");
}
