//! The Secret Manager v1 write methods, from the public REST reference: `secrets.create`
//! (`POST {parent}/secrets?secretId=`), `secrets.addVersion` (`POST {secret}:addVersion`),
//! `secrets.patch` (`PATCH {secret}?updateMask=`) and `secrets.delete` (`DELETE {secret}?etag=`),
//! with Google's checks: ids, labels, annotations and topics as documented, a payload of at most
//! 64 KiB whose CRC32C must match, ALREADY_EXISTS, NOT_FOUND and ABORTED on a stale etag.
use std::collections::BTreeMap;

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::api::{Scoped, authorize, parse, secret_json, version_json};
use super::wire::{error, ok};
use super::{Secret, State, Version, VersionState};

/// Secret Manager's limit on one version's payload.
const MAX_PAYLOAD: usize = 64 * 1024;

pub fn secret_manager(
    s: &mut State,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let (path, add_version) = match path.strip_suffix(":addVersion") {
        Some(p) => (p, true),
        None => (path, false),
    };
    let Some(mut p) = parse(path).filter(|p| !p.versions && !p.access) else {
        return error(404, "NOT_FOUND", format!("the fake has no Secret Manager method {method} {path}"));
    };
    let permission = match (method, &p.secret, add_version) {
        (&Method::POST, None, _) => "secretmanager.secrets.create",
        (&Method::POST, Some(_), true) => "secretmanager.versions.add",
        (&Method::PATCH, Some(_), false) => "secretmanager.secrets.update",
        (&Method::DELETE, Some(_), false) => "secretmanager.secrets.delete",
        _ => return error(404, "NOT_FOUND", format!("the fake has no Secret Manager method {method} {path}")),
    };
    let location = p.location.clone();
    let Scoped { scope, shown_scope } = match authorize(s, &mut p.project, location.as_deref(), headers, permission, path) {
        Ok(scoped) => scoped,
        Err(resp) => return resp,
    };
    let body: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(body).unwrap_or(Value::Null) };
    if !body.is_object() {
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    }
    let Some(id) = p.secret else {
        return create(s, &scope, &shown_scope, location.is_some(), query, &body);
    };
    let key = format!("{scope}/secrets/{id}");
    let shown = format!("{shown_scope}/secrets/{id}");
    if !s.secrets.contains_key(&key) {
        return error(404, "NOT_FOUND", format!("Secret [{shown}] not found."));
    }
    match *method {
        Method::POST => add(s, &key, &shown, &body),
        Method::PATCH => patch(s, &key, &shown, query, &body),
        _ => {
            if let Err(resp) = check_etag(&s.secrets[&key], query.get("etag").map(String::as_str), &shown) {
                return resp;
            }
            s.secrets.remove(&key);
            ok(json!({}))
        }
    }
}

fn create(s: &mut State, scope: &str, shown_scope: &str, regional: bool, query: &BTreeMap<String, String>, body: &Value) -> Response {
    let id = query.get("secretId").map_or("", String::as_str);
    if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return error(400, "INVALID_ARGUMENT", format!("Invalid secret id {id:?}: it must match [a-zA-Z0-9_-]{{1,255}}."));
    }
    let replication = body.get("replication").cloned().unwrap_or(Value::Null);
    match (regional, replication.is_null()) {
        (false, true) => return error(400, "INVALID_ARGUMENT", "Secret.replication is required."),
        (true, false) => return error(400, "INVALID_ARGUMENT", "Secret.replication must not be set for a regional secret."),
        _ => {}
    }
    let labels = match labels(body) {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    let annotations = match annotations(body) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let topics: Vec<String> =
        body["topics"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).map(str::to_string).collect();
    if topics.len() > 10 || topics.iter().any(|t| !t.starts_with("projects/") || !t.contains("/topics/")) {
        return error(400, "INVALID_ARGUMENT", "Secret.topics: at most 10 topics of the form projects/*/topics/*.");
    }
    let key = format!("{scope}/secrets/{id}");
    let shown = format!("{shown_scope}/secrets/{id}");
    if s.secrets.contains_key(&key) {
        return error(409, "ALREADY_EXISTS", format!("Secret [{shown}] already exists."));
    }
    let created = s.tick();
    let secret = Secret { labels, annotations, created, versions: Vec::new(), etag: created, topics, replication };
    let out = secret_json(&shown, &secret);
    s.secrets.insert(key, secret);
    ok(out)
}

fn add(s: &mut State, key: &str, shown: &str, body: &Value) -> Response {
    let Some(data) = body["payload"]["data"].as_str().and_then(|d| STANDARD.decode(d).ok()) else {
        return error(400, "INVALID_ARGUMENT", "SecretPayload.data is required and must be base64.");
    };
    if data.len() > MAX_PAYLOAD {
        return error(400, "INVALID_ARGUMENT", format!("Secret payload data cannot be larger than {MAX_PAYLOAD} bytes."));
    }
    let crc = &body["payload"]["dataCrc32c"];
    let sent = crc.as_str().and_then(|c| c.parse::<i64>().ok()).or_else(|| crc.as_i64());
    if sent.is_some_and(|c| c != i64::from(crc32c::crc32c(&data))) {
        return error(400, "INVALID_ARGUMENT", "Checksum mismatch: the payload's data_crc32c does not match its data.");
    }
    let created = s.tick();
    let secret = s.secrets.get_mut(key).expect("checked");
    secret.versions.push(Version { data, state: VersionState::Enabled, created });
    let n = secret.versions.len();
    ok(version_json(&format!("{shown}/versions/{n}"), &secret.versions[n - 1], true))
}

fn patch(s: &mut State, key: &str, shown: &str, query: &BTreeMap<String, String>, body: &Value) -> Response {
    let Some(mask) = query.get("updateMask").filter(|m| !m.is_empty()) else {
        return error(400, "INVALID_ARGUMENT", "update_mask is required.");
    };
    let fields: Vec<&str> = mask.split(',').collect();
    if let Some(bad) = fields.iter().find(|f| !matches!(**f, "labels" | "annotations" | "topics")) {
        return error(400, "INVALID_ARGUMENT", format!("The fake does not model update of field {bad:?} (or it is immutable)."));
    }
    if let Err(resp) = check_etag(&s.secrets[key], body["etag"].as_str(), shown) {
        return resp;
    }
    let labels = if fields.contains(&"labels") { Some(labels(body)) } else { None }.transpose();
    let annotations = if fields.contains(&"annotations") { Some(annotations(body)) } else { None }.transpose();
    let (labels, annotations) = match (labels, annotations) {
        (Ok(l), Ok(a)) => (l, a),
        (Err(resp), _) | (_, Err(resp)) => return resp,
    };
    let etag = s.tick();
    let secret = s.secrets.get_mut(key).expect("checked");
    if let Some(labels) = labels {
        secret.labels = labels;
    }
    if let Some(annotations) = annotations {
        secret.annotations = annotations;
    }
    if fields.contains(&"topics") {
        secret.topics = body["topics"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).map(str::to_string).collect();
    }
    secret.etag = etag;
    ok(secret_json(shown, secret))
}

/// An etag, when sent (the SDK sends an empty one for "none"), must be the current one.
fn check_etag(secret: &Secret, etag: Option<&str>, shown: &str) -> Result<(), Response> {
    match etag.filter(|e| !e.is_empty()) {
        Some(e) if e != format!("\"{}\"", secret.etag) => {
            Err(error(409, "ABORTED", format!("The etag provided in the request does not match the etag of Secret [{shown}].")))
        }
        _ => Ok(()),
    }
}

fn string_map(body: &Value, field: &str) -> Result<BTreeMap<String, String>, Response> {
    match &body[field] {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect::<Option<_>>()
            .ok_or_else(|| error(400, "INVALID_ARGUMENT", format!("Secret.{field} values must be strings."))),
        _ => Err(error(400, "INVALID_ARGUMENT", format!("Secret.{field} must be a map."))),
    }
}

/// At most 64 labels; keys `[a-z][a-z0-9_-]{0,62}`, values `[a-z0-9_-]{0,63}` (ASCII here).
fn labels(body: &Value) -> Result<BTreeMap<String, String>, Response> {
    let labels = string_map(body, "labels")?;
    let char_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
    let key_ok = |k: &str| (1..=63).contains(&k.len()) && k.as_bytes()[0].is_ascii_lowercase() && k.bytes().all(char_ok);
    let value_ok = |v: &str| v.len() <= 63 && v.bytes().all(char_ok);
    if labels.len() > 64 || labels.iter().any(|(k, v)| !key_ok(k) || !value_ok(v)) {
        return Err(error(
            400,
            "INVALID_ARGUMENT",
            "Secret.labels: at most 64 labels; keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}.",
        ));
    }
    Ok(labels)
}

/// Keys of 1–63 characters, alphanumeric at both ends with `-`, `_` and `.` between; keys and
/// values together below 16 KiB.
fn annotations(body: &Value) -> Result<BTreeMap<String, String>, Response> {
    let annotations = string_map(body, "annotations")?;
    let key_ok = |k: &str| {
        let b = k.as_bytes();
        (1..=63).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    };
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size >= 16 * 1024 || annotations.keys().any(|k| !key_ok(k)) {
        return Err(error(
            400,
            "INVALID_ARGUMENT",
            "Secret.annotations: keys of 1-63 characters [a-zA-Z0-9._-], all together below 16 KiB.",
        ));
    }
    Ok(annotations)
}
