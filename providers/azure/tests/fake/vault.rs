//! Key Vault's data plane: secrets, keys and certificates by name and version, secret listings
//! with `nextLink` paging, the bearer challenge and token check, and Key Vault's error bodies
//! (`{"error": {"code", "message", "innererror"}}`). Writes are in `vault_write`.
use base64::Engine;
use serde_json::{Map, Value, json};

use super::server::{Req, Resp, json};
use super::{Object, Shared, State, TENANT, VAULT_RESOURCE, now};

const API_VERSIONS: &[&str] = &["7.4", "7.5", "7.6", "2025-07-01"];

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    match req.query("api-version") {
        None => {
            return error(400, "BadParameter", "The 'api-version' query parameter is missing.", None);
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            return error(400, "BadParameter", &format!("The specified version ({v}) is not recognized."), None);
        }
        Some(_) => {}
    }
    let principal = match authenticate(shared, req) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let mut state = shared.state.lock().unwrap();
    if let Some(i) = state.faults.iter().position(|f| req.path.starts_with(&f.path_prefix)) {
        let fault = state.faults.remove(i).unwrap();
        let mut resp = error(fault.status, &fault.code, "Injected failure.", None);
        if let Some(after) = fault.retry_after {
            resp.headers_mut().insert("retry-after", after.parse().unwrap());
        }
        return resp;
    }
    if req.method == hyper::Method::PUT || req.method == hyper::Method::DELETE || req.method == hyper::Method::POST {
        return super::vault_write::handle(&mut state, req, &principal);
    }
    if req.method != hyper::Method::GET {
        return error(405, "MethodNotAllowed", "The fake vault serves GET, PUT, POST and DELETE.", None);
    }
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (collection, rest) = segments.split_first().unwrap();
    let (kind, noun) = match *collection {
        "secrets" => ("secrets", "secret"),
        "keys" => ("keys", "key"),
        "certificates" => ("certificates", "certificate"),
        _ => {
            return error(404, "NotFound", "The requested resource does not exist.", None);
        }
    };
    let rest: Vec<&str> = rest.iter().copied().filter(|s| !s.is_empty()).collect();
    let host = req.host.clone();
    match rest.as_slice() {
        [] => list(&state, req, &host, kind, None),
        [name, "versions"] => list(&state, req, &host, kind, Some(name)),
        [name] | [name, _] => {
            let version = rest.get(1).copied();
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || name.len() > 127 {
                return error(400, "BadParameter", &format!("The request URI contains an invalid name: {name}"), None);
            }
            if state.denied.contains(&(principal.clone(), name.to_string())) {
                let message = format!(
                    "The user, group or application '{principal}' does not have {kind} get permission on key vault 'sesame-test;location=westeurope'."
                );
                return error(403, "Forbidden", &message, Some("AccessDenied"));
            }
            get(&mut state, &host, kind, noun, name, version)
        }
        _ => error(404, "NotFound", "The requested resource does not exist.", None),
    }
}

/// The challenge flow: no token → 401 with the authority and resource to get one for; a token
/// Entra ID did not issue for this vault, or an expired one → 401 again.
#[allow(clippy::result_large_err)]
fn authenticate(shared: &Shared, req: &Req) -> Result<String, Resp> {
    let challenge = |code: &str, message: &str| {
        let mut resp = error(401, "Unauthorized", &format!("{code}: {message}"), None);
        let value = format!("Bearer authorization=\"https://login.microsoftonline.com/{TENANT}\", resource=\"{VAULT_RESOURCE}\"");
        resp.headers_mut().insert("www-authenticate", value.parse().unwrap());
        resp
    };
    let Some(auth) = req.header("authorization") else {
        return Err(challenge("AKV10000", "Request is missing a Bearer or PoP token."));
    };
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Err(challenge("AKV10001", "Authorization header is not a Bearer token."));
    };
    let state = shared.state.lock().unwrap();
    let Some(issued) = state.tokens.get(token) else {
        return Err(challenge("AKV10032", "Invalid issuer or signature."));
    };
    if issued.audience != VAULT_RESOURCE {
        return Err(challenge("AKV10022", "Invalid audience."));
    }
    if issued.expires <= now() {
        return Err(challenge("AKV10013", "Token has expired."));
    }
    Ok(issued.principal.clone())
}

pub fn get(state: &mut State, host: &str, kind: &str, noun: &str, name: &str, version: Option<&str>) -> Resp {
    let objects = match kind {
        "secrets" => &state.secrets,
        "keys" => &state.keys,
        _ => &state.certs,
    };
    let object = objects.get(name).and_then(|versions| match version {
        Some(v) => versions.iter().find(|o| o.version == v),
        None => versions.last(),
    });
    let Some(object) = object else {
        let code = format!("{}NotFound", capitalized(noun));
        let message = format!(
            "A {noun} with (name/id) {name} was not found in this key vault. If you recently deleted this {noun} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        );
        return error(404, &code, &message, None);
    };
    let id = format!("https://{host}/{kind}/{name}/{}", object.version);
    let mut body = Map::new();
    match kind {
        "secrets" => {
            if !object.enabled {
                return error(403, "Forbidden", "Operation get is not allowed on a disabled secret.", Some("SecretDisabled"));
            }
            body.insert("value".into(), json!(object.value));
            body.insert("id".into(), json!(id));
        }
        "keys" => {
            let mut key = object.key.clone().unwrap_or_else(|| json!({}));
            key["kid"] = json!(id);
            body.insert("key".into(), key);
        }
        _ => {
            body.insert("id".into(), json!(id));
            body.insert("kid".into(), json!(format!("https://{host}/keys/{name}/{}", object.version)));
            body.insert("sid".into(), json!(format!("https://{host}/secrets/{name}/{}", object.version)));
            body.insert("cer".into(), json!(object.value));
        }
    }
    common_fields(&mut body, object);
    json(200, Value::Object(body))
}

/// `GET /secrets` and `GET /secrets/{name}/versions`: items without values, `maxresults` per page
/// (at most 25), and an absolute `nextLink` carrying a `$skiptoken` while more remain.
fn list(state: &State, req: &Req, host: &str, kind: &str, name: Option<&str>) -> Resp {
    if kind != "secrets" {
        return error(405, "MethodNotAllowed", "The fake vault lists secrets only.", None);
    }
    let items: Vec<(String, &Object)> = match name {
        None => state.secrets.iter().filter_map(|(n, v)| v.last().map(|o| (format!("https://{host}/secrets/{n}"), o))).collect(),
        Some(n) => match state.secrets.get(n) {
            Some(versions) => versions.iter().map(|o| (format!("https://{host}/secrets/{n}/{}", o.version), o)).collect(),
            None => {
                return error(404, "SecretNotFound", &format!("A secret with (name/id) {n} was not found in this key vault."), None);
            }
        },
    };
    let page_size = match req.query("maxresults").map(str::parse::<usize>) {
        None => state.page_size,
        Some(Ok(n)) if (1..=25).contains(&n) => n,
        Some(_) => {
            return error(400, "BadParameter", "maxresults must be between 1 and 25.", None);
        }
    };
    let start = match req.query("$skiptoken") {
        None => 0,
        Some(token) => match skiptoken_offset(token) {
            Some(n) => n,
            None => return error(400, "BadParameter", "The $skiptoken is not valid.", None),
        },
    };
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(page_size)
        .map(|(id, object)| {
            let mut item = Map::new();
            item.insert("id".into(), json!(id));
            common_fields(&mut item, object);
            Value::Object(item)
        })
        .collect();
    let next = start + page.len();
    let next_link = (next < items.len()).then(|| {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("offset:{next}"));
        let path = name.map_or("/secrets".to_string(), |n| format!("/secrets/{n}/versions"));
        let mut link = url::Url::parse(&format!("https://{host}:443{path}")).unwrap();
        link.query_pairs_mut()
            .append_pair("api-version", req.query("api-version").unwrap_or_default())
            .append_pair("$skiptoken", &token)
            .append_pair("maxresults", &page_size.to_string());
        link.to_string()
    });
    json(200, json!({"value": page, "nextLink": next_link}))
}

fn skiptoken_offset(token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("offset:")?.parse().ok()
}

pub fn common_fields(body: &mut Map<String, Value>, object: &Object) {
    let mut attributes = json!({
        "enabled": object.enabled,
        "created": object.created,
        "updated": object.created,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": 90,
    });
    if let Some(exp) = object.exp {
        attributes["exp"] = json!(exp);
    }
    if let Some(nbf) = object.nbf {
        attributes["nbf"] = json!(nbf);
    }
    body.insert("attributes".into(), attributes);
    if !object.tags.is_empty() {
        body.insert("tags".into(), json!(object.tags));
    }
    if let Some(ct) = &object.content_type {
        body.insert("contentType".into(), json!(ct));
    }
}

pub fn error(status: u16, code: &str, message: &str, inner: Option<&str>) -> Resp {
    let mut detail = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        detail["innererror"] = json!({"code": inner});
    }
    json(status, json!({"error": detail}))
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
