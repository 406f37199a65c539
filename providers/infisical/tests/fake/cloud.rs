//! The fake's cloud and Kubernetes logins, and the token sides they need, from Infisical's API
//! reference and the metadata services' documented requests:
//! - `POST /api/v1/auth/kubernetes-auth/login` `{identityId, jwt}`: the identity trusts one
//!   ServiceAccount (`sub`), as Infisical's TokenReview would report it;
//! - Azure's `GET /metadata/identity/oauth2/token?api-version&resource` (header `Metadata: true`)
//!   issues a JWT for `resource`; `POST /api/v1/auth/azure-auth/login` checks its `aud`;
//! - GCP's `GET /computeMetadata/v1/instance/service-accounts/default/identity?audience&format`
//!   (header `Metadata-Flavor: Google`) issues an ID token; `POST /api/v1/auth/gcp-auth/login`
//!   checks `aud` is the identity and `email` its service account;
//! - `POST /api/v1/auth/aws-auth/login` `{iamHttpRequestMethod, iamRequestBody,
//!   iamRequestHeaders, identityId}` (base64): the request must be a SigV4-signed
//!   GetCallerIdentity; as Infisical it is replayed to STS (moto, when the test names it) and the
//!   caller's ARN must be the identity's. Without STS the signing key ID stands for the caller.
//!
//! Unsigned JWTs: signatures are the issuer's business (the e2e tests check real ones with a
//! TokenReview).
use std::collections::HashMap;

use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Shared, error, issue};

/// An unsigned JWT with these claims.
pub fn jwt(claims: Value) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJl", part(json!({"alg": "RS256", "typ": "JWT"})), part(claims))
}

/// The claims of a JWT, unverified.
pub fn claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()
}

fn has_audience(c: &Value, audience: &str) -> bool {
    match &c["aud"] {
        Value::String(a) => a == audience,
        Value::Array(a) => a.iter().any(|x| x.as_str() == Some(audience)),
        _ => false,
    }
}

type Params = Query<HashMap<String, String>>;

pub async fn azure_imds(AxState(st): AxState<Shared>, Query(q): Params, headers: HeaderMap, uri: Uri) -> Response {
    st.lock().unwrap().log.push(format!("GET {uri}"));
    if headers.get("metadata").is_none_or(|v| v != "true") || !q.contains_key("api-version") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_request", "error_description": "Required metadata header not specified"})),
        )
            .into_response();
    }
    let resource = q.get("resource").cloned().unwrap_or_default();
    let token = jwt(json!({"aud": resource, "sub": "managed-identity-object-id", "iss": "https://sts.windows.net/tenant/"}));
    axum::Json(json!({"access_token": token, "expires_in": "3599", "resource": resource, "token_type": "Bearer"})).into_response()
}

pub async fn gcp_metadata(AxState(st): AxState<Shared>, Query(q): Params, headers: HeaderMap, uri: Uri) -> Response {
    let email = {
        let mut s = st.lock().unwrap();
        s.log.push(format!("GET {uri}"));
        s.gcp_service_account.clone()
    };
    if headers.get("metadata-flavor").is_none_or(|v| v != "Google") {
        return (StatusCode::FORBIDDEN, "Missing Metadata-Flavor:Google header.").into_response();
    }
    let Some(audience) = q.get("audience") else {
        return (StatusCode::BAD_REQUEST, "non-empty audience parameter required").into_response();
    };
    jwt(json!({"aud": audience, "email": email, "iss": "https://accounts.google.com", "sub": "1234567890"})).into_response()
}

/// The checks of the kubernetes, azure and gcp logins; `None` for another method.
pub fn jwt_login(s: &super::State, method: &str, body: &Value) -> Option<bool> {
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let identity = field("identityId");
    let c = claims(&field("jwt"));
    Some(match method {
        "kubernetes-auth" => s.k8s_identities.get(&identity).is_some_and(|sub| c.is_some_and(|c| c["sub"].as_str() == Some(sub.as_str()))),
        "azure-auth" => s.azure_identities.get(&identity).is_some_and(|aud| c.is_some_and(|c| has_audience(&c, aud))),
        "gcp-auth" => {
            s.gcp_identities.contains(&identity)
                && c.is_some_and(|c| has_audience(&c, &identity) && c["email"].as_str() == Some(s.gcp_service_account.as_str()))
        }
        _ => return None,
    })
}

/// AWS Auth: the replayed GetCallerIdentity's caller, or why not.
pub async fn aws_login(st: &Shared, body: &Value) -> Response {
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let decode = |k: &str| STANDARD.decode(field(k)).ok().and_then(|b| String::from_utf8(b).ok());
    let (Some(request_body), Some(headers)) = (decode("iamRequestBody"), decode("iamRequestHeaders")) else {
        return error(400, "iamRequestBody and iamRequestHeaders must be base64");
    };
    let Ok(Value::Object(headers)) = serde_json::from_str::<Value>(&headers) else {
        return error(400, "iamRequestHeaders is not a JSON object");
    };
    let header = |k: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).and_then(|(_, v)| v.as_str()).unwrap_or("").to_string();
    let authz = header("Authorization");
    let key_id = authz.strip_prefix("AWS4-HMAC-SHA256 Credential=").and_then(|r| r.split('/').next()).unwrap_or("").to_string();
    let signature_ok = authz.contains("/sts/aws4_request")
        && authz.contains("SignedHeaders=")
        && authz.rsplit("Signature=").next().is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()));
    if field("iamHttpRequestMethod") != "POST"
        || request_body != "Action=GetCallerIdentity&Version=2011-06-15"
        || !signature_ok
        || header("X-Amz-Date").is_empty()
        || !header("Host").starts_with("sts.")
    {
        return error(400, "The request is not a signed sts:GetCallerIdentity");
    }
    let (sts, expected) = {
        let s = st.lock().unwrap();
        (s.sts_forward.clone(), s.aws_identities.get(&field("identityId")).cloned())
    };
    let caller = match sts {
        Some(sts) => match replay(&sts, &headers, &request_body).await {
            Some(arn) => arn,
            None => return error(401, "STS refused the GetCallerIdentity request"),
        },
        None => key_id,
    };
    if expected.as_deref() != Some(caller.as_str()) {
        return error(401, "Access denied: the AWS principal is not trusted by this identity");
    }
    axum::Json(issue(&mut st.lock().unwrap())).into_response()
}

/// Replay the request to STS (`http://host:port`) as Infisical does; the caller's ARN.
async fn replay(sts: &str, headers: &serde_json::Map<String, Value>, body: &str) -> Option<String> {
    let addr = sts.strip_prefix("http://")?.trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut request = format!("POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        if !["host", "content-length"].contains(&name.to_ascii_lowercase().as_str()) {
            request.push_str(&format!("{name}: {}\r\n", value.as_str()?));
        }
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    if !answer.starts_with("HTTP/1.1 200") {
        return None;
    }
    let start = answer.find("<Arn>")? + 5;
    let end = answer[start..].find("</Arn>")? + start;
    Some(answer[start..end].to_string())
}
