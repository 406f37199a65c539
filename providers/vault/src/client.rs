//! The built store client: KV reads through a cached, renewed token.
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use sesame_provider_core::{
    CallQuota, Capabilities, FindQuery, FindScope, MetadataPolicy, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider,
    SecretValue,
};
use tokio::sync::Notify;
use vaultrs::client::VaultClient;

use crate::auth::Method;
use crate::errors::classify;
use crate::kv::{KvPath, encode_data, encode_metadata, parse_version};
use crate::token::Tokens;
use crate::transport::{RawRequest, Transport};
use crate::{PROVIDER, VaultKvVersion, VaultProvider};

/// Build the client for one store. Logs in lazily (first read or `validate`) and only once;
/// the token is renewed in the background while the client lives.
pub async fn build(spec: &VaultProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    Ok(VaultStoreClient::connect(spec, ctx).await?)
}

/// [`build`] with the store's `retrySettings` applied.
pub async fn build_with(spec: &VaultProvider, ctx: ProviderContext, retries: Retries) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    Ok(VaultStoreClient::connect_with(spec, ctx, retries).await?)
}

/// The store's `retrySettings`, as ESO applies them to its Vault client: a call that failed
/// with a 5xx, a 429 or an unreachable server is sent again up to `max_retries` times,
/// `interval` apart. The default is no in-client retry (the next reconcile retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retries {
    pub max_retries: u32,
    pub interval: Duration,
}

impl Retries {
    /// From `retrySettings` (set or not): as ESO, a `retrySettings` without `maxRetries` means
    /// no retry, and an unset `retryInterval` waits one second (Vault's client minimum).
    pub fn from_settings(max_retries: Option<u32>, interval: Option<Duration>) -> Retries {
        // Bounded: a tenant's store must not hold a reconcile worker for minutes.
        Retries {
            max_retries: max_retries.unwrap_or(0).min(10),
            interval: interval.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(30)),
        }
    }
}

/// A Vault/OpenBao store: one HTTP client, one token, shared by every ExternalSecret.
pub struct VaultStoreClient {
    pub(crate) tokens: Arc<Tokens>,
    pub(crate) transport: Arc<Transport>,
    pub(crate) ctx: ProviderContext,
    pub(crate) mount: Option<String>,
    pub(crate) version: VaultKvVersion,
    /// `checkAndSet.required`: KV v2 pushes send the version they replace.
    pub(crate) cas: bool,
    pub(crate) retries: Retries,
}

impl fmt::Debug for VaultStoreClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultStoreClient")
            .field("transport", &self.transport)
            .field("mount", &self.mount)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl VaultStoreClient {
    /// [`build`] with the concrete type.
    pub async fn connect(spec: &VaultProvider, ctx: ProviderContext) -> Result<Arc<Self>, ProviderError> {
        Self::connect_with(spec, ctx, Retries::default()).await
    }

    /// [`build_with`] with the concrete type.
    pub async fn connect_with(spec: &VaultProvider, ctx: ProviderContext, retries: Retries) -> Result<Arc<Self>, ProviderError> {
        spec.check_urls()?;
        spec.check_cas()?;
        let method = Method::from_spec(spec.auth.as_ref())?;
        let transport = Arc::new(Transport::new(spec, ctx.credentials.as_ref()).await?);
        let namespace = spec.namespace.clone().filter(|n| !n.is_empty());
        let auth_namespace = spec.auth.as_ref().and_then(|a| a.namespace.clone()).filter(|n| !n.is_empty());
        let tokens = Arc::new(Tokens::new(transport.clone(), method, ctx.clone(), namespace, auth_namespace));
        spawn_renewer(Arc::downgrade(&tokens), tokens.installed.clone());
        let mount = spec.path.as_deref().map(|p| p.trim_matches('/').to_string()).filter(|p| !p.is_empty());
        Ok(Arc::new(VaultStoreClient { tokens, transport, ctx, mount, version: spec.version, cas: spec.cas_required(), retries }))
    }

    /// Run one Vault call with the current token. When Vault refuses it and lookup-self shows the
    /// token itself is gone (expired, revoked), log in again and retry once. A retryable failure
    /// is sent again as `retrySettings` say.
    pub(crate) async fn call<T, F, Fut>(&self, call: &'static str, what: &str, f: F) -> Result<T, ProviderError>
    where
        F: Fn(Arc<VaultClient>) -> Fut,
        Fut: Future<Output = Result<T, vaultrs::error::ClientError>>,
    {
        let mut attempt = 0;
        loop {
            match self.call_once(call, what, &f).await {
                Err(e) if e.is_retryable() && attempt < self.retries.max_retries => {
                    attempt += 1;
                    tracing::debug!(provider = PROVIDER, call, attempt, error = %e, "retrying (retrySettings)");
                    tokio::time::sleep(self.retries.interval).await;
                }
                other => return other,
            }
        }
    }

    async fn call_once<T, F, Fut>(&self, call: &'static str, what: &str, f: &F) -> Result<T, ProviderError>
    where
        F: Fn(Arc<VaultClient>) -> Fut,
        Fut: Future<Output = Result<T, vaultrs::error::ClientError>>,
    {
        let mut retried = false;
        loop {
            let current = self.tokens.current().await?;
            let result = self.ctx.timed(PROVIDER, call, async { f(current.session.clone()).await.map_err(|e| classify(what, &e)) }).await;
            match result {
                Err(ProviderError::Auth(message)) if !retried => {
                    if !self.tokens.token_rejected(current.generation).await {
                        return Err(ProviderError::Auth(message));
                    }
                    retried = true;
                }
                other => return other,
            }
        }
    }

    async fn read(&self, key: &RemoteKey) -> Result<Vec<u8>, ProviderError> {
        let kv = KvPath::resolve(self.mount.as_deref(), self.version, &key.key)?;
        let (mount, path) = (kv.mount.as_str(), kv.path.as_str());
        if key.metadata_policy == MetadataPolicy::Fetch {
            if self.version == VaultKvVersion::V1 {
                return Err(ProviderError::Invalid("cannot perform metadata fetch operations with kv version v1".into()));
            }
            let what = format!("read metadata {}", kv.metadata_path());
            let meta =
                self.call("ReadSecretMetadata", &what, |s| async move { vaultrs::kv2::read_metadata(&*s, mount, path).await }).await?;
            return encode_metadata(&meta);
        }
        match (self.version, key.version.as_deref()) {
            (VaultKvVersion::V2, None) => {
                let what = format!("read {}", kv.data_path(self.version));
                let data: Value = self.call("ReadSecretData", &what, |s| async move { vaultrs::kv2::read(&*s, mount, path).await }).await?;
                encode_data(data, &what)
            }
            (VaultKvVersion::V2, Some(version)) => {
                let n = parse_version(version, &key.key)?;
                let what = format!("read {} version {n}", kv.data_path(self.version));
                let data: Value =
                    self.call("ReadSecretData", &what, |s| async move { vaultrs::kv2::read_version(&*s, mount, path, n).await }).await?;
                encode_data(data, &what)
            }
            // KV v1 has no versions; like ESO, a version is ignored there.
            (VaultKvVersion::V1, _) => {
                let what = format!("read {}", kv.data_path(self.version));
                let resp = self.call("ReadSecretData", &what, |s| async move { vaultrs::kv1::get_raw(&*s, mount, path).await }).await?;
                encode_data(resp.data, &what)
            }
        }
    }

    /// One call to any Vault API path with the store's token, recorded as `call`: the status and
    /// JSON body, whatever the status (the caller decides what it means). A token Vault refuses
    /// (403, confirmed dead by lookup-self) is replaced by a new login and the call sent once more,
    /// as for reads. For the VaultDynamicSecret generator.
    pub async fn raw(&self, call: &'static str, request: &RawRequest<'_>) -> Result<(u16, Value), ProviderError> {
        let mut retried = false;
        loop {
            let current = self.tokens.current().await?;
            let token = crate::transport::Token(current.session.middle.token.clone());
            let namespace = current.session.middle.namespace.clone();
            let (status, body) = self.ctx.timed(PROVIDER, call, self.transport.send_json(request, &token, namespace.as_deref())).await?;
            if status == 403 && !retried && self.tokens.token_rejected(current.generation).await {
                retried = true;
                continue;
            }
            return Ok((status, body));
        }
    }

    /// Check the store's mount exists and is the KV version the store says, through
    /// `sys/internal/ui/mounts`, which any token with a capability under the mount may read.
    async fn check_mount(&self, mount: &str) -> Result<(), ProviderError> {
        let path = format!("sys/internal/ui/mounts/{mount}");
        let mut retried = false;
        let (status, body) = loop {
            let current = self.tokens.current().await?;
            let token = crate::transport::Token(current.session.middle.token.clone());
            let namespace = current.session.middle.namespace.clone();
            let (status, body) =
                self.ctx.timed(PROVIDER, "ReadMount", self.transport.get_json(&path, &token, namespace.as_deref())).await?;
            // A dead token (lookup-self refused too): log in again once, as for reads.
            if status == 403 && !retried && self.tokens.token_rejected(current.generation).await {
                retried = true;
                continue;
            }
            break (status, body);
        };
        match status {
            200 => {}
            403 => {
                return Err(ProviderError::Auth(format!("mount {mount}: the token may not use it (HTTP 403)")));
            }
            400 | 404 => {
                return Err(ProviderError::Invalid(format!("mount {mount} does not exist (HTTP {status})")));
            }
            s if s >= 500 => {
                return Err(ProviderError::Transient(format!("mount {mount}: Vault answered {s}")));
            }
            s => {
                return Err(ProviderError::Invalid(format!("mount {mount}: Vault answered {s}")));
            }
        }
        let data = &body["data"];
        let kind = data["type"].as_str().unwrap_or_default();
        if kind != "kv" && kind != "generic" {
            return Err(ProviderError::Invalid(format!("mount {mount} is a {kind:?} engine, not KV")));
        }
        let mounted = match data["options"]["version"].as_str() {
            Some("2") => VaultKvVersion::V2,
            _ => VaultKvVersion::V1,
        };
        if mounted != self.version {
            return Err(ProviderError::Invalid(format!("mount {mount} is KV {mounted:?} but the store says version {:?}", self.version)));
        }
        Ok(())
    }
}

#[async_trait]
impl SecretProvider for VaultStoreClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn call_quota(&self) -> CallQuota {
        // A Vault or OpenBao server sets no quota unless its operator configures one (it then
        // answers 429, and the budget backs off).
        CallQuota::Unmetered
    }

    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        self.read(key).await.map(SecretValue::from)
    }

    async fn find(
        &self,
        query: &FindQuery,
        scope: &FindScope<'_>,
    ) -> Result<std::collections::BTreeMap<String, SecretValue>, ProviderError> {
        crate::find::find(self, query, scope).await
    }

    async fn validate(&self) -> Result<(), ProviderError> {
        match self.mount.clone() {
            Some(mount) => self.check_mount(&mount).await,
            // No mount to check: prove the token works.
            None => self.call("LookupSelf", "lookup token", |s| async move { vaultrs::token::lookup_self(&*s).await }).await.map(|_| ()),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        crate::push::push(self, remote, value).await
    }

    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        crate::push::delete(self, remote).await
    }

    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        crate::push::exists(self, remote).await
    }

    async fn close(&self) {
        self.tokens.revoke().await;
    }
}

/// Keep the token fresh while the client lives: wake at the renewal point (or when a login
/// installs a new token; at least once a minute, so a dropped client's task ends soon) and renew
/// or log in again. Holds the token manager only weakly.
fn spawn_renewer(tokens: Weak<Tokens>, installed: Arc<Notify>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        let mut next = Instant::now() + Duration::from_secs(60);
        loop {
            let now = Instant::now();
            let wake = next.clamp(now + Duration::from_millis(500), now + Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = installed.notified() => {}
            }
            let Some(tokens) = tokens.upgrade() else {
                break;
            };
            next = tokens.maintain().await.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        }
    });
}
