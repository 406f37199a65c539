//! A protocol-faithful fake of Azure Key Vault, Entra ID and IMDS, written from the public REST
//! references (Key Vault api-version 7.4 – 2025-07-01; the Microsoft identity platform v2.0
//! token endpoint; the IMDS managed-identity endpoint).
//!
//! It serves HTTPS with a CA made for each fake, under the real host names
//! (`sesame-test.vault.azure.net`, `login.microsoftonline.com`, …): the provider reaches it
//! through `HttpSettings` (trust the test CA, pin those names to the loopback port), so the store
//! spec a test writes is the one a user writes, and the SDK's challenge-resource check stays on.
#![allow(dead_code)]
pub mod entra;
pub mod imds;
pub mod jwt;
pub mod server;
pub mod support;
pub mod vault;
pub mod vault_import;
pub mod vault_write;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sesame_provider_azure::HttpSettings;

pub const VAULT_HOST: &str = "sesame-test.vault.azure.net";
pub const VAULT_URL: &str = "https://sesame-test.vault.azure.net";
pub const LOGIN_HOST: &str = "login.microsoftonline.com";
/// A private cloud's authority, for `customCloudConfig.activeDirectoryEndpoint`.
pub const CUSTOM_LOGIN_HOST: &str = "login.sesame-cloud.test";
pub const VAULT_RESOURCE: &str = "https://vault.azure.net";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// One version of a secret (or of a key's or certificate's attributes).
#[derive(Debug, Clone, Default)]
pub struct Object {
    pub version: String,
    pub value: String,
    pub enabled: bool,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub created: i64,
    pub tags: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// Keys: the JWK; certificates: the DER bytes (base64 in `value`).
    pub key: Option<serde_json::Value>,
}

/// An Entra ID application registration.
#[derive(Debug, Clone, Default)]
pub struct App {
    pub tenant: String,
    pub client_id: String,
    pub secret: Option<String>,
    pub federated: Vec<Federated>,
    /// A registered certificate credential: (base64url SHA-1 thumbprint, RSA public key, PKCS#1 DER).
    pub certificate: Option<(String, Vec<u8>)>,
}

/// A federated identity credential on an application.
#[derive(Debug, Clone)]
pub struct Federated {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

/// An access token the fake issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub principal: String,
    pub audience: String,
    pub expires: i64,
}

/// A canned failure for the next request whose path starts with `path_prefix`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub path_prefix: String,
    pub status: u16,
    pub code: String,
    pub retry_after: Option<String>,
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct Logged {
    pub host: String,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorized: bool,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct State {
    pub secrets: BTreeMap<String, Vec<Object>>,
    pub keys: BTreeMap<String, Vec<Object>>,
    pub certs: BTreeMap<String, Vec<Object>>,
    /// Soft-deleted secrets, by name: recoverable (not served, their name not reusable) until purged.
    pub deleted_secrets: BTreeMap<String, Vec<Object>>,
    /// Soft-deleted keys and certificates, the same way.
    pub deleted_keys: BTreeMap<String, Vec<Object>>,
    pub deleted_certs: BTreeMap<String, Vec<Object>>,
    pub apps: Vec<App>,
    /// Client IDs of the managed identities assigned to the "VM"; `system` is the system-assigned one.
    pub managed_identities: BTreeSet<String>,
    pub tokens: HashMap<String, Issued>,
    /// (principal, object name) pairs the vault refuses with 403.
    pub denied: BTreeSet<(String, String)>,
    pub faults: VecDeque<Fault>,
    /// Page size of list operations when the request names no `maxresults` (Key Vault: 25).
    pub page_size: usize,
    /// Lifetime of the access tokens Entra ID issues, in seconds (Entra: about an hour).
    pub token_lifetime: i64,
    pub log: Vec<Logged>,
    pub counter: u64,
}

pub struct Inner {
    pub vault_host: String,
    pub login_hosts: Vec<String>,
    pub state: Mutex<State>,
    /// Public keys (PKCS#1 DER) of the OIDC issuers Entra ID trusts, by issuer URL.
    pub jwks: Mutex<HashMap<String, Vec<u8>>>,
}

pub type Shared = Arc<Inner>;

impl Inner {
    pub fn log(&self, req: &server::Req, status: u16) {
        let authorized = req.headers.contains_key("authorization");
        let logged = Logged {
            host: req.host.clone(),
            method: req.method.to_string(),
            path: req.path.clone(),
            query: req.query.clone(),
            authorized,
            status,
        };
        self.state.lock().unwrap().log.push(logged);
    }
}

/// A running fake: the vault, Entra ID on two authority hosts, and IMDS.
pub struct Fake {
    pub shared: Shared,
    pub addr: SocketAddr,
    pub imds_addr: SocketAddr,
    pub ca_pem: String,
}

impl Fake {
    pub async fn start() -> Fake {
        let pki = server::pki(&[VAULT_HOST, LOGIN_HOST, CUSTOM_LOGIN_HOST]);
        let shared = Arc::new(Inner {
            vault_host: VAULT_HOST.into(),
            login_hosts: vec![LOGIN_HOST.into(), CUSTOM_LOGIN_HOST.into()],
            state: Mutex::new(State { page_size: 25, token_lifetime: 3599, ..Default::default() }),
            jwks: Mutex::new(HashMap::new()),
        });
        let addr = server::serve_https(shared.clone(), pki.server_config).await;
        let imds_addr = server::serve_http(shared.clone()).await;
        Fake { shared, addr, imds_addr, ca_pem: pki.ca_pem }
    }

    /// What the provider needs to reach this fake: its CA and its host names pinned to it.
    pub fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            extra_root_certificates_pem: self.ca_pem.clone().into_bytes(),
            resolve: [VAULT_HOST, LOGIN_HOST, CUSTOM_LOGIN_HOST].iter().map(|h| (h.to_string(), self.addr)).collect(),
            plain_http_proxy: Some(format!("http://{}", self.imds_addr)),
            request_timeout: None,
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    pub fn next_version(state: &mut State) -> String {
        state.counter += 1;
        format!("{:032x}", 0xa2f0_0000_u64 + state.counter)
    }

    /// Add a new current version of a secret; returns its version id.
    pub fn put_secret(&self, name: &str, value: &str) -> String {
        self.put_secret_with(name, Object { value: value.into(), enabled: true, ..Default::default() })
    }

    pub fn put_secret_with(&self, name: &str, mut object: Object) -> String {
        let mut state = self.state();
        object.version = Self::next_version(&mut state);
        object.created = 1_700_000_000 + state.counter as i64;
        let version = object.version.clone();
        state.secrets.entry(name.into()).or_default().push(object);
        version
    }

    pub fn put_key(&self, name: &str, jwk: serde_json::Value, tags: &[(&str, &str)]) -> String {
        let mut state = self.state();
        let version = Self::next_version(&mut state);
        let tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let object = Object { version: version.clone(), enabled: true, key: Some(jwk), tags, ..Default::default() };
        state.keys.entry(name.into()).or_default().push(object);
        version
    }

    pub fn put_cert(&self, name: &str, der: &[u8], tags: &[(&str, &str)]) -> String {
        use base64::Engine;
        let mut state = self.state();
        let version = Self::next_version(&mut state);
        let value = base64::engine::general_purpose::STANDARD.encode(der);
        let tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let object = Object { version: version.clone(), enabled: true, value, tags, ..Default::default() };
        state.certs.entry(name.into()).or_default().push(object);
        version
    }

    /// Register a service principal with a client secret.
    pub fn add_app(&self, tenant: &str, client_id: &str, secret: &str) {
        let app = App { tenant: tenant.into(), client_id: client_id.into(), secret: Some(secret.into()), ..Default::default() };
        self.state().apps.push(app);
    }

    /// Register an application trusting tokens of `issuer` for `subject` (workload identity).
    pub fn add_federated_app(&self, tenant: &str, client_id: &str, issuer: &jwt::Issuer, subject: &str) {
        self.federate(tenant, client_id, &issuer.url, issuer.public_key_der(), subject);
    }

    /// The same for an issuer known by its JWKS document (`{"keys":[…]}`, one RSA key): how a
    /// real kube-apiserver's `/openid/v1/jwks` stands in for an AKS cluster's OIDC issuer.
    pub fn add_federated_app_with_jwks(&self, tenant: &str, client_id: &str, issuer_url: &str, jwks: &serde_json::Value, subject: &str) {
        let key =
            jwks["keys"].as_array().and_then(|keys| keys.iter().find_map(jwt::rsa_public_key_der)).expect("the JWKS holds an RSA key");
        self.federate(tenant, client_id, issuer_url, key, subject);
    }

    fn federate(&self, tenant: &str, client_id: &str, issuer_url: &str, key: Vec<u8>, subject: &str) {
        let federated = Federated { issuer: issuer_url.into(), subject: subject.into(), audience: "api://AzureADTokenExchange".into() };
        let app = App { tenant: tenant.into(), client_id: client_id.into(), federated: vec![federated], ..Default::default() };
        self.state().apps.push(app);
        self.shared.jwks.lock().unwrap().insert(issuer_url.into(), key);
    }

    /// Register a service principal with a certificate credential (its DER and RSA public key).
    pub fn add_certificate_app(&self, tenant: &str, client_id: &str, cert_der: &[u8], public_key_pkcs1: Vec<u8>) {
        let thumbprint = jwt::b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der).as_ref());
        let app = App {
            tenant: tenant.into(),
            client_id: client_id.into(),
            certificate: Some((thumbprint, public_key_pkcs1)),
            ..Default::default()
        };
        self.state().apps.push(app);
    }

    pub fn add_managed_identity(&self, client_id: &str) {
        self.state().managed_identities.insert(client_id.into());
    }

    /// The vault answers the next matching request with this status and Key Vault error body.
    pub fn fail_next(&self, path_prefix: &str, status: u16, code: &str, retry_after: Option<&str>) {
        let fault = Fault { path_prefix: path_prefix.into(), status, code: code.into(), retry_after: retry_after.map(Into::into) };
        self.state().faults.push_back(fault);
    }

    pub fn deny(&self, principal: &str, object: &str) {
        self.state().denied.insert((principal.into(), object.into()));
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    /// How many access tokens Entra ID (or IMDS) issued.
    pub fn tokens_issued(&self) -> usize {
        self.state().tokens.len()
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
