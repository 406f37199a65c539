//! Routing, and the Secret Manager v1 resources: `projects/*[/locations/*]/secrets[/*[/versions[/*[:access]]]]`.
use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::wire::{self, Filter, error, ok, rfc3339};
use super::{Secret, Shared, State, Version, VersionState, tokens, write};

#[derive(Clone)]
pub struct App {
    pub state: Shared,
    pub url: String,
}

pub fn router(state: Shared, url: String) -> Router {
    Router::new().fallback(handle).with_state(App { state, url })
}

async fn handle(AxState(app): AxState<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query = wire::query(uri.query());
    let barrier = {
        let mut s = app.state.lock().unwrap();
        s.log.push(format!("{method} {path}"));
        s.rendezvous.as_ref().filter(|(part, _)| path.contains(part.as_str())).map(|(_, b)| b.clone())
    };
    if let Some(barrier) = barrier {
        barrier.wait().await;
    }
    let mut s = app.state.lock().unwrap();
    if let Some(f) = s.faults.iter_mut().find(|f| f.remaining > 0 && path.contains(&f.path_part)) {
        f.remaining -= 1;
        let message = format!("injected {} for {path}", f.status);
        return match f.retry_delay {
            None => error(f.http, f.status, message),
            Some(delay) => wire::error_with_details(
                f.http,
                f.status,
                message,
                json!([{
                    "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay,
                }]),
            ),
        };
    }
    match (&method, path.as_str()) {
        (&Method::POST, "/v1/token") => tokens::sts(&mut s, &body),
        (&Method::POST, "/token") => tokens::oauth(&mut s, &app.url, &body),
        (&Method::GET, p) if p.starts_with("/computeMetadata/v1/") => tokens::metadata(&mut s, p, &query, &headers),
        (&Method::POST, p) if p.starts_with("/v1/projects/-/serviceAccounts/") && p.ends_with(":signJwt") => {
            tokens::sign_jwt(&mut s, p, &headers, &body)
        }
        (&Method::POST, p) if p.starts_with("/v1/projects/-/serviceAccounts/") => tokens::generate_access_token(&mut s, p, &headers, &body),
        (&Method::GET, p) if p.starts_with("/v1/projects/") => secret_manager(&mut s, &p[4..], &query, &headers),
        (m, p) if p.starts_with("/v1/projects/") && matches!(*m, Method::POST | Method::PATCH | Method::DELETE) => {
            write::secret_manager(&mut s, m, &p[4..], &query, &headers, &body)
        }
        _ => error(404, "NOT_FOUND", format!("the fake has no route for {method} {path}")),
    }
}

/// A parsed Secret Manager resource path.
pub struct Path {
    pub project: String,
    pub location: Option<String>,
    pub secret: Option<String>,
    pub versions: bool,
    pub version: Option<String>,
    pub access: bool,
}

pub fn parse(path: &str) -> Option<Path> {
    let (path, access) = match path.strip_suffix(":access") {
        Some(p) => (p, true),
        None => (path, false),
    };
    let seg: Vec<&str> = path.split('/').collect();
    let (project, rest) = match seg.as_slice() {
        ["projects", p, "locations", l, rest @ ..] => ((p.to_string(), Some(l.to_string())), rest),
        ["projects", p, rest @ ..] => ((p.to_string(), None), rest),
        _ => return None,
    };
    let mut p = Path { project: project.0, location: project.1, secret: None, versions: false, version: None, access };
    match rest {
        ["secrets"] => {}
        ["secrets", s] => p.secret = Some(s.to_string()),
        ["secrets", s, "versions"] => (p.secret, p.versions) = (Some(s.to_string()), true),
        ["secrets", s, "versions", v] => (p.secret, p.versions, p.version) = (Some(s.to_string()), true, Some(v.to_string())),
        _ => return None,
    }
    (!access || p.version.is_some()).then_some(p)
}

/// A request's resource with its project resolved: `scope` names the project by id (the
/// state's keys), `shown_scope` by number (what responses say).
pub struct Scoped {
    pub scope: String,
    pub shown_scope: String,
}

/// Resolve the project (by id or number), then check the caller as Google does before anything
/// else: authenticated, and granted `permission` on the project.
pub fn authorize(
    s: &mut State,
    project: &mut String,
    location: Option<&str>,
    headers: &HeaderMap,
    permission: &str,
    path: &str,
) -> Result<Scoped, Response> {
    // Requests may name a project by id or number; responses use the number.
    if let Some((id, _)) = s.projects.iter().find(|(_, n)| n.to_string() == *project) {
        *project = id.clone();
    }
    let number = s.projects.get(project.as_str()).map_or(project.clone(), u64::to_string);
    let scope = match location {
        Some(l) => format!("projects/{project}/locations/{l}"),
        None => format!("projects/{project}"),
    };
    let shown_scope = scope.replacen(project.as_str(), &number, 1);
    let principal = tokens::principal(s, headers)?;
    if !s.grants.contains(&(project.clone(), principal)) {
        return Err(error(
            403,
            "PERMISSION_DENIED",
            format!("Permission '{permission}' denied for resource '{path}' (or it may not exist)."),
        ));
    }
    Ok(Scoped { scope, shown_scope })
}

fn secret_manager(s: &mut State, path: &str, query: &BTreeMap<String, String>, headers: &HeaderMap) -> Response {
    let Some(mut p) = parse(path) else {
        return error(404, "NOT_FOUND", format!("the fake has no Secret Manager resource {path}"));
    };
    let permission = match (&p.secret, p.versions, p.access) {
        (None, _, _) => "secretmanager.secrets.list",
        (Some(_), _, true) => "secretmanager.versions.access",
        (Some(_), true, _) => "secretmanager.versions.list",
        (Some(_), false, _) => "secretmanager.secrets.get",
    };
    let Scoped { scope, shown_scope } = match authorize(s, &mut p.project, p.location.clone().as_deref(), headers, permission, path) {
        Ok(scoped) => scoped,
        Err(resp) => return resp,
    };
    let enum_int = query.get("$alt").is_some_and(|v| v.contains("enum-encoding=int"));
    let Some(id) = p.secret.clone() else {
        return list_secrets(s, &scope, &shown_scope, query);
    };
    let shown = format!("{shown_scope}/secrets/{id}");
    let Some(secret) = s.secrets.get(&format!("{scope}/secrets/{id}")) else {
        let what = if p.access { "not found or has no versions" } else { "not found" };
        return error(404, "NOT_FOUND", format!("Secret [{shown}] {what}."));
    };
    match (p.versions, p.version.as_deref()) {
        (false, _) => ok(secret_json(&shown, secret)),
        (true, None) => list_versions(&shown, secret, query, enum_int),
        (true, Some(v)) => {
            let n = match resolve(secret, v) {
                Ok(n) => n,
                Err(None) => return error(404, "NOT_FOUND", format!("Secret [{shown}] not found or has no versions.")),
                Err(Some(msg)) => return error(400, "INVALID_ARGUMENT", msg),
            };
            let Some(version) = secret.versions.get(n - 1) else {
                return error(404, "NOT_FOUND", format!("Secret Version [{shown}/versions/{n}] not found."));
            };
            if !p.access {
                return ok(version_json(&format!("{shown}/versions/{n}"), version, enum_int));
            }
            match version.state {
                VersionState::Enabled => ok(json!({
                    "name": format!("{shown}/versions/{n}"),
                    "payload": {
                        "data": STANDARD.encode(&version.data),
                        "dataCrc32c": (crc32c::crc32c(&version.data) ^ u32::from(s.corrupt_checksums)).to_string(),
                    },
                })),
                state => {
                    error(400, "FAILED_PRECONDITION", format!("Secret Version [{shown}/versions/{n}] is in {} state.", state_name(state)))
                }
            }
        }
    }
}

/// `latest` is the most recently created version, whatever its state; else a version number.
fn resolve(secret: &Secret, v: &str) -> Result<usize, Option<String>> {
    if v == "latest" {
        return if secret.versions.is_empty() { Err(None) } else { Ok(secret.versions.len()) };
    }
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Some(format!("Invalid secret version id {v:?}: must be a positive integer or 'latest'."))),
    }
}

fn state_name(state: VersionState) -> &'static str {
    match state {
        VersionState::Enabled => "ENABLED",
        VersionState::Disabled => "DISABLED",
        VersionState::Destroyed => "DESTROYED",
    }
}

pub fn secret_json(name: &str, secret: &Secret) -> Value {
    let mut out = json!({
        "name": name,
        "createTime": rfc3339(secret.created),
        "labels": secret.labels,
        "annotations": secret.annotations,
        "etag": format!("\"{}\"", secret.etag),
    });
    if !secret.replication.is_null() {
        out["replication"] = secret.replication.clone();
    }
    if !secret.topics.is_empty() {
        out["topics"] = secret.topics.iter().map(|t| json!({"name": t})).collect();
    }
    out
}

pub fn version_json(name: &str, v: &Version, enum_int: bool) -> Value {
    let state = if enum_int {
        json!(match v.state {
            VersionState::Enabled => 1,
            VersionState::Disabled => 2,
            VersionState::Destroyed => 3,
        })
    } else {
        json!(state_name(v.state))
    };
    let mut out = json!({"name": name, "createTime": rfc3339(v.created), "state": state, "etag": format!("\"{}\"", v.created)});
    if v.state == VersionState::Destroyed {
        out["destroyTime"] = json!(rfc3339(v.created + 1));
    }
    out
}

/// One page of `items`, as every Secret Manager list method pages.
fn page(items: Vec<Value>, field: &str, query: &BTreeMap<String, String>, default_size: usize) -> Response {
    let size = match query.get("pageSize").map(|s| s.parse::<usize>()) {
        None | Some(Ok(0)) => default_size,
        Some(Ok(n)) => n.min(25_000),
        Some(Err(_)) => return error(400, "INVALID_ARGUMENT", "Invalid page size."),
    };
    let Some(start) = wire::parse_page_token(query.get("pageToken").map_or("", String::as_str)) else {
        return error(400, "INVALID_ARGUMENT", "Invalid page token.");
    };
    let total = items.len();
    let chunk: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    let mut body = json!({ field: chunk, "totalSize": total });
    if start + size < total {
        body["nextPageToken"] = json!(wire::page_token(start + size));
    }
    ok(body)
}

fn list_secrets(s: &State, scope: &str, shown_scope: &str, query: &BTreeMap<String, String>) -> Response {
    let filter = match Filter::parse(query.get("filter").map_or("", String::as_str)) {
        Ok(f) => f,
        Err(msg) => return error(400, "INVALID_ARGUMENT", msg),
    };
    let prefix = format!("{scope}/secrets/");
    let items = s
        .secrets
        .iter()
        .filter_map(|(name, secret)| Some((name.strip_prefix(&prefix)?, secret)))
        .filter(|(id, _)| !id.contains('/'))
        .map(|(id, secret)| (format!("{shown_scope}/secrets/{id}"), secret))
        .filter(|(name, secret)| filter.matches(&[("name", name.clone())].into(), &secret.labels))
        .map(|(name, secret)| secret_json(&name, secret))
        .collect();
    page(items, "secrets", query, s.page_size)
}

/// Newest first, as the real service lists versions.
fn list_versions(shown: &str, secret: &Secret, query: &BTreeMap<String, String>, enum_int: bool) -> Response {
    let filter = match Filter::parse(query.get("filter").map_or("", String::as_str)) {
        Ok(f) => f,
        Err(msg) => return error(400, "INVALID_ARGUMENT", msg),
    };
    let items = secret
        .versions
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, v)| filter.matches(&[("state", state_name(v.state).to_string())].into(), &BTreeMap::new()))
        .map(|(i, v)| version_json(&format!("{shown}/versions/{}", i + 1), v, enum_int))
        .collect();
    page(items, "versions", query, 25_000)
}
