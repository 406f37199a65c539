//! Entra ID's v2.0 token endpoint, `POST /{tenant}/oauth2/v2.0/token`, client-credentials grant
//! with either a client secret or a client assertion (JWT bearer, the workload identity flow).
//! Validates what the real endpoint validates: tenant, application, grant type, scope, the
//! secret, and for an assertion its type, signature (against the issuer's key), issuer, subject
//! and audience (against the app's federated credentials) and validity window.
use serde_json::json;

use super::server::{Req, Resp, json};
use super::{Issued, Shared, VAULT_RESOURCE, jwt, now};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew Entra ID tolerates on assertion times.
const SKEW: i64 = 300;

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let fault = {
        let mut state = shared.state.lock().unwrap();
        let at = state.faults.iter().position(|f| req.path.starts_with(&f.path_prefix));
        at.and_then(|i| state.faults.remove(i))
    };
    if let Some(fault) = fault {
        let body = json!({"error": fault.code, "error_description": "Injected failure.", "error_codes": []});
        let mut resp = json(fault.status, body);
        if let Some(after) = fault.retry_after {
            resp.headers_mut().insert("retry-after", after.parse().unwrap());
        }
        return resp;
    }
    match token(shared, req) {
        Ok(resp) => resp,
        Err((status, error, code, description)) => json(
            status,
            json!({
                "error": error,
                "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nCorrelation ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: 2026-01-01 00:00:00Z"),
                "error_codes": [code],
                "timestamp": "2026-01-01 00:00:00Z",
                "trace_id": "00000000-0000-0000-0000-000000000000",
                "correlation_id": "00000000-0000-0000-0000-000000000000",
                "error_uri": format!("https://{}/error?code={code}", req.host),
            }),
        ),
    }
}

type Failure = (u16, &'static str, u32, String);

fn token(shared: &Shared, req: &Req) -> Result<Resp, Failure> {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let [tenant, "oauth2", "v2.0", "token"] = segments.as_slice() else {
        return Err((404, "invalid_request", 90002, format!("no such endpoint {}", req.path)));
    };
    if req.method != hyper::Method::POST {
        return Err((400, "invalid_request", 900561, "The endpoint only accepts POST requests.".into()));
    }
    let form_type = req.header("content-type").unwrap_or_default();
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return Err((400, "invalid_request", 900144, "The request body must be form-urlencoded.".into()));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let missing = |name: &str| -> Failure {
        (400, "invalid_request", 900144, format!("The request body must contain the following parameter: '{name}'."))
    };
    let state = shared.state.lock().unwrap();
    if !state.apps.iter().any(|a| a.tenant == *tenant) {
        return Err((400, "invalid_request", 90002, format!("Tenant '{tenant}' not found.")));
    }
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err((400, "unsupported_grant_type", 70003, format!("The grant type {other} is not supported.")));
        }
        None => return Err(missing("grant_type")),
    }
    let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
    let app = state.apps.iter().find(|a| a.tenant == *tenant && a.client_id == client_id).cloned().ok_or_else(|| {
        (
            400,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        )
    })?;
    let scope = field("scope").ok_or_else(|| missing("scope"))?;
    let resource = scope.strip_suffix("/.default").ok_or_else(|| {
        (400, "invalid_scope", 1002012, format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."))
    })?;
    if !is_known_resource(resource) {
        return Err((400, "invalid_scope", 500011, format!("The resource principal named {resource} was not found in the tenant.")));
    }
    match (field("client_secret"), field("client_assertion")) {
        (Some(secret), None) => {
            if app.secret.as_deref() != Some(secret) {
                return Err((401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.".into()));
            }
        }
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(ASSERTION_TYPE) {
                return Err((
                    400,
                    "invalid_request",
                    900144,
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.".into(),
                ));
            }
            let claims =
                jwt::claims(assertion).ok_or_else(|| (400, "invalid_request", 50027, "JWT token is invalid or malformed.".to_string()))?;
            if claims["iss"] == client_id && claims["sub"] == client_id {
                let endpoint = format!("https://{}/{tenant}/oauth2/v2.0/token", req.host);
                check_certificate_assertion(&app, assertion, &claims, &endpoint)?;
            } else {
                check_assertion(shared, &app, assertion)?;
            }
        }
        (Some(_), Some(_)) => {
            return Err((400, "invalid_request", 90014, "Only one of client_secret and client_assertion may be sent.".into()));
        }
        (None, None) => {
            return Err((
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
            ));
        }
    }
    drop(state);
    Ok(issue(shared, client_id, resource))
}

fn check_assertion(shared: &Shared, app: &super::App, assertion: &str) -> Result<(), Failure> {
    let claims = jwt::claims(assertion).ok_or_else(|| (400, "invalid_request", 50027, "JWT token is invalid or malformed.".into()))?;
    let issuer = claims["iss"].as_str().unwrap_or_default();
    let subject = claims["sub"].as_str().unwrap_or_default();
    let audiences: Vec<&str> = match &claims["aud"] {
        serde_json::Value::String(a) => vec![a.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => vec![],
    };
    let by_issuer: Vec<_> = app.federated.iter().filter(|f| f.issuer == issuer).collect();
    if by_issuer.is_empty() {
        return Err((
            400,
            "invalid_client",
            700211,
            format!("No matching federated identity record found for presented assertion issuer '{issuer}'."),
        ));
    }
    let Some(record) = by_issuer.iter().find(|f| f.subject == subject) else {
        return Err((
            400,
            "invalid_client",
            700213,
            format!("No matching federated identity record found for presented assertion subject '{subject}'."),
        ));
    };
    if !audiences.contains(&record.audience.as_str()) {
        return Err((
            400,
            "invalid_client",
            700212,
            format!("No matching federated identity record found for presented assertion audience '{}'.", audiences.join(",")),
        ));
    }
    let key = shared.jwks.lock().unwrap().get(issuer).cloned().unwrap_or_default();
    if !jwt::verify_signature(assertion, &key) {
        return Err((
            401,
            "invalid_client",
            5002738,
            format!("Invalid JWT token. The token signature could not be verified with the keys of issuer '{issuer}'."),
        ));
    }
    let now = now();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let nbf = claims["nbf"].as_i64().unwrap_or(0);
    if exp + SKEW < now || nbf - SKEW > now {
        return Err((400, "invalid_client", 700024, "Client assertion is not within its valid time range.".into()));
    }
    Ok(())
}

/// A service principal's certificate credential (RFC 7523): signed with the registered
/// certificate's key, named by its `x5t` thumbprint, issued by and about the client itself, for
/// this token endpoint, within its validity window, with a `jti`.
fn check_certificate_assertion(app: &super::App, assertion: &str, claims: &serde_json::Value, endpoint: &str) -> Result<(), Failure> {
    let Some((thumbprint, public_key)) = &app.certificate else {
        return Err((
            401,
            "invalid_client",
            700027,
            "The certificate used to sign the client assertion is not registered on the application.".into(),
        ));
    };
    let header = jwt::header(assertion).unwrap_or_default();
    if header["x5t"].as_str() != Some(thumbprint.as_str()) {
        return Err((
            401,
            "invalid_client",
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                header["x5t"]
            ),
        ));
    }
    if !jwt::verify_signature(assertion, public_key) {
        return Err((401, "invalid_client", 700027, "Client assertion contains an invalid signature.".into()));
    }
    if claims["aud"].as_str() != Some(endpoint) {
        return Err((400, "invalid_client", 700212, format!("The audience of the client assertion must be {endpoint}.")));
    }
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err((400, "invalid_client", 50027, "The client assertion has no jti.".into()));
    }
    let now = now();
    let (exp, nbf) = (claims["exp"].as_i64().unwrap_or(0), claims["nbf"].as_i64().unwrap_or(0));
    if exp + SKEW < now || nbf - SKEW > now {
        return Err((400, "invalid_client", 700024, "Client assertion is not within its valid time range.".into()));
    }
    Ok(())
}

fn issue(shared: &Shared, principal: &str, resource: &str) -> Resp {
    let token = random_token();
    let mut state = shared.state.lock().unwrap();
    let lifetime = state.token_lifetime;
    let issued = Issued { principal: principal.into(), audience: resource.into(), expires: now() + lifetime };
    state.tokens.insert(token.clone(), issued);
    json(200, json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}))
}

/// The resources this tenant knows: Key Vault, and Azure Resource Manager under both of its
/// identifiers (what an ACR token exchange expects a token for).
pub const ARM_RESOURCES: [&str; 2] = ["https://management.azure.com", "https://management.core.windows.net/"];

pub fn is_known_resource(resource: &str) -> bool {
    resource == VAULT_RESOURCE || ARM_RESOURCES.iter().any(|r| r.trim_end_matches('/') == resource.trim_end_matches('/'))
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}", jwt::b64(&bytes))
}
