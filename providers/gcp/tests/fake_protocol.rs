//! The fake's own protocol, spoken raw over HTTP: what it refuses and how its answers look, so
//! the provider tests above can trust it behaves like Google.
mod common;
mod fake;

use common::{PROJECT, PROJECT_NUMBER, READER};
use fake::{FakeGcp, jwt};
use serde_json::{Value, json};

async fn fake_with_reader() -> (FakeGcp, fake::ServiceAccountKey) {
    let fake = FakeGcp::start().await;
    fake.project(PROJECT, PROJECT_NUMBER);
    let key = fake.service_account(READER, PROJECT);
    fake.grant(PROJECT, &format!("serviceAccount:{READER}"));
    fake.secret("projects/acme-prod/secrets/db", &[("env", "prod")], &[]);
    fake.version("projects/acme-prod/secrets/db", b"hello");
    (fake, key)
}

async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// An OAuth token for the reader, from the JWT-bearer grant.
async fn oauth_token(fake: &FakeGcp, key: &fake::ServiceAccountKey, aud: &str) -> (u16, Value) {
    let now = jwt::now();
    let claims =
        json!({"iss": READER, "scope": "https://www.googleapis.com/auth/cloud-platform", "aud": aud, "iat": now, "exp": now + 3600});
    let assertion = key.key.sign_jwt(Some("kid-1"), &claims);
    let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
    let resp = reqwest::Client::new().post(format!("{}/token", fake.url)).form(&form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_request_without_a_bearer_token_is_unauthenticated_in_googles_error_shape() {
    let (fake, _) = fake_with_reader().await;
    let (status, body) = get(&format!("{}/v1/projects/acme-prod/secrets/db/versions/latest:access", fake.url), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert!(body["error"]["message"].as_str().unwrap().contains("missing required authentication credential"));
}

#[tokio::test]
async fn the_jwt_bearer_grant_checks_signature_and_audience_and_its_token_reads() {
    let (fake, key) = fake_with_reader().await;
    let (status, body) = oauth_token(&fake, &key, "https://oauth2.googleapis.com/token").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the assertion is for another endpoint");

    let (status, body) = oauth_token(&fake, &key, &format!("{}/token", fake.url)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (status, body) = get(&format!("{}/v1/projects/{PROJECT_NUMBER}/secrets/db/versions/1:access", fake.url), Some(token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], format!("projects/{PROJECT_NUMBER}/secrets/db/versions/1"));
    assert_eq!(body["payload"]["data"], "aGVsbG8=");
    assert_eq!(body["payload"]["dataCrc32c"], crc32c::crc32c(b"hello").to_string());
}

#[tokio::test]
async fn lists_page_with_opaque_tokens_and_filter_by_label() {
    let (fake, key) = fake_with_reader().await;
    for id in ["a", "b", "c"] {
        fake.secret(&format!("projects/acme-prod/secrets/{id}"), &[("env", "dev")], &[]);
    }
    let token = oauth_token(&fake, &key, &format!("{}/token", fake.url)).await.1["access_token"].as_str().unwrap().to_string();
    let list = format!("{}/v1/projects/acme-prod/secrets?pageSize=2&filter=labels.env%3Ddev", fake.url);
    let (_, first) = get(&list, Some(&token)).await;
    assert_eq!(first["totalSize"], 3);
    assert_eq!(first["secrets"].as_array().unwrap().len(), 2);
    let next = first["nextPageToken"].as_str().unwrap();
    let (_, second) = get(&format!("{list}&pageToken={next}"), Some(&token)).await;
    assert_eq!(second["secrets"][0]["name"], format!("projects/{PROJECT_NUMBER}/secrets/c"));
    assert!(second.get("nextPageToken").is_none());
    let (status, _) = get(&format!("{list}&pageToken=bogus"), Some(&token)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn sts_refuses_other_grant_types_with_an_oauth_error() {
    let fake = FakeGcp::start().await;
    let form = [("grant_type", "client_credentials")];
    let resp = reqwest::Client::new().post(format!("{}/v1/token", fake.url)).form(&form).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn the_metadata_server_wants_its_header() {
    let fake = FakeGcp::start().await;
    fake.lock().mds_principal = Some("serviceAccount:node@x.iam.gserviceaccount.com".into());
    let url = format!("{}/computeMetadata/v1/instance/service-accounts/default/token", fake.url);
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 403);
    let resp = reqwest::Client::new().get(&url).header("Metadata-Flavor", "Google").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

async fn send(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn writes_answer_as_secret_manager_does_conflicts_stale_etags_and_bad_payloads() {
    use reqwest::Method;
    let (fake, key) = fake_with_reader().await;
    let token = oauth_token(&fake, &key, &format!("{}/token", fake.url)).await.1["access_token"].as_str().unwrap().to_string();
    let base = format!("{}/v1/projects/acme-prod/secrets", fake.url);
    let secret = json!({"replication": {"automatic": {}}, "labels": {"managed-by": "external-secrets"}});

    let (status, created) = send(Method::POST, &format!("{base}?secretId=new"), &token, Some(secret.clone())).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["name"], format!("projects/{PROJECT_NUMBER}/secrets/new"));
    let (status, body) = send(Method::POST, &format!("{base}?secretId=new"), &token, Some(secret.clone())).await;
    assert_eq!((status, body["error"]["status"].as_str()), (409, Some("ALREADY_EXISTS")));
    let (status, body) = send(Method::POST, &format!("{base}?secretId=x"), &token, Some(json!({}))).await;
    assert_eq!((status, body["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")), "a global secret needs replication");

    let payload = |data: &str, crc: u32| json!({"payload": {"data": data, "dataCrc32c": crc.to_string()}});
    let (status, version) =
        send(Method::POST, &format!("{base}/new:addVersion"), &token, Some(payload("aGk=", crc32c::crc32c(b"hi")))).await;
    assert_eq!((status, version["name"].as_str()), (200, Some(format!("projects/{PROJECT_NUMBER}/secrets/new/versions/1").as_str())));
    let (status, _) = send(Method::POST, &format!("{base}/new:addVersion"), &token, Some(payload("aGk=", 1))).await;
    assert_eq!(status, 400, "a CRC32C that does not match is refused");
    let (status, body) = send(Method::POST, &format!("{base}/gone:addVersion"), &token, Some(payload("aGk=", crc32c::crc32c(b"hi")))).await;
    assert_eq!((status, body["error"]["status"].as_str()), (404, Some("NOT_FOUND")));

    let stale = created["etag"].as_str().unwrap().to_string();
    let patch = json!({"etag": stale, "labels": {"team": "a"}});
    let (status, patched) = send(Method::PATCH, &format!("{base}/new?updateMask=labels"), &token, Some(patch.clone())).await;
    assert_eq!((status, patched["labels"]["team"].as_str()), (200, Some("a")));
    let (status, body) = send(Method::PATCH, &format!("{base}/new?updateMask=labels"), &token, Some(patch)).await;
    assert_eq!((status, body["error"]["status"].as_str()), (409, Some("ABORTED")), "the etag changed with the update");
    let (status, _) = send(Method::PATCH, &format!("{base}/new"), &token, Some(json!({"labels": {}}))).await;
    assert_eq!(status, 400, "updateMask is required");

    let (status, body) = send(Method::DELETE, &format!("{base}/new?etag={}", urlencode(&stale)), &token, None).await;
    assert_eq!((status, body["error"]["status"].as_str()), (409, Some("ABORTED")));
    let current = patched["etag"].as_str().unwrap();
    let (status, _) = send(Method::DELETE, &format!("{base}/new?etag={}", urlencode(current)), &token, None).await;
    assert_eq!(status, 200);
    let (status, _) = send(Method::DELETE, &format!("{base}/new"), &token, None).await;
    assert_eq!(status, 404);
}

fn urlencode(s: &str) -> String {
    s.replace('"', "%22")
}
