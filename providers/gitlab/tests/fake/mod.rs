//! A fake GitLab, written from the public REST API v4 reference for what the provider calls:
//! project and group CI/CD variables (single and list), and a project's ancestor groups. One per
//! test, on `127.0.0.1:0`, over plain HTTP.
//!
//! As GitLab it checks the `PRIVATE-TOKEN` header before anything else (401
//! `{"message":"401 Unauthorized"}`), answers a project or group the token cannot see with 404
//! `{"message":"404 Project Not Found"}`, a token without the Maintainer role with 403
//! `{"message":"403 Forbidden"}`, several variables of one key without a scope filter with 409,
//! pages lists with `page`/`per_page` (at most 100) and the `X-Page`, `X-Per-Page`, `X-Total`,
//! `X-Total-Pages`, `X-Next-Page` and `X-Prev-Page` headers, and throttles with 429, a
//! `Retry-After` header and the plain-text body `Retry later`.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Var {
    pub key: String,
    pub value: String,
    pub scope: String,
}

#[derive(Default)]
pub struct Owner {
    /// `group/sub/project` for a project, `group/sub` for a group.
    pub full_path: String,
    pub vars: Vec<Var>,
    /// A project's ancestor groups, as ids.
    pub groups: Vec<u64>,
}

/// What a token may do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Maintainer: reads variables.
    Maintainer,
    /// Developer: sees projects and groups, but variables are 403.
    Developer,
}

/// An error answered instead of serving a request whose path contains `path_part`.
pub struct Fault {
    pub path_part: String,
    pub status: u16,
    pub remaining: u32,
    pub retry_after: Option<u64>,
}

#[derive(Default)]
pub struct State {
    pub projects: BTreeMap<u64, Owner>,
    pub groups: BTreeMap<u64, Owner>,
    pub tokens: HashMap<String, Role>,
    pub faults: Vec<Fault>,
    /// `GET path?query` of every request, in order.
    pub log: Vec<String>,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeGitlab {
    pub url: String,
    pub state: Shared,
}

impl FakeGitlab {
    pub async fn start() -> FakeGitlab {
        let state: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/api/v4/projects/{id}/variables", get(list_project))
            .route("/api/v4/projects/{id}/variables/{key}", get(get_project))
            .route("/api/v4/projects/{id}/groups", get(project_groups))
            .route("/api/v4/groups/{id}/variables", get(list_group))
            .route("/api/v4/groups/{id}/variables/{key}", get(get_group))
            .fallback(|| async { message(404, "404 Not Found") })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake GitLab server") });
        FakeGitlab { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn token(&self, token: &str, role: Role) {
        self.lock().tokens.insert(token.into(), role);
    }

    pub fn project(&self, id: u64, full_path: &str, groups: &[u64]) {
        self.lock().projects.insert(id, Owner { full_path: full_path.into(), vars: Vec::new(), groups: groups.to_vec() });
    }

    pub fn group(&self, id: u64, full_path: &str) {
        self.lock().groups.insert(id, Owner { full_path: full_path.into(), ..Default::default() });
    }

    pub fn project_var(&self, id: u64, key: &str, value: &str, scope: &str) {
        self.lock().projects.get_mut(&id).expect("project exists").vars.push(Var {
            key: key.into(),
            value: value.into(),
            scope: scope.into(),
        });
    }

    pub fn group_var(&self, id: u64, key: &str, value: &str, scope: &str) {
        self.lock().groups.get_mut(&id).expect("group exists").vars.push(Var { key: key.into(), value: value.into(), scope: scope.into() });
    }

    pub fn remove_project_var(&self, id: u64, key: &str) {
        self.lock().projects.get_mut(&id).unwrap().vars.retain(|v| v.key != key);
    }

    /// Answer the next `times` requests whose path contains `path_part` with `status`.
    pub fn fail(&self, path_part: &str, status: u16, times: u32, retry_after: Option<u64>) {
        self.lock().faults.push(Fault { path_part: path_part.into(), status, remaining: times, retry_after });
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    pub fn count(&self, fragment: &str) -> usize {
        self.lock().log.iter().filter(|l| l.contains(fragment)).count()
    }
}

fn message(status: u16, text: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(json!({"message": text}))).into_response()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Project,
    Group,
}

/// Log, fault injection, token check and owner lookup: what GitLab does before the endpoint.
fn owner_of(state: &Shared, headers: &HeaderMap, uri: &Uri, kind: Kind, id: &str, needs_variables: bool) -> Result<u64, Response> {
    let mut s = state.lock().unwrap();
    s.log.push(format!("GET {uri}"));
    let path = uri.path().to_string();
    if let Some(fault) = s.faults.iter_mut().find(|f| f.remaining > 0 && path.contains(&f.path_part)) {
        fault.remaining -= 1;
        let status = StatusCode::from_u16(fault.status).unwrap();
        return Err(match (fault.status, fault.retry_after) {
            (429, after) => {
                let mut resp = (status, "Retry later\n").into_response();
                if let Some(after) = after {
                    resp.headers_mut().insert("Retry-After", after.to_string().parse().unwrap());
                }
                resp
            }
            (code, _) => message(code, &format!("{code} {}", status.canonical_reason().unwrap_or(""))),
        });
    }
    let token = headers.get("PRIVATE-TOKEN").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(role) = s.tokens.get(token).copied() else { return Err(message(401, "401 Unauthorized")) };
    let owners = match kind {
        Kind::Project => &s.projects,
        Kind::Group => &s.groups,
    };
    // An id is numeric or the URL-encoded full path (axum hands it decoded).
    let found = id
        .parse::<u64>()
        .ok()
        .filter(|n| owners.contains_key(n))
        .or_else(|| owners.iter().find(|(_, o)| o.full_path == id).map(|(n, _)| *n));
    let Some(n) = found else {
        return Err(message(404, if kind == Kind::Project { "404 Project Not Found" } else { "404 Group Not Found" }));
    };
    if needs_variables && role != Role::Maintainer {
        return Err(message(403, "403 Forbidden"));
    }
    Ok(n)
}

fn var_json(v: &Var) -> Value {
    json!({"variable_type": "env_var", "key": v.key, "value": v.value, "protected": false, "masked": false, "raw": false,
           "environment_scope": v.scope, "description": null})
}

fn vars_of(state: &Shared, kind: Kind, n: u64) -> Vec<Var> {
    let s = state.lock().unwrap();
    let owners = if kind == Kind::Project { &s.projects } else { &s.groups };
    owners[&n].vars.clone()
}

/// `GET …/variables/:key[?filter[environment_scope]=…]`
fn single(state: &Shared, kind: Kind, n: u64, key: &str, query: &HashMap<String, String>) -> Response {
    let filter = query.get("filter[environment_scope]");
    let hits: Vec<Var> = vars_of(state, kind, n).into_iter().filter(|v| v.key == key && filter.is_none_or(|f| &v.scope == f)).collect();
    match hits.as_slice() {
        [] => message(404, "404 Variable Not Found"),
        [one] => axum::Json(var_json(one)).into_response(),
        _ => message(409, "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"),
    }
}

/// One page of `items`, with GitLab's pagination headers.
fn page(items: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let per_page = query.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(20).clamp(1, 100);
    let page = query.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let body: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut resp = axum::Json(Value::Array(body)).into_response();
    let h = resp.headers_mut();
    let next = if page < pages { (page + 1).to_string() } else { String::new() };
    let prev = if page > 1 { (page - 1).to_string() } else { String::new() };
    for (name, value) in [
        ("X-Page", page.to_string()),
        ("X-Per-Page", per_page.to_string()),
        ("X-Total", total.to_string()),
        ("X-Total-Pages", pages.to_string()),
        ("X-Next-Page", next),
        ("X-Prev-Page", prev),
    ] {
        h.insert(name, value.parse().unwrap());
    }
    resp
}

async fn get_project(
    AxState(s): AxState<Shared>,
    Path((id, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match owner_of(&s, &headers, &uri, Kind::Project, &id, true) {
        Ok(n) => single(&s, Kind::Project, n, &key, &q),
        Err(resp) => resp,
    }
}

async fn get_group(
    AxState(s): AxState<Shared>,
    Path((id, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match owner_of(&s, &headers, &uri, Kind::Group, &id, true) {
        Ok(n) => single(&s, Kind::Group, n, &key, &q),
        Err(resp) => resp,
    }
}

async fn list_project(
    AxState(s): AxState<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match owner_of(&s, &headers, &uri, Kind::Project, &id, true) {
        Ok(n) => page(vars_of(&s, Kind::Project, n).iter().map(var_json).collect(), &q),
        Err(resp) => resp,
    }
}

async fn list_group(
    AxState(s): AxState<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match owner_of(&s, &headers, &uri, Kind::Group, &id, true) {
        Ok(n) => page(vars_of(&s, Kind::Group, n).iter().map(var_json).collect(), &q),
        Err(resp) => resp,
    }
}

/// `GET /projects/:id/groups`: the project's ancestor groups.
async fn project_groups(
    AxState(s): AxState<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let n = match owner_of(&s, &headers, &uri, Kind::Project, &id, false) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let items: Vec<Value> =
        {
            let st = s.lock().unwrap();
            let seen: BTreeSet<u64> = st.projects[&n].groups.iter().copied().collect();
            st.projects[&n].groups.iter().filter(|g| seen.contains(g)).filter_map(|g| st.groups.get(g).map(|o| (g, o))).map(|(g, o)| {
            let name = o.full_path.rsplit('/').next().unwrap_or_default();
            json!({"id": g, "name": name, "avatar_url": null, "web_url": format!("https://gitlab.example.com/groups/{}", o.full_path),
                   "full_name": o.full_path.replace('/', " / "), "full_path": o.full_path})
        }).collect()
        };
    page(items, &q)
}
