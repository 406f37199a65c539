//! The fake's write side, from Infisical's API reference: `GET /api/v1/projects/slug/{slug}`
//! (and the older `/api/v1/workspace/slug/{slug}`) answer the project with its `id`;
//! `POST`, `PATCH` and `DELETE /api/v3/secrets/raw/{secretName}` take a JSON body with the
//! project's `workspaceId` (not its slug), `environment`, `secretPath` and, to create or update,
//! `secretValue`. As Infisical: an unknown project ID is 404, an unknown folder is 404, creating
//! an existing secret is 400, updating or deleting a missing one is 404.
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Shared, State, authorized, error, raw, reader};

/// The ID a project slug has, unless a test set another (a project recreated under its slug).
pub fn project_id(s: &State, slug: &str) -> String {
    s.project_ids.get(slug).cloned().unwrap_or_else(|| format!("{slug}-0000-id"))
}

fn slug_of(s: &State, id: &str) -> Option<String> {
    let mut slugs: Vec<&String> = s.folders.keys().map(|(p, _, _)| p).collect();
    slugs.dedup();
    slugs.into_iter().find(|slug| project_id(s, slug) == id).cloned()
}

/// `GET /api/v1/{projects,workspace}/slug/{slug}`.
pub async fn project(AxState(st): AxState<Shared>, Path((route, slug)): Path<(String, String)>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = reader(&st, &headers, &uri) {
        return r;
    }
    let s = st.lock().unwrap();
    let current = if s.legacy_project_route { "workspace" } else { "projects" };
    if route != current {
        return error(404, &format!("Route GET:{} not found", uri.path()));
    }
    if !s.folders.keys().any(|(p, _, _)| *p == slug) {
        return error(404, &format!("Project with slug '{slug}' not found"));
    }
    let id = project_id(&s, &slug);
    axum::Json(json!({"id": id, "_id": id, "name": slug, "slug": slug, "type": "secret-manager", "environments": []})).into_response()
}

/// `POST`, `PATCH` and `DELETE /api/v3/secrets/raw/{secretName}`.
pub async fn write(
    AxState(st): AxState<Shared>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Err(r) = authorized(&st, method.as_str(), &headers, &uri) {
        return r;
    }
    let mut s = st.lock().unwrap();
    s.write_bodies.push((method.to_string(), body.clone()));
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let id = field("workspaceId").unwrap_or_default();
    let Some(project) = slug_of(&s, &id) else {
        return error(404, &format!("Project with ID '{id}' not found"));
    };
    let env = field("environment").unwrap_or_default();
    if !s.folders.keys().any(|(p, e, _)| *p == project && *e == env) {
        return error(400, &format!("Environment with slug '{env}' in project with ID '{id}' not found"));
    }
    let path = field("secretPath").unwrap_or_else(|| "/".into());
    let Some(folder) = s.folders.get_mut(&(project, env.clone(), path.clone())) else {
        return error(404, &format!("Folder with path '{path}' in environment with slug '{env}' not found"));
    };
    let value = field("secretValue");
    match method {
        Method::POST if folder.contains_key(&name) => error(400, "Secret already exist"),
        Method::POST => {
            let Some(value) = value else { return error(422, "secretValue is required") };
            folder.insert(name.clone(), value.clone());
            axum::Json(json!({"secret": raw(&name, &value, &path, &env)})).into_response()
        }
        Method::PATCH => match folder.get_mut(&name) {
            None => error(404, &format!("Secret with name '{name}' not found")),
            Some(current) => {
                if let Some(value) = value {
                    *current = value;
                }
                axum::Json(json!({"secret": raw(&name, current, &path, &env)})).into_response()
            }
        },
        _ => match folder.remove(&name) {
            None => error(404, &format!("Secret with name '{name}' not found")),
            Some(old) => axum::Json(json!({"secret": raw(&name, &old, &path, &env)})).into_response(),
        },
    }
}
