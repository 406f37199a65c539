//! What every Vault test needs: the real OpenBao from the test environment, configured through
//! its HTTP API with the root token; credentials handed to the provider the way the controller
//! hands them; a recorder that counts provider calls.
#![allow(dead_code)]
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use sesame_provider_core::{
    CaProvider, CallRecorder, CredentialSource, ProviderContext, ProviderError, SecretKeySelector, SecretProvider, SecretValue,
    ServiceAccountSelector,
};
use sesame_provider_vault::{VaultAuth, VaultKvVersion, VaultProvider};

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The OpenBao server, driven as an administrator.
#[derive(Clone)]
pub struct Bao {
    pub addr: String,
    pub token: String,
    http: reqwest::Client,
}

impl Bao {
    /// The test environment's OpenBao dev server, as root. Fails the test when it is not running.
    pub async fn root() -> Bao {
        let env = sesame_testsupport::env();
        let bao = Bao::at(&env.vault_addr, &env.vault_token, None);
        let (status, _) = bao.call("GET", "sys/health", None).await;
        assert_eq!(status, 200, "OpenBao at {} is not healthy (sys/health answered {status})", env.vault_addr);
        bao
    }

    pub fn at(addr: &str, token: &str, ca_pem: Option<&[u8]>) -> Bao {
        let mut b = reqwest::Client::builder().tls_backend_rustls();
        if let Some(pem) = ca_pem {
            b = b.tls_certs_only(reqwest::Certificate::from_pem_bundle(pem).unwrap());
        } else {
            b = b.tls_certs_only(Vec::new());
        }
        Bao { addr: addr.trim_end_matches('/').to_string(), token: token.to_string(), http: b.build().unwrap() }
    }

    /// The same server with another token.
    pub fn with_token(&self, token: &str) -> Bao {
        Bao { token: token.to_string(), ..self.clone() }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.addr);
        let mut req = self.http.request(method.parse().unwrap(), url).header("X-Vault-Token", &self.token);
        if let Some(body) = body {
            req = req.body(serde_json::to_vec(&body).unwrap());
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("OpenBao at {} is unreachable: {e}", self.addr));
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A call that must succeed. A KV v2 mount answers 400 "Upgrading from non-versioned to
    /// versioned data" for a moment after it is created: that one is waited out.
    pub async fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut attempts = 0;
        let (status, answer) = loop {
            let (status, answer) = self.call(method, path, body.clone()).await;
            let upgrading = status == 400 && answer.to_string().contains("Upgrading from non-versioned to versioned data");
            attempts += 1;
            if !upgrading || attempts >= 100 {
                break (status, answer);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!((200..300).contains(&status), "{method} {path} answered {status}: {answer}");
        answer
    }

    /// Mount a fresh KV engine of `version`; returns its path.
    pub async fn kv(&self, version: VaultKvVersion) -> String {
        let mount = unique("kv");
        let v = if version == VaultKvVersion::V2 { "2" } else { "1" };
        self.must("POST", &format!("sys/mounts/{mount}"), Some(json!({"type": "kv", "options": {"version": v}}))).await;
        mount
    }

    /// Write a KV v2 secret (a new version).
    pub async fn put2(&self, mount: &str, path: &str, data: Value) {
        self.must("POST", &format!("{mount}/data/{path}"), Some(json!({ "data": data }))).await;
    }

    /// Enable an auth method of `kind` at a fresh path; returns the path.
    pub async fn auth(&self, kind: &str) -> String {
        let path = unique(kind);
        self.must("POST", &format!("sys/auth/{path}"), Some(json!({ "type": kind }))).await;
        path
    }

    /// A policy that may read everything under `mount`; returns its name.
    pub async fn reader_policy(&self, mount: &str) -> String {
        let name = unique("read");
        let hcl = format!("path \"{mount}/*\" {{ capabilities = [\"read\", \"list\"] }}");
        self.must("PUT", &format!("sys/policies/acl/{name}"), Some(json!({ "policy": hcl }))).await;
        name
    }

    /// A token with `policies`, created by root.
    pub async fn token(&self, policies: &[&str], extra: Value) -> String {
        let mut body = json!({ "policies": policies, "no_default_policy": false });
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        let answer = self.must("POST", "auth/token/create", Some(body)).await;
        answer["auth"]["client_token"].as_str().unwrap().to_string()
    }

    /// Whether `token` is still valid.
    pub async fn token_alive(&self, token: &str) -> bool {
        self.with_token(token).call("GET", "auth/token/lookup-self", None).await.0 == 200
    }
}

/// Provider calls, counted by name.
#[derive(Default)]
pub struct Calls(Mutex<Vec<(&'static str, bool)>>);

impl Calls {
    pub fn count(&self, call: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|(c, _)| *c == call).count()
    }
    pub fn failed(&self, call: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|(c, ok)| *c == call && !ok).count()
    }
}

impl CallRecorder for Calls {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, _: Duration) {
        assert_eq!(provider, "HashiCorp/Vault");
        self.0.lock().unwrap().push((call, outcome.is_ok()));
    }
}

/// Kubernetes Secrets and ServiceAccount tokens as the controller would resolve them.
#[derive(Default)]
pub struct Creds {
    pub secrets: Mutex<HashMap<(String, String), Vec<u8>>>,
    /// Mints ServiceAccount tokens (the apiserver's TokenRequest API, in the kubernetes tests).
    pub minter: Option<Arc<dyn TokenMinter>>,
}

#[async_trait]
pub trait TokenMinter: Send + Sync {
    async fn mint(&self, sa: &ServiceAccountSelector, audiences: &[String], expiration: Option<i64>) -> Result<String, ProviderError>;
}

impl Creds {
    pub fn with(entries: &[(&str, &str, &[u8])]) -> Creds {
        let c = Creds::default();
        for (name, key, value) in entries {
            c.set(name, key, value);
        }
        c
    }
    pub fn set(&self, name: &str, key: &str, value: &[u8]) {
        self.secrets.lock().unwrap().insert((name.to_string(), key.to_string()), value.to_vec());
    }
}

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, ProviderError> {
        let key = sel.key.as_deref().or(default_key).unwrap_or_default();
        self.secrets
            .lock()
            .unwrap()
            .get(&(sel.name.clone(), key.to_string()))
            .map(|v| SecretValue::from(v.clone()))
            .ok_or_else(|| ProviderError::Auth(format!("secret {}/{key} not found", sel.name)))
    }
    async fn service_account_token(
        &self,
        sa: &ServiceAccountSelector,
        audiences: &[String],
        exp: Option<i64>,
    ) -> Result<String, ProviderError> {
        match &self.minter {
            Some(m) => m.mint(sa, audiences, exp).await,
            None => Err(ProviderError::Auth("no token minter in this test".into())),
        }
    }
    async fn service_account_annotations(
        &self,
        _: &ServiceAccountSelector,
    ) -> Result<std::collections::BTreeMap<String, String>, ProviderError> {
        Ok(Default::default())
    }
    async fn ca_bundle(&self, ca: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        self.secret_key(&SecretKeySelector { name: ca.name.clone(), key: ca.key.clone(), namespace: None }, None)
            .await
            .map(|v| v.into_bytes())
    }
}

pub fn sel(name: &str, key: &str) -> SecretKeySelector {
    SecretKeySelector { name: name.into(), key: Some(key.into()), namespace: None }
}

/// A store spec for `bao`'s server reading `mount`.
pub fn store(bao: &Bao, mount: &str, version: VaultKvVersion, auth: VaultAuth) -> VaultProvider {
    VaultProvider { server: bao.addr.clone(), path: Some(mount.to_string()), version, auth: Some(auth), ..Default::default() }
}

/// Token auth from a Secret named `vault-token`.
pub fn token_auth() -> VaultAuth {
    VaultAuth { token_secret_ref: Some(sel("vault-token", "token")), ..Default::default() }
}

/// Build the provider with `creds`, counting its calls.
pub async fn build(spec: &VaultProvider, creds: Creds) -> (Arc<dyn SecretProvider>, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let ctx = ProviderContext { credentials: Arc::new(creds), calls: calls.clone() };
    let provider = sesame_provider_vault::build(spec, ctx).await.expect("the store builds");
    (provider, calls)
}

pub fn text(v: SecretValue) -> String {
    String::from_utf8(v.into_bytes()).unwrap()
}

pub fn json_of(v: SecretValue) -> Value {
    serde_json::from_slice(v.as_bytes()).unwrap()
}

/// An AppRole login at a fresh mount whose tokens carry `policies`; `role` adds role settings
/// (e.g. `token_ttl`). Returns (mount, role_id, secret_id).
pub async fn approle(bao: &Bao, policies: &[&str], role: serde_json::Value) -> (String, String, String) {
    let mount = bao.auth("approle").await;
    let mut body = json!({ "token_policies": policies });
    body.as_object_mut().unwrap().extend(role.as_object().cloned().unwrap_or_default());
    bao.must("POST", &format!("auth/{mount}/role/app"), Some(body)).await;
    let role_id = bao.must("GET", &format!("auth/{mount}/role/app/role-id"), None).await["data"]["role_id"].as_str().unwrap().to_string();
    let secret_id =
        bao.must("POST", &format!("auth/{mount}/role/app/secret-id"), None).await["data"]["secret_id"].as_str().unwrap().to_string();
    (mount, role_id, secret_id)
}

/// An AppRole `auth` section with the role ID inline and the secret ID in Secret `approle`.
pub fn approle_auth(mount: &str, role_id: &str) -> VaultAuth {
    VaultAuth {
        app_role: Some(sesame_provider_vault::VaultAppRole {
            path: mount.to_string(),
            role_id: Some(role_id.to_string()),
            role_ref: None,
            secret_ref: sel("approle", "secret-id"),
        }),
        ..Default::default()
    }
}

/// How many tokens issued by auth mount `mount` are still alive (their leases).
pub async fn live_logins(bao: &Bao, mount: &str) -> usize {
    let (status, answer) = bao.call("LIST", &format!("sys/leases/lookup/auth/{mount}/login/"), None).await;
    match status {
        200 => answer["data"]["keys"].as_array().map(|k| k.len()).unwrap_or(0),
        404 => 0,
        other => panic!("listing leases of auth/{mount} answered {other}: {answer}"),
    }
}
