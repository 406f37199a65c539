//! The fake's key-signed logins, and the Google side GCP IAM Auth needs, checked as the real
//! services check them:
//! - Google's `POST /token` (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) verifies
//!   the RS256 assertion with the service account's registered public key (`iss`, `aud` = the
//!   token URL) and issues an access token for that account;
//! - IAM Credentials `POST /v1/projects/-/serviceAccounts/{email}:signJwt` takes that token (for
//!   that account only) and signs `{"payload"}` with the IAM fake's own key, adding `exp`;
//! - `POST /api/v1/auth/gcp-auth/login` for an IAM identity verifies the JWT with the IAM key,
//!   `sub` = the identity's service account and `aud` = the identity, as Infisical does with
//!   Google's published certificates;
//! - `POST /api/v1/auth/oci-auth/login` `{identityId, userOcid, headers}` verifies the HTTP
//!   Signature with the public key registered for the identity's user: `rsa-sha256` over
//!   `date (request-target) host`, target `get /20160918/users/<userOcid>`, host
//!   `identity.<region>.oraclecloud.com`, keyId `<tenancy>/<user>/<fingerprint>`.
use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pkcs8::der::Decode;
use pkcs8::der::pem::LineEnding;
use serde_json::{Value, json};

use super::{Shared, error, issue};

/// What the signed logins know.
#[derive(Default)]
pub struct Signed {
    /// Google: service account e-mail → the public key of its key file.
    pub sa_keys: HashMap<String, Vec<u8>>,
    /// Google access tokens → the service account they are for.
    pub google_tokens: HashMap<String, String>,
    /// The key IAM Credentials signs with.
    pub iam_key: Option<Arc<KeyPair>>,
    /// Infisical GCP IAM identities → the service account they trust.
    pub gcp_iam_identities: HashMap<String, String>,
    /// Infisical OCI identities → (tenancy OCID, user OCID, the user's API public key).
    pub oci_identities: HashMap<String, (String, String, Vec<u8>)>,
}

/// An RSA key made for a test, in the PEM forms a tenant may store.
pub struct TestKey {
    pub pair: KeyPair,
    pub pkcs8_pem: String,
}

impl TestKey {
    pub fn generate() -> TestKey {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("an RSA key");
        let der = pair.as_der().expect("PKCS#8");
        let pkcs8_pem = pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, der.as_ref()).unwrap();
        TestKey { pair, pkcs8_pem }
    }

    pub fn public(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// OpenSSL's traditional `RSA PRIVATE KEY`.
    pub fn pkcs1_pem(&self) -> String {
        let der = self.pair.as_der().unwrap();
        let info = pkcs8::PrivateKeyInfoRef::from_der(der.as_ref()).unwrap();
        pkcs8::der::pem::encode_string("RSA PRIVATE KEY", LineEnding::LF, info.private_key.as_bytes()).unwrap()
    }

    /// `ENCRYPTED PRIVATE KEY`: PBES2, PBKDF2-SHA256 and AES-256-CBC, as OpenSSL 3 writes it.
    pub fn encrypted_pem(&self, passphrase: &str) -> String {
        let der = self.pair.as_der().unwrap();
        let info = pkcs8::PrivateKeyInfoRef::from_der(der.as_ref()).unwrap();
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, b"test-salt-16byte", [7; 16]).unwrap();
        info.encrypt_with_params(params, passphrase).unwrap().to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF).unwrap().to_string()
    }

    /// A Google service-account key JSON for `email`.
    pub fn service_account_json(&self, email: &str) -> String {
        json!({"type": "service_account", "project_id": "p", "private_key_id": "kid-1", "private_key": self.pkcs8_pem,
               "client_email": email, "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"})
        .to_string()
    }
}

fn verify_rs256(public: &[u8], jwt: &str) -> Option<Value> {
    let (input, signature) = jwt.rsplit_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public).verify(input.as_bytes(), &signature).ok()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').next()?).ok()?).ok()?;
    (header["alg"] == "RS256").then_some(())?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').nth(1)?).ok()?).ok()
}

/// `application/x-www-form-urlencoded` fields.
fn form(body: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

/// Google's OAuth token endpoint, for the JWT-bearer grant of a service-account key.
pub async fn google_token(AxState(st): AxState<Shared>, uri: Uri, headers: HeaderMap, body: String) -> Response {
    let mut s = st.lock().unwrap();
    s.log.push(format!("POST {uri}"));
    let grant = |m: &str| (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": m})));
    let f = form(&body);
    if f.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return grant("Invalid grant_type").into_response();
    }
    let assertion = f.get("assertion").cloned().unwrap_or_default();
    let iss = super::cloud::claims(&assertion).and_then(|c| c["iss"].as_str().map(str::to_string)).unwrap_or_default();
    let Some(claims) = s.signed.sa_keys.get(&iss).and_then(|public| verify_rs256(public, &assertion)) else {
        return grant("Invalid JWT Signature.").into_response();
    };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("");
    if claims["aud"] != format!("http://{host}/token") || claims["scope"].as_str().is_none() || claims["exp"].as_u64().is_none() {
        return grant("Invalid JWT: aud, scope or exp").into_response();
    }
    let token = format!("ya29.fake-{}", s.signed.google_tokens.len() + 1);
    s.signed.google_tokens.insert(token.clone(), iss);
    axum::Json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

/// IAM Credentials `signJwt`.
pub async fn sign_jwt(AxState(st): AxState<Shared>, Path(name): Path<String>, uri: Uri, headers: HeaderMap, body: String) -> Response {
    let mut s = st.lock().unwrap();
    s.log.push(format!("POST {uri}"));
    let denied = |code: u16, m: &str| {
        let status = axum::http::StatusCode::from_u16(code).unwrap();
        (status, axum::Json(json!({"error": {"code": code, "message": m, "status": "PERMISSION_DENIED"}}))).into_response()
    };
    let Some(email) = name.strip_suffix(":signJwt") else { return error(404, "no such method") };
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if s.signed.google_tokens.get(token).map(String::as_str) != Some(email) {
        return denied(403, &format!("Permission 'iam.serviceAccounts.signJwt' denied on resource {email}"));
    }
    let payload = serde_json::from_str::<Value>(&body).ok().and_then(|b| b["payload"].as_str().map(str::to_string));
    let Some(Value::Object(mut claims)) = payload.and_then(|p| serde_json::from_str::<Value>(&p).ok()) else {
        return denied(400, "Invalid JWT payload");
    };
    claims.entry("exp").or_insert(json!(4_102_444_800u64));
    let key = s.signed.iam_key.get_or_insert_with(|| Arc::new(KeyPair::generate(KeySize::Rsa2048).unwrap())).clone();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT", "kid": "iam-key"}).to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut signature).unwrap();
    axum::Json(json!({"keyId": "iam-key", "signedJwt": format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))})).into_response()
}

/// GCP IAM identities' check of a gcp-auth login; `None` when the identity is no IAM one.
pub fn gcp_iam_login(s: &super::State, body: &Value) -> Option<bool> {
    let identity = body["identityId"].as_str().unwrap_or("");
    let email = s.signed.gcp_iam_identities.get(identity)?;
    let public = s.signed.iam_key.as_ref().map(|k| k.public_key().as_ref().to_vec());
    let claims = public.and_then(|p| verify_rs256(&p, body["jwt"].as_str().unwrap_or("")));
    Some(claims.is_some_and(|c| c["sub"].as_str() == Some(email) && c["aud"].as_str() == Some(identity)))
}

/// `Signature k="v",…` parameters.
fn signature_params(authorization: &str) -> Option<HashMap<String, String>> {
    let params = authorization.strip_prefix("Signature ")?;
    Some(params.split(',').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string())).collect())
}

/// OCI Auth, as Infisical replays the request and OCI verifies it.
pub async fn oci_login(st: &Shared, body: &Value) -> Response {
    let s = st.lock().unwrap();
    let identity = body["identityId"].as_str().unwrap_or("");
    let user = body["userOcid"].as_str().unwrap_or("");
    let header = |k: &str| body["headers"][k].as_str().unwrap_or("").to_string();
    let Some((tenancy, registered_user, public)) = s.signed.oci_identities.get(identity) else {
        return error(401, "Access denied: OCI identity not found");
    };
    let Some(p) = signature_params(&header("authorization")) else {
        return error(401, "OCI: the request is not signed");
    };
    let host = header("host");
    let region_host = host.strip_prefix("identity.").and_then(|h| h.strip_suffix(".oraclecloud.com")).is_some_and(|r| !r.is_empty());
    let key_user = p.get("keyId").and_then(|k| k.split('/').nth(1)).unwrap_or("");
    let covered = p.get("headers").map(String::as_str) == Some("date (request-target) host");
    let signing = format!("date: {}\n(request-target): get /20160918/users/{user}\nhost: {host}", header("date"));
    let signature = p.get("signature").and_then(|s| STANDARD.decode(s).ok()).unwrap_or_default();
    let verified = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public).verify(signing.as_bytes(), &signature).is_ok();
    let ok = verified
        && covered
        && region_host
        && p.get("version").map(String::as_str) == Some("1")
        && p.get("algorithm").map(String::as_str) == Some("rsa-sha256")
        && p.get("keyId").is_some_and(|k| k.starts_with(&format!("{tenancy}/")))
        && key_user == user
        && user == registered_user;
    if !ok {
        return error(401, "OCI: the signed request was refused (NotAuthenticated)");
    }
    drop(s);
    axum::Json(issue(&mut st.lock().unwrap())).into_response()
}
