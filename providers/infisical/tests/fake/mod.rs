//! A fake Infisical API, written from Infisical's public API reference for what the provider
//! calls: the machine-identity logins (`POST /api/v1/auth/{universal,jwt,ldap}-auth/login`; the
//! cloud and Kubernetes ones and the metadata services they need are in `cloud.rs`, the
//! key-signed GCP IAM and OCI ones and Google's token and signJwt endpoints in `signed.rs`),
//! `POST /api/v1/auth/token/renew` and `/revoke`, `GET /api/v3/secrets/raw/{secretName}` and
//! `GET /api/v3/secrets/raw`; PushSecret's project lookup and writes are in `writes.rs`. One per test, on `127.0.0.1:0`, over plain HTTP.
//!
//! As Infisical it answers errors as `{"reqId", "statusCode", "message", "error"}`; reads need
//! `Authorization: Bearer <token>` of a live token (401 otherwise); an unknown project or secret
//! is 404; a wrong client secret is 401; `include_imports` merges imported folders (a folder's own
//! secret wins), `recursive` lists sub-folders, `expandSecretReferences` expands `${NAME}`.
#![allow(dead_code, clippy::result_large_err)]

pub mod cloud;
pub mod signed;
pub mod writes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// (project slug, environment slug, folder).
type Folder = (String, String, String);

#[derive(Default)]
pub struct State {
    pub folders: BTreeMap<Folder, BTreeMap<String, String>>,
    /// A folder → the folders it imports.
    pub imports: BTreeMap<Folder, Vec<Folder>>,
    /// Universal Auth: client ID → client secret.
    pub clients: HashMap<String, String>,
    /// JWT Auth: identity ID → the one JWT it accepts.
    pub jwts: HashMap<String, String>,
    /// LDAP Auth: identity ID → (user, password).
    pub ldap: HashMap<String, (String, String)>,
    /// Live access tokens → expiry.
    pub tokens: HashMap<String, Instant>,
    /// Lifetime of issued tokens.
    pub ttl: Duration,
    /// The `expiresIn` a login or renewal answers, when not the true lifetime: 0 makes a client
    /// renew before every call, without a test waiting for a token to age.
    pub advertised_ttl: Option<u64>,
    pub issued: u32,
    /// (path part, status, remaining).
    pub faults: Vec<(String, u16, u32)>,
    /// `METHOD path?query` of every request.
    pub log: Vec<String>,
    /// Bodies of login requests (to check what the provider sends).
    pub login_bodies: Vec<Value>,
    /// Kubernetes Auth: identity ID → the ServiceAccount (`sub`) it trusts.
    pub k8s_identities: HashMap<String, String>,
    /// Azure Auth: identity ID → the resource (`aud`) it expects.
    pub azure_identities: HashMap<String, String>,
    /// GCP ID token Auth: identity IDs, and the service account the metadata server is.
    pub gcp_identities: Vec<String>,
    pub gcp_service_account: String,
    /// AWS Auth: identity ID → the caller ARN it trusts (the access key ID without STS).
    pub aws_identities: HashMap<String, String>,
    /// Where AWS Auth requests are replayed (moto's `http://host:port`).
    pub sts_forward: Option<String>,
    /// Project slug → ID, where a test set one (see `writes::project_id`).
    pub project_ids: HashMap<String, String>,
    /// An older Infisical: projects are found by slug under `/api/v1/workspace/slug` only.
    pub legacy_project_route: bool,
    /// (method, body) of every write.
    pub write_bodies: Vec<(String, Value)>,
    /// GCP IAM and OCI Auth, and Google's side (`signed.rs`).
    pub signed: signed::Signed,
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeInfisical {
    pub url: String,
    pub state: Shared,
}

impl FakeInfisical {
    pub async fn start() -> FakeInfisical {
        let state: Shared = Arc::new(Mutex::new(State { ttl: Duration::from_secs(7200), ..State::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/api/v1/auth/{method}/login", post(login))
            .route("/api/v1/auth/token/renew", post(renew))
            .route("/api/v1/auth/token/revoke", post(revoke))
            .route("/api/v3/secrets/raw", get(list))
            .route("/api/v3/secrets/raw/{name}", get(retrieve).post(writes::write).patch(writes::write).delete(writes::write))
            .route("/api/v1/{route}/slug/{slug}", get(writes::project))
            .route("/metadata/identity/oauth2/token", get(cloud::azure_imds))
            .route("/computeMetadata/v1/instance/service-accounts/default/identity", get(cloud::gcp_metadata))
            .route("/token", post(signed::google_token))
            .route("/v1/projects/-/serviceAccounts/{name}", post(signed::sign_jwt))
            .fallback(|uri: Uri| async move { error(404, &format!("Route {} not found", uri.path())) })
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake Infisical server") });
        FakeInfisical { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn secret(&self, project: &str, env: &str, folder: &str, name: &str, value: &str) {
        self.lock().folders.entry((project.into(), env.into(), folder.into())).or_default().insert(name.into(), value.into());
    }

    pub fn import(&self, project: &str, env: &str, folder: &str, from: &str) {
        self.lock().imports.entry((project.into(), env.into(), folder.into())).or_default().push((project.into(), env.into(), from.into()));
    }

    pub fn client(&self, id: &str, secret: &str) {
        self.lock().clients.insert(id.into(), secret.into());
    }

    pub fn kubernetes_identity(&self, identity: &str, subject: &str) {
        self.lock().k8s_identities.insert(identity.into(), subject.into());
    }

    pub fn azure_identity(&self, identity: &str, resource: &str) {
        self.lock().azure_identities.insert(identity.into(), resource.into());
    }

    /// The metadata server runs as `service_account`, which `identity` trusts.
    pub fn gcp_identity(&self, identity: &str, service_account: &str) {
        let mut s = self.lock();
        s.gcp_identities.push(identity.into());
        s.gcp_service_account = service_account.into();
    }

    /// `caller`: an ARN when requests are replayed to `sts`, else an access key ID.
    pub fn aws_identity(&self, identity: &str, caller: &str, sts: Option<&str>) {
        let mut s = self.lock();
        s.aws_identities.insert(identity.into(), caller.into());
        s.sts_forward = sts.map(str::to_string);
    }

    /// Google knows `email` by `public` (its key file's), and the IAM identity trusts it.
    pub fn gcp_iam_identity(&self, identity: &str, email: &str, public: Vec<u8>) {
        let mut s = self.lock();
        s.signed.sa_keys.insert(email.into(), public);
        s.signed.gcp_iam_identities.insert(identity.into(), email.into());
    }

    /// The OCI identity trusts `user` of `tenancy`, whose API key `public` is.
    pub fn oci_identity(&self, identity: &str, tenancy: &str, user: &str, public: Vec<u8>) {
        self.lock().signed.oci_identities.insert(identity.into(), (tenancy.into(), user.into(), public));
    }

    pub fn fail(&self, path_part: &str, status: u16, times: u32) {
        self.lock().faults.push((path_part.into(), status, times));
    }

    /// A folder's secrets now.
    pub fn folder(&self, project: &str, env: &str, folder: &str) -> BTreeMap<String, String> {
        self.lock().folders.get(&(project.into(), env.into(), folder.into())).cloned().unwrap_or_default()
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Every live token dies (a revoked identity, a rotated secret).
    pub fn revoke_all(&self) {
        self.lock().tokens.clear();
    }
}

pub fn error(status: u16, message: &str) -> Response {
    let name = match status {
        400 => "BadRequest",
        401 => "UnauthorizedError",
        403 => "PermissionDenied",
        404 => "NotFound",
        429 => "RateLimitExceeded",
        _ => "InternalServerError",
    };
    let body = json!({"reqId": "req-fake", "statusCode": status, "message": message, "error": name});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn admit(state: &Shared, method: &str, uri: &Uri) -> Result<(), Response> {
    let mut s = state.lock().unwrap();
    s.log.push(format!("{method} {uri}"));
    let path = uri.path().to_string();
    if let Some(f) = s.faults.iter_mut().find(|f| f.2 > 0 && path.contains(&f.0)) {
        f.2 -= 1;
        return Err(error(f.1, "Fault injected by the test"));
    }
    Ok(())
}

pub fn issue(s: &mut State) -> Value {
    s.issued += 1;
    let token = format!("fake-token-{}", s.issued);
    let ttl = s.ttl;
    s.tokens.insert(token.clone(), Instant::now() + ttl);
    let expires_in = s.advertised_ttl.unwrap_or(ttl.as_secs());
    json!({"accessToken": token, "expiresIn": expires_in, "accessTokenMaxTTL": 2_592_000, "tokenType": "Bearer"})
}

async fn login(AxState(st): AxState<Shared>, Path(method): Path<String>, uri: Uri, axum::Json(body): axum::Json<Value>) -> Response {
    if let Err(r) = admit(&st, "POST", &uri) {
        return r;
    }
    st.lock().unwrap().login_bodies.push(body.clone());
    if method == "aws-auth" {
        return cloud::aws_login(&st, &body).await;
    }
    if method == "oci-auth" {
        return signed::oci_login(&st, &body).await;
    }
    let mut s = st.lock().unwrap();
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let ok = match method.as_str() {
        "gcp-auth" if signed::gcp_iam_login(&s, &body).is_some() => signed::gcp_iam_login(&s, &body).unwrap_or(false),
        "kubernetes-auth" | "azure-auth" | "gcp-auth" => cloud::jwt_login(&s, &method, &body).unwrap_or(false),
        "universal-auth" => s.clients.get(&field("clientId")).is_some_and(|secret| *secret == field("clientSecret")),
        "jwt-auth" => s.jwts.get(&field("identityId")).is_some_and(|jwt| *jwt == field("jwt")),
        "ldap-auth" => s.ldap.get(&field("identityId")).is_some_and(|(u, p)| *u == field("username") && *p == field("password")),
        _ => return error(404, &format!("Route {} not found", uri.path())),
    };
    if !ok {
        return error(401, "Invalid credentials");
    }
    axum::Json(issue(&mut s)).into_response()
}

fn live(s: &State, token: &str) -> bool {
    s.tokens.get(token).is_some_and(|at| *at > Instant::now())
}

async fn renew(AxState(st): AxState<Shared>, uri: Uri, axum::Json(body): axum::Json<Value>) -> Response {
    if let Err(r) = admit(&st, "POST", &uri) {
        return r;
    }
    let mut s = st.lock().unwrap();
    let token = body.get("accessToken").and_then(Value::as_str).unwrap_or("").to_string();
    if !live(&s, &token) {
        return error(401, "Failed to authenticate identity access token");
    }
    s.tokens.remove(&token);
    axum::Json(issue(&mut s)).into_response()
}

async fn revoke(AxState(st): AxState<Shared>, uri: Uri, axum::Json(body): axum::Json<Value>) -> Response {
    if let Err(r) = admit(&st, "POST", &uri) {
        return r;
    }
    let token = body.get("accessToken").and_then(Value::as_str).unwrap_or("").to_string();
    st.lock().unwrap().tokens.remove(&token);
    axum::Json(json!({"message": "Successfully revoked access token"})).into_response()
}

/// The bearer check every read makes.
pub fn reader(st: &Shared, headers: &HeaderMap, uri: &Uri) -> Result<(), Response> {
    authorized(st, "GET", headers, uri)
}

/// The bearer check every call with an access token makes.
pub fn authorized(st: &Shared, method: &str, headers: &HeaderMap, uri: &Uri) -> Result<(), Response> {
    admit(st, method, uri)?;
    let s = st.lock().unwrap();
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if !live(&s, token) {
        return Err(error(401, "Token not found or has expired"));
    }
    Ok(())
}

fn scope_of(q: &HashMap<String, String>, s: &State) -> Result<(String, String, String), Response> {
    let project = q.get("workspaceSlug").cloned().unwrap_or_default();
    let env = q.get("environment").cloned().unwrap_or_default();
    let path = q.get("secretPath").cloned().unwrap_or_else(|| "/".into());
    if !s.folders.keys().any(|(p, _, _)| *p == project) {
        return Err(error(404, &format!("Project with slug '{project}' not found")));
    }
    if !s.folders.keys().any(|(p, e, _)| *p == project && *e == env) {
        return Err(error(400, &format!("Environment with slug '{env}' in project with slug '{project}' not found")));
    }
    Ok((project, env, path))
}

/// `${NAME}` references to secrets of the same folder, expanded when asked.
fn expand(value: &str, folder: &BTreeMap<String, String>, on: bool) -> String {
    if !on {
        return value.to_string();
    }
    let mut out = value.to_string();
    for (k, v) in folder {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

pub fn raw(key: &str, value: &str, folder: &str, env: &str) -> Value {
    json!({"id": format!("id-{key}"), "_id": format!("id-{key}"), "workspace": "ws-1", "environment": env, "version": 1,
           "type": "shared", "secretKey": key, "secretValue": value, "secretComment": "", "secretPath": folder})
}

async fn retrieve(
    AxState(st): AxState<Shared>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = reader(&st, &headers, &uri) {
        return r;
    }
    let s = st.lock().unwrap();
    let (project, env, path) = match scope_of(&q, &s) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let on = q.get("expandSecretReferences").is_some_and(|v| v == "true");
    let key = (project.clone(), env.clone(), path.clone());
    let mut folders = vec![key.clone()];
    if q.get("include_imports").is_some_and(|v| v == "true") {
        folders.extend(s.imports.get(&key).cloned().unwrap_or_default());
    }
    for f in folders {
        if let Some(folder) = s.folders.get(&f)
            && let Some(v) = folder.get(&name)
        {
            return axum::Json(json!({"secret": raw(&name, &expand(v, folder, on), &f.2, &env)})).into_response();
        }
    }
    error(404, &format!("Secret with name '{name}' not found"))
}

async fn list(AxState(st): AxState<Shared>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = reader(&st, &headers, &uri) {
        return r;
    }
    let s = st.lock().unwrap();
    let (project, env, path) = match scope_of(&q, &s) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let on = q.get("expandSecretReferences").is_some_and(|v| v == "true");
    let recursive = q.get("recursive").is_some_and(|v| v == "true");
    let under = |folder: &str| folder == path || (recursive && folder.starts_with(&format!("{}/", path.trim_end_matches('/'))));
    let mut secrets = Vec::new();
    for ((p, e, folder), entries) in &s.folders {
        if *p == project && *e == env && under(folder) {
            secrets.extend(entries.iter().map(|(k, v)| raw(k, &expand(v, entries, on), folder, &env)));
        }
    }
    let mut imports = Vec::new();
    if q.get("include_imports").is_some_and(|v| v == "true") {
        for from in s.imports.get(&(project.clone(), env.clone(), path.clone())).cloned().unwrap_or_default() {
            let entries = s.folders.get(&from).cloned().unwrap_or_default();
            let listed: Vec<Value> = entries.iter().map(|(k, v)| raw(k, &expand(v, &entries, on), &from.2, &env)).collect();
            imports.push(json!({"secretPath": from.2, "environment": env, "folderId": "folder-1", "secrets": listed}));
        }
    }
    axum::Json(json!({"secrets": secrets, "imports": imports})).into_response()
}
