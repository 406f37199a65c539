//! Who is calling: bearer tokens on the API, and the endpoints that mint them. Each checks what
//! the real endpoint checks: signatures with the right public key, audiences, grant and token
//! types, expiry, and who may impersonate whom.
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::jwt::{Jwt, now};
use super::wire::{error, form, ok, rfc3339};
use super::{State, Verifier};

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const SECRET_MANAGER_AUDIENCE: &str = "https://secretmanager.googleapis.com/";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// An OAuth 2.0 error body (`{"error","error_description"}`), as STS and the token endpoint send.
fn oauth_error(http: u16, code: &str, description: &str) -> Response {
    (StatusCode::from_u16(http).unwrap(), axum::Json(json!({"error": code, "error_description": description}))).into_response()
}

fn unauthenticated(message: &str) -> Response {
    error(401, "UNAUTHENTICATED", message)
}

/// The principal behind the request's bearer token: a token this fake issued, or a
/// service-account self-signed JWT (what the SDK sends for a key file: no token endpoint call).
#[allow(clippy::result_large_err)] // the error is the response itself
pub fn principal(s: &State, headers: &HeaderMap) -> Result<String, Response> {
    let Some(token) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) else {
        return Err(unauthenticated(
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ));
    };
    if let Some((principal, expires)) = s.tokens.get(token) {
        return if *expires > now() {
            Ok(principal.clone())
        } else {
            Err(unauthenticated("Request had invalid authentication credentials: the access token expired."))
        };
    }
    match self_signed(s, token) {
        Some(email) => Ok(format!("serviceAccount:{email}")),
        None => Err(unauthenticated(
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )),
    }
}

/// A key-signed JWT: the key id names a key of the issuing service account, the signature
/// verifies with its public half, `iss == sub`, at most one hour long, and either the API's
/// audience or the cloud-platform scope.
fn self_signed(s: &State, token: &str) -> Option<String> {
    let jwt = Jwt::parse(token)?;
    let email = jwt.claims["iss"].as_str()?;
    let public = s.sa_keys.get(email)?.get(jwt.header["kid"].as_str()?)?;
    let lifetime = jwt.claims["exp"].as_i64()? - jwt.claims["iat"].as_i64()?;
    let scoped = jwt.claims["scope"].as_str().is_some_and(|sc| sc.split(' ').any(|x| x == CLOUD_PLATFORM));
    let aimed = jwt.audiences().iter().any(|a| a == SECRET_MANAGER_AUDIENCE);
    (jwt.verify(public) && jwt.is_current() && jwt.claims["sub"] == email && lifetime <= 3_600 + 60 && (scoped || aimed))
        .then(|| email.to_string())
}

/// STS `POST /v1/token`: RFC 8693 token exchange of a GKE ServiceAccount token for a federated
/// access token of `serviceAccount:{pool}[{namespace}/{name}]`.
pub fn sts(s: &mut State, body: &[u8]) -> Response {
    let p = form(body);
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    if get("grant_type") != TOKEN_EXCHANGE {
        return oauth_error(400, "unsupported_grant_type", "Only the token exchange grant type is supported.");
    }
    if get("requested_token_type") != ACCESS_TOKEN_TYPE {
        return oauth_error(400, "invalid_request", "Invalid value for \"requested_token_type\".");
    }
    if get("audience").starts_with("//iam.googleapis.com/") {
        return federated(s, get("audience"), get("subject_token"), get("subject_token_type"));
    }
    if get("subject_token_type") != JWT_TOKEN_TYPE {
        return oauth_error(400, "invalid_request", "Invalid value for \"subject_token_type\".");
    }
    let Some((pool, provider)) = get("audience").strip_prefix("identitynamespace:").and_then(|a| a.split_once(':')) else {
        return oauth_error(400, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid.");
    };
    let Some(cluster) = s.clusters.iter().find(|c| c.pool == pool && c.provider == provider) else {
        return oauth_error(400, "invalid_target", "The identity namespace or provider in \"audience\" is unknown.");
    };
    let Some(jwt) = Jwt::parse(get("subject_token")) else {
        return oauth_error(400, "invalid_grant", "The subject token is not a JWT.");
    };
    let signed = match &cluster.verifier {
        Verifier::Key(key) => jwt.verify(&key.public_der),
        Verifier::Jwks(jwks) => jwt.verify_jwks(jwks),
    };
    if !signed {
        return oauth_error(400, "invalid_grant", "The subject token signature is invalid.");
    }
    if jwt.claims["iss"] != cluster.token_issuer.as_str() || !jwt.audiences().iter().any(|a| a == pool) || !jwt.is_current() {
        return oauth_error(400, "invalid_grant", "The subject token has the wrong issuer or audience, or has expired.");
    }
    let Some((ns, name)) =
        jwt.claims["sub"].as_str().and_then(|s| s.strip_prefix("system:serviceaccount:")).and_then(|s| s.split_once(':'))
    else {
        return oauth_error(400, "invalid_grant", "The subject token does not name a Kubernetes ServiceAccount.");
    };
    let principal = format!("serviceAccount:{pool}[{ns}/{name}]");
    let lifetime = s.sts_lifetime;
    let token = s.issue_token(&principal, lifetime);
    ok(json!({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer", "expires_in": lifetime}))
}

/// The exchange at a workload identity pool provider (workload identity federation).
fn federated(s: &mut State, audience: &str, token: &str, token_type: &str) -> Response {
    let Some(provider) = s.pool_providers.iter().find(|p| p.audience == audience) else {
        return oauth_error(400, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid.");
    };
    let principal = match provider.verify(token, token_type) {
        Ok(subject) => provider.principal(&subject),
        Err(why) => return oauth_error(400, "invalid_grant", why),
    };
    let lifetime = s.sts_lifetime;
    let token = s.issue_token(&principal, lifetime);
    ok(json!({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer", "expires_in": lifetime}))
}

/// IAM Credentials `POST /v1/projects/-/serviceAccounts/{email}:signJwt`: the payload (a JSON
/// object, at most 12 hours to `exp`) signed RS256 with a Google-managed key of the account; the
/// caller must be the account itself or allowed to impersonate it (Token Creator).
pub fn sign_jwt(s: &mut State, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(email) = path.strip_prefix("/v1/projects/-/serviceAccounts/").and_then(|p| p.strip_suffix(":signJwt")) else {
        return error(404, "NOT_FOUND", format!("the fake has no route for POST {path}"));
    };
    let caller = match principal(s, headers) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    if caller != format!("serviceAccount:{email}") && !s.impersonators.contains(&(email.to_string(), caller)) {
        return error(
            403,
            "PERMISSION_DENIED",
            format!(
                "Permission 'iam.serviceAccounts.signJwt' denied on resource 'projects/-/serviceAccounts/{email}' (or it may not exist)."
            ),
        );
    }
    let payload =
        serde_json::from_slice::<Value>(body).ok().and_then(|b| b["payload"].as_str().and_then(|p| serde_json::from_str::<Value>(p).ok()));
    let Some(claims) = payload.filter(|c| c.is_object()) else {
        return error(400, "INVALID_ARGUMENT", "The payload must be a JSON object.");
    };
    if claims["exp"].as_i64().is_some_and(|exp| exp > now() + 12 * 3600) {
        return error(400, "INVALID_ARGUMENT", "The exp claim is more than 12 hours in the future.");
    }
    let (kid, key) = s.google_signing_key(email);
    ok(json!({"keyId": kid, "signedJwt": key.sign_jwt(Some(&kid), &claims)}))
}

/// IAM Credentials `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`.
pub fn generate_access_token(s: &mut State, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(email) = path.strip_prefix("/v1/projects/-/serviceAccounts/").and_then(|p| p.strip_suffix(":generateAccessToken")) else {
        return error(404, "NOT_FOUND", format!("the fake has no route for POST {path}"));
    };
    let caller = match principal(s, headers) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    };
    if req["scope"].as_array().is_none_or(|a| a.is_empty()) {
        return error(400, "INVALID_ARGUMENT", "Scope required.");
    }
    let lifetime = match req["lifetime"].as_str().map(|l| l.strip_suffix('s').and_then(|n| n.parse::<i64>().ok())) {
        None => 3600,
        Some(Some(n)) if (1..=3600).contains(&n) => n,
        Some(_) => return error(400, "INVALID_ARGUMENT", "The lifetime must be between 1s and 3600s."),
    };
    if !s.impersonators.contains(&(email.to_string(), caller)) {
        return error(
            403,
            "PERMISSION_DENIED",
            format!(
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource 'projects/-/serviceAccounts/{email}' (or it may not exist)."
            ),
        );
    }
    let token = s.issue_token(&format!("serviceAccount:{email}"), lifetime);
    ok(json!({"accessToken": token, "expireTime": rfc3339(now() + lifetime)}))
}

/// OAuth 2.0 `POST /token` with the JWT-bearer grant (RFC 7523): the assertion is signed by a
/// service-account key, addressed to this token endpoint, and asks for scopes.
pub fn oauth(s: &mut State, base_url: &str, body: &[u8]) -> Response {
    let p = form(body);
    if p.get("grant_type").map(String::as_str) != Some(JWT_BEARER) {
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type.");
    }
    let Some(jwt) = p.get("assertion").and_then(|a| Jwt::parse(a)) else {
        return oauth_error(400, "invalid_grant", "Invalid JWT.");
    };
    let email = jwt.claims["iss"].as_str().unwrap_or("").to_string();
    let key = s.sa_keys.get(&email).and_then(|keys| keys.get(jwt.header["kid"].as_str().unwrap_or("")));
    if !key.is_some_and(|k| jwt.verify(k)) {
        return oauth_error(400, "invalid_grant", "Invalid JWT Signature.");
    }
    if jwt.audiences() != [format!("{base_url}/token")] || !jwt.is_current() {
        return oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token and addressed to this endpoint.");
    }
    if jwt.claims["scope"].as_str().is_none_or(str::is_empty) {
        return oauth_error(400, "invalid_scope", "Empty or missing scope not allowed.");
    }
    let token = s.issue_token(&format!("serviceAccount:{email}"), 3600);
    ok(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
}

/// The metadata server: tokens of the instance's (or GKE workload's) service account.
pub fn metadata(s: &mut State, path: &str, query: &std::collections::BTreeMap<String, String>, headers: &HeaderMap) -> Response {
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return (StatusCode::FORBIDDEN, "Missing Metadata-Flavor:Google header.").into_response();
    }
    match path {
        "/computeMetadata/v1/instance/service-accounts/default/token" => match s.mds_principal.clone() {
            Some(principal) => {
                let token = s.issue_token(&principal, 3600);
                ok(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
            }
            None => (StatusCode::NOT_FOUND, "no service account").into_response(),
        },
        // A GCE identity token: signed with the account's Google-managed key, for the audience asked.
        "/computeMetadata/v1/instance/service-accounts/default/identity" => {
            let (Some(principal), Some(audience)) = (s.mds_principal.clone(), query.get("audience").filter(|a| !a.is_empty())) else {
                return (StatusCode::BAD_REQUEST, "non-empty audience parameter required").into_response();
            };
            let email = principal.trim_start_matches("serviceAccount:").to_string();
            let (kid, key) = s.google_signing_key(&email);
            let mut claims = json!({"aud": audience, "sub": email, "email": email, "iat": now(), "exp": now() + 3600});
            if query.get("format").map(String::as_str) == Some("full") {
                claims["google"] =
                    json!({"compute_engine": {"project_id": "acme-clusters", "zone": "europe-west1-b", "instance_name": "node-1"}});
            }
            key.sign_jwt(Some(&kid), &claims).into_response()
        }
        "/computeMetadata/v1/universe/universe-domain" => "googleapis.com".into_response(),
        "/computeMetadata/v1/" | "/computeMetadata/v1" => "instance/\nproject/\n".into_response(),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
