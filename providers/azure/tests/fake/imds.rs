//! The Instance Metadata Service's managed-identity endpoint,
//! `GET http://169.254.169.254/metadata/identity/oauth2/token`, reached as an HTTP proxy target
//! (the request line carries the absolute URL). Validates what IMDS validates: the `Metadata:
//! true` header, no `X-Forwarded-For`, `api-version`, `resource`, and the identity selector.
use serde_json::json;

use super::server::{Req, Resp, json};
use super::{Issued, Shared, entra, now};

pub const IMDS_HOST: &str = "169.254.169.254";

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let target = req.target_authority.as_deref().unwrap_or(&req.host);
    if target != IMDS_HOST && target != format!("{IMDS_HOST}:80") {
        return json(502, json!({"error": "bad_gateway", "error_description": format!("this proxy only reaches {IMDS_HOST}")}));
    }
    let bad = |description: &str| json(400, json!({"error": "invalid_request", "error_description": description}));
    if req.path != "/metadata/identity/oauth2/token" {
        return json(404, json!({"error": "not_found", "error_description": "no such IMDS endpoint"}));
    }
    if req.method != hyper::Method::GET {
        return json(405, json!({"error": "method_not_allowed", "error_description": "only GET is allowed"}));
    }
    if !req.header("metadata").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return bad("Required metadata header not specified");
    }
    if req.headers.contains_key("x-forwarded-for") {
        return bad("Bad request. X-Forwarded-For header is not allowed");
    }
    if req.query("api-version").is_none() {
        return bad("Required query variable 'api-version' is missing");
    }
    let Some(resource) = req.query("resource") else {
        return bad("Required query variable 'resource' is missing");
    };
    if !super::entra::is_known_resource(resource) {
        return json(
            400,
            json!({"error": "invalid_resource", "error_description": format!("AADSTS500011: The resource principal named {resource} was not found in the tenant.")}),
        );
    }
    let selector = req.query("client_id").or(req.query("object_id")).or(req.query("msi_res_id")).unwrap_or("system");
    let mut state = shared.state.lock().unwrap();
    if !state.managed_identities.contains(selector) {
        return bad("Identity not found");
    }
    let token = entra::random_token();
    let expires = now() + 86399;
    let issued = Issued { principal: format!("mi:{selector}"), audience: resource.trim_end_matches('/').into(), expires };
    state.tokens.insert(token.clone(), issued);
    json(
        200,
        json!({
            "access_token": token,
            "client_id": selector,
            "expires_in": "86399",
            "expires_on": expires.to_string(),
            "ext_expires_in": "86399",
            "not_before": now().to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}
