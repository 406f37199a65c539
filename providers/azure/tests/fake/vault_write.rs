//! Key Vault's secret writes, from the REST reference: Set Secret (`PUT /secrets/{name}`, a new
//! current version with value, contentType, attributes and tags) and Delete Secret
//! (`DELETE /secrets/{name}`, a soft delete answering the DeletedSecretBundle). A soft-deleted
//! name cannot be set again until it is recovered or purged (409 ObjectIsDeletedButRecoverable).
//! Keys and certificates (import, delete) are in `vault_import`.
use serde_json::{Map, Value, json};

use super::server::{Req, Resp, json};
use super::vault::{common_fields, error};
use super::{Fake, Object, State, now};

/// Key Vault's documented limits: a secret value of at most 25 KiB, at most 15 tags, tag names
/// of at most 512 characters and values of at most 256.
const MAX_VALUE: usize = 25 * 1024;
pub const MAX_TAGS: usize = 15;

pub fn handle(state: &mut State, req: &Req, principal: &str) -> Resp {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (collection, name) = match (&req.method, segments.as_slice()) {
        (&hyper::Method::PUT | &hyper::Method::DELETE, [collection @ ("secrets" | "keys" | "certificates"), name]) => (*collection, *name),
        (&hyper::Method::POST, ["certificates", name, "import"]) => ("certificates", *name),
        _ => return error(405, "MethodNotAllowed", "The fake vault does not serve this write.", None),
    };
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || name.len() > 127 {
        return error(400, "BadParameter", &format!("The request URI contains an invalid name: {name}"), None);
    }
    if state.denied.contains(&(principal.to_string(), name.to_string())) {
        let op = match (collection, &req.method) {
            (_, &hyper::Method::DELETE) => "delete",
            ("secrets", _) => "set",
            _ => "import",
        };
        let message = format!(
            "The user, group or application '{principal}' does not have {collection} {op} permission on key vault 'sesame-test;location=westeurope'."
        );
        return error(403, "Forbidden", &message, Some("AccessDenied"));
    }
    match (collection, req.method == hyper::Method::DELETE) {
        ("secrets", false) => set(state, req, name),
        ("secrets", true) => delete(state, &req.host, name),
        (_, true) => super::vault_import::delete(state, &req.host, collection, name),
        ("keys", false) => super::vault_import::import_key(state, req, name),
        _ => super::vault_import::import_certificate(state, req, name),
    }
}

fn set(state: &mut State, req: &Req, name: &str) -> Resp {
    if state.deleted_secrets.contains_key(name) {
        let message = format!(
            "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
        );
        return error(409, "Conflict", &message, Some("ObjectIsDeletedButRecoverable"));
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return error(400, "BadParameter", "The request body is not a JSON object.", None);
    };
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return error(400, "BadParameter", "Property value is required.", None);
    };
    if value.len() > MAX_VALUE {
        return error(400, "BadParameter", &format!("The secret value exceeds the maximum size of {MAX_VALUE} bytes."), None);
    }
    let tags = match tags(&body) {
        Ok(tags) => tags,
        Err(resp) => return resp,
    };
    let attributes = body.get("attributes").cloned().unwrap_or(Value::Null);
    let object = Object {
        value: value.to_string(),
        enabled: attributes["enabled"].as_bool().unwrap_or(true),
        exp: attributes["exp"].as_i64(),
        nbf: attributes["nbf"].as_i64(),
        tags,
        content_type: body.get("contentType").and_then(Value::as_str).map(str::to_string),
        version: Fake::next_version(state),
        created: now(),
        key: None,
    };
    let id = format!("https://{}/secrets/{name}/{}", req.host, object.version);
    let mut out = Map::new();
    out.insert("value".into(), json!(object.value));
    out.insert("id".into(), json!(id));
    common_fields(&mut out, &object);
    state.secrets.entry(name.to_string()).or_default().push(object);
    json(200, Value::Object(out))
}

fn delete(state: &mut State, host: &str, name: &str) -> Resp {
    let Some(versions) = state.secrets.remove(name) else {
        let message = format!("A secret with (name/id) {name} was not found in this key vault.");
        return error(404, "SecretNotFound", &message, None);
    };
    let latest = versions.last().cloned().unwrap_or_default();
    state.deleted_secrets.insert(name.to_string(), versions);
    let deleted = now();
    let mut out = Map::new();
    out.insert("recoveryId".into(), json!(format!("https://{host}/deletedsecrets/{name}")));
    out.insert("deletedDate".into(), json!(deleted));
    out.insert("scheduledPurgeDate".into(), json!(deleted + 90 * 86_400));
    out.insert("id".into(), json!(format!("https://{host}/secrets/{name}/{}", latest.version)));
    common_fields(&mut out, &latest);
    json(200, Value::Object(out))
}

/// A request's `tags`, within Key Vault's limits.
#[allow(clippy::result_large_err)]
pub fn tags(body: &Map<String, Value>) -> Result<std::collections::BTreeMap<String, String>, Resp> {
    let tags = match body.get("tags") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(tags)) => tags.clone(),
        Some(_) => return Err(error(400, "BadParameter", "Property tags must be an object.", None)),
    };
    let too_long = tags.iter().any(|(k, v)| k.len() > 512 || v.as_str().is_none_or(|v| v.len() > 256));
    if tags.len() > MAX_TAGS || too_long {
        let message = "At most 15 tags; tag names of at most 512 characters and string values of at most 256.";
        return Err(error(400, "BadParameter", message, None));
    }
    Ok(tags.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect())
}
