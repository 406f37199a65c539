//! A fake of the Google endpoints the GCP provider talks to, written from the public REST
//! references: Secret Manager v1 (secrets, versions, `:access`, `secrets.list` with filters and
//! pages, global and regional paths; `secrets.create`, `:addVersion`, `secrets.patch` and
//! `secrets.delete` in `write`), STS `v1/token`, IAM Credentials `generateAccessToken`,
//! the OAuth2 JWT-bearer token endpoint and the metadata server's token. One per test, on
//! `127.0.0.1:0`; the SDK under test talks to it over plain HTTP.
//!
//! Like Google it checks who is calling before anything else: a request without a valid bearer
//! token is UNAUTHENTICATED, one whose principal has no grant on the project is
//! PERMISSION_DENIED, whether or not the secret exists.
// Handlers answer an error as the finished HTTP response: its size is the framework's.
#![allow(clippy::result_large_err)]
#![allow(dead_code)]

mod api;
pub mod federated;
pub mod jwt;
mod tokens;
mod wire;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::json;

pub use jwt::RsaKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    Enabled,
    Disabled,
    Destroyed,
}

pub struct Version {
    pub data: Vec<u8>,
    pub state: VersionState,
    pub created: i64,
}

#[derive(Default)]
pub struct Secret {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub created: i64,
    /// Version `n` is `versions[n - 1]`.
    pub versions: Vec<Version>,
    /// Changes with every update of the secret (not of its versions), as Google's etag does.
    pub etag: i64,
    /// Pub/Sub topic names.
    pub topics: Vec<String>,
    /// The `replication` JSON as created (`{"automatic": {}}` for the fixtures; null for a
    /// regional secret).
    pub replication: serde_json::Value,
}

/// An error the fake answers instead of serving a request whose path contains `path_part`.
pub struct Fault {
    pub path_part: String,
    pub http: u16,
    pub status: &'static str,
    pub remaining: u32,
    /// A `google.rpc.RetryInfo` detail, e.g. `"7s"`.
    pub retry_delay: Option<&'static str>,
}

/// A GKE cluster whose ServiceAccount tokens STS accepts for `identitynamespace:{pool}:{provider}`.
pub struct Cluster {
    /// `https://container.googleapis.com/v1/projects/{p}/locations/{l}/clusters/{c}`
    pub provider: String,
    pub pool: String,
    /// The `iss` of the cluster's tokens: the provider URL on GKE.
    pub token_issuer: String,
    pub verifier: Verifier,
}

/// How STS checks a cluster's token signatures.
pub enum Verifier {
    Key(Arc<RsaKey>),
    /// The cluster's `/openid/v1/jwks` document.
    Jwks(serde_json::Value),
}

#[derive(Default)]
pub struct State {
    /// project id → project number (responses name projects by number, as Google does).
    pub projects: BTreeMap<String, u64>,
    /// `projects/{id}[/locations/{l}]/secrets/{s}` → secret.
    pub secrets: BTreeMap<String, Secret>,
    /// service-account email → key id → public key (PKCS#1 DER).
    pub sa_keys: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    pub clusters: Vec<Cluster>,
    /// Google-managed signing keys of service accounts (`signJwt`): email → (key id, key).
    pub google_keys: BTreeMap<String, (String, Arc<RsaKey>)>,
    /// Workload identity pool providers (federation).
    pub pool_providers: Vec<federated::PoolProvider>,
    /// access token → (principal, expiry).
    pub tokens: HashMap<String, (String, i64)>,
    /// (project id, principal) allowed to read and write secrets.
    pub grants: BTreeSet<(String, String)>,
    /// (Google service account, principal) allowed to mint its tokens.
    pub impersonators: BTreeSet<(String, String)>,
    /// The principal the metadata server hands tokens for.
    pub mds_principal: Option<String>,
    pub faults: Vec<Fault>,
    /// Requests whose path contains `.0` wait until `.1` of them are in flight together.
    pub rendezvous: Option<(String, Arc<tokio::sync::Barrier>)>,
    /// Lifetime of STS tokens, in seconds (Google: 3600).
    pub sts_lifetime: i64,
    /// Answer `:access` with a `dataCrc32c` that does not match the data.
    pub corrupt_checksums: bool,
    /// `METHOD path` of every request, in order.
    pub log: Vec<String>,
    pub page_size: usize,
    clock: i64,
    next_token: u64,
}

impl State {
    pub(crate) fn tick(&mut self) -> i64 {
        self.clock += 1;
        1_700_000_000 + self.clock
    }

    /// The Google-managed key `signJwt` signs with for `email` (made on first use).
    pub fn google_signing_key(&mut self, email: &str) -> (String, Arc<RsaKey>) {
        let n = self.google_keys.len() + 1;
        self.google_keys.entry(email.to_string()).or_insert_with(|| (format!("google-kid-{n}"), Arc::new(RsaKey::generate()))).clone()
    }

    pub fn issue_token(&mut self, principal: &str, lifetime: i64) -> String {
        self.next_token += 1;
        let token = format!("ya29.fake-{}-{}", self.next_token, jwt::now());
        self.tokens.insert(token.clone(), (principal.to_string(), jwt::now() + lifetime));
        token
    }
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeGcp {
    pub url: String,
    pub state: Shared,
}

/// What a test hands the provider as `auth.secretRef`.
pub struct ServiceAccountKey {
    pub email: String,
    pub json: String,
    pub key: RsaKey,
}

impl FakeGcp {
    pub async fn start() -> FakeGcp {
        let state: Shared = Arc::new(Mutex::new(State { page_size: 25_000, sts_lifetime: 3600, ..Default::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = api::router(state.clone(), url.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake GCP server") });
        FakeGcp { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn project(&self, id: &str, number: u64) {
        self.lock().projects.insert(id.into(), number);
    }

    /// A secret by its resource name, e.g. `projects/p1/secrets/db` or
    /// `projects/p1/locations/europe-west1/secrets/db`.
    pub fn secret(&self, name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) {
        let mut s = self.lock();
        let created = s.tick();
        let owned = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let replication = if name.contains("/locations/") { serde_json::Value::Null } else { json!({"automatic": {}}) };
        let secret =
            Secret { labels: owned(labels), annotations: owned(annotations), created, etag: created, replication, ..Default::default() };
        s.secrets.insert(name.into(), secret);
    }

    /// Add a version; returns its number.
    pub fn version(&self, secret: &str, data: &[u8]) -> usize {
        let mut s = self.lock();
        let created = s.tick();
        let secret = s.secrets.get_mut(secret).expect("secret exists");
        secret.versions.push(Version { data: data.to_vec(), state: VersionState::Enabled, created });
        secret.versions.len()
    }

    pub fn set_state(&self, secret: &str, version: usize, state: VersionState) {
        let mut s = self.lock();
        let v = &mut s.secrets.get_mut(secret).unwrap().versions[version - 1];
        v.state = state;
        if state == VersionState::Destroyed {
            v.data.clear();
        }
    }

    /// A service account with a fresh key; returns the key file Google would have handed out.
    pub fn service_account(&self, email: &str, project: &str) -> ServiceAccountKey {
        let key = RsaKey::generate();
        let kid = format!("kid-{}", self.lock().sa_keys.len() + 1);
        self.lock().sa_keys.entry(email.into()).or_default().insert(kid.clone(), key.public_der.clone());
        let json = json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": kid,
            "private_key": key.pkcs8_pem(),
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.url),
        })
        .to_string();
        ServiceAccountKey { email: email.into(), json, key }
    }

    /// Let `principal` (e.g. `serviceAccount:a@p.iam.gserviceaccount.com`) read `project`'s secrets.
    pub fn grant(&self, project: &str, principal: &str) {
        self.lock().grants.insert((project.into(), principal.into()));
    }

    pub fn allow_impersonation(&self, gsa: &str, principal: &str) {
        self.lock().impersonators.insert((gsa.into(), principal.into()));
    }

    /// A GKE cluster (its issuer is the `container.googleapis.com` URL STS audiences name).
    pub fn cluster(&self, project: &str, location: &str, name: &str) -> Arc<RsaKey> {
        let key = Arc::new(RsaKey::generate());
        let provider = format!("https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{name}");
        self.lock().clusters.push(Cluster {
            token_issuer: provider.clone(),
            provider,
            pool: format!("{project}.svc.id.goog"),
            verifier: Verifier::Key(key.clone()),
        });
        key
    }

    /// A cluster outside Google whose tokens carry `token_issuer` and verify with `jwks`: how the
    /// real kube-apiserver of the test environment stands in for a GKE cluster.
    pub fn trust_cluster(&self, project: &str, location: &str, name: &str, token_issuer: &str, jwks: serde_json::Value) {
        self.lock().clusters.push(Cluster {
            provider: format!("https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{name}"),
            pool: format!("{project}.svc.id.goog"),
            token_issuer: token_issuer.into(),
            verifier: Verifier::Jwks(jwks),
        });
    }

    /// An OIDC pool provider trusting `issuer`'s keys; returns the federated principal prefix
    /// (`principal://…/subject/`).
    pub fn oidc_pool_provider(&self, audience: &str, issuer: &str, verifier: Verifier, allowed_audiences: &[&str]) -> String {
        let kind = federated::PoolProviderKind::Oidc {
            issuer: issuer.into(),
            verifier,
            allowed_audiences: allowed_audiences.iter().map(|a| a.to_string()).collect(),
        };
        let provider = federated::PoolProvider { audience: audience.into(), kind };
        let prefix = provider.principal("");
        self.lock().pool_providers.push(provider);
        prefix
    }

    /// An AWS pool provider that knows one access key (Google asks AWS; the fake checks the
    /// signature itself); returns the federated principal of that key's `arn`.
    pub fn aws_pool_provider(&self, audience: &str, access_key_id: &str, secret_access_key: &str, arn: &str) -> String {
        let keys = BTreeMap::from([(access_key_id.to_string(), (secret_access_key.to_string(), arn.to_string()))]);
        let provider = federated::PoolProvider { audience: audience.into(), kind: federated::PoolProviderKind::Aws { keys } };
        let principal = provider.principal(arn);
        self.lock().pool_providers.push(provider);
        principal
    }

    /// Answer the next `times` requests whose path contains `path_part` with an error.
    pub fn fail(&self, path_part: &str, http: u16, status: &'static str, times: u32) {
        self.lock().faults.push(Fault { path_part: path_part.into(), http, status, remaining: times, retry_delay: None });
    }

    /// Answer the next `times` matching requests with 429 RESOURCE_EXHAUSTED carrying a
    /// `google.rpc.RetryInfo` of `delay` (e.g. `"7s"`).
    pub fn throttle(&self, path_part: &str, times: u32, delay: &'static str) {
        let fault =
            Fault { path_part: path_part.into(), http: 429, status: "RESOURCE_EXHAUSTED", remaining: times, retry_delay: Some(delay) };
        self.lock().faults.push(fault);
    }

    /// Hold requests whose path contains `path_part` until `n` of them wait together: a client
    /// that serialised its calls would never get there.
    pub fn rendezvous(&self, path_part: &str, n: usize) {
        self.lock().rendezvous = Some((path_part.into(), Arc::new(tokio::sync::Barrier::new(n))));
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    pub fn count(&self, fragment: &str) -> usize {
        self.lock().log.iter().filter(|l| l.contains(fragment)).count()
    }
}
