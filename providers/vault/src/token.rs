//! Token reuse, Sesame's edge over ESO: one login per built client, the token cached and renewed
//! before it expires (renew-self; a fresh login when it cannot be renewed any further), a fresh
//! login when Vault says the token is gone, and a revoke on close. ESO logs in on every reconcile.
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_provider_core::{ProviderContext, ProviderError};
use tokio::sync::{Mutex, Notify};
use vaultrs::client::VaultClient;

use crate::PROVIDER;
use crate::auth::{Login, Method};
use crate::errors::classify;
use crate::transport::{Token, Transport};

/// The token in use and the sessions that carry it.
struct Held {
    token: Token,
    /// Reads and lists: the store's namespace.
    reads: Arc<VaultClient>,
    generation: u64,
    owned: bool,
    renewable: bool,
    /// When to renew or log in again; `None` for tokens that do not expire (or that we do not own).
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
}

/// A session to call with, tagged with the token generation it carries.
pub(crate) struct Current {
    pub session: Arc<VaultClient>,
    pub generation: u64,
}

pub(crate) struct Tokens {
    transport: Arc<Transport>,
    method: Method,
    ctx: ProviderContext,
    /// The store's namespace (reads) and the auth namespace (login, renew, revoke).
    namespace: Option<String>,
    auth_namespace: Option<String>,
    state: Mutex<(Option<Held>, u64)>,
    /// Wakes the background renewer when a new token (with a new refresh point) is installed.
    pub(crate) installed: Arc<Notify>,
}

/// Renew (or log in again) once two thirds of the lease have passed.
fn refresh_point(now: Instant, lease: Duration) -> (Option<Instant>, Option<Instant>) {
    if lease.is_zero() {
        return (None, None);
    }
    (Some(now + lease * 2 / 3), Some(now + lease))
}

impl Tokens {
    pub(crate) fn new(
        transport: Arc<Transport>,
        method: Method,
        ctx: ProviderContext,
        namespace: Option<String>,
        auth_namespace: Option<String>,
    ) -> Self {
        Tokens { transport, method, ctx, namespace, auth_namespace, state: Mutex::new((None, 0)), installed: Arc::new(Notify::new()) }
    }

    fn auth_session(&self, token: Option<&Token>) -> VaultClient {
        self.transport.session(token, self.auth_namespace.as_deref().or(self.namespace.as_deref()))
    }

    /// The session to call with: logs in on first use and renews when due.
    pub(crate) async fn current(&self) -> Result<Current, ProviderError> {
        let mut guard = self.state.lock().await;
        let now = Instant::now();
        let due = match &guard.0 {
            None => true,
            Some(h) => h.refresh_at.is_some_and(|at| now >= at),
        };
        if due && let Err(e) = self.refresh(&mut guard).await {
            // The refresh failed (Vault briefly unavailable, say) but the held token still works
            // for a while: keep using it and try again a little later.
            let alive = guard.0.as_mut().filter(|h| h.expires_at.is_some_and(|exp| exp > now));
            let Some(held) = alive else { return Err(e) };
            let remaining = held.expires_at.map(|exp| exp - now).unwrap_or_default();
            held.refresh_at = Some(now + (remaining / 2).min(Duration::from_secs(5)));
            tracing::warn!(provider = PROVIDER, error = %e, "token refresh failed; using the current token until it expires");
        }
        let held = guard.0.as_ref().expect("refresh leaves a token");
        Ok(Current { session: held.reads.clone(), generation: held.generation })
    }

    /// Renew the held token when it can be renewed, else log in again.
    async fn refresh(&self, guard: &mut (Option<Held>, u64)) -> Result<(), ProviderError> {
        if let Some(h) = guard.0.as_mut().filter(|h| h.owned && h.renewable) {
            let session = self.auth_session(Some(&h.token));
            let renewed = self
                .ctx
                .timed(PROVIDER, "RenewSelf", async {
                    vaultrs::token::renew_self(&session, None).await.map_err(|e| classify("renew token", &e))
                })
                .await;
            if let Ok(info) = renewed {
                let now = Instant::now();
                let (refresh_at, expires_at) = refresh_point(now, Duration::from_secs(info.lease_duration));
                // No longer extended: the token reached its max TTL; log in again next time.
                let extended = match (h.expires_at, expires_at) {
                    (Some(old), Some(new)) => new > old + Duration::from_secs(1),
                    _ => true,
                };
                h.renewable = info.renewable && extended;
                h.refresh_at = refresh_at;
                h.expires_at = expires_at;
                return Ok(());
            }
            tracing::debug!(provider = PROVIDER, "token renewal failed; logging in again");
        }
        let login = self.login().await?;
        self.install(guard, login);
        Ok(())
    }

    async fn login(&self) -> Result<Login, ProviderError> {
        let session = self.auth_session(None);
        if self.method.is_login() {
            self.ctx.timed(PROVIDER, "Login", self.method.login(&session, &self.ctx)).await
        } else {
            self.method.login(&session, &self.ctx).await
        }
    }

    fn install(&self, guard: &mut (Option<Held>, u64), login: Login) {
        guard.1 += 1;
        let now = Instant::now();
        let (refresh_at, expires_at) = if login.owned { refresh_point(now, login.lease) } else { (None, None) };
        let reads = Arc::new(self.transport.session(Some(&login.token), self.namespace.as_deref()));
        guard.0 = Some(Held {
            token: login.token,
            reads,
            generation: guard.1,
            owned: login.owned,
            renewable: login.renewable,
            refresh_at,
            expires_at,
        });
        self.installed.notify_one();
    }

    /// A call with generation `generation` was refused. Ask Vault whether the token itself is
    /// gone (lookup-self refused too); if so, drop it so the next `current` logs in again.
    /// Returns whether a retry with a new token may help.
    pub(crate) async fn token_rejected(&self, generation: u64) -> bool {
        let mut guard = self.state.lock().await;
        let Some(held) = guard.0.as_ref() else {
            return true;
        };
        if held.generation != generation {
            return true; // someone else already replaced it
        }
        let session = self.auth_session(Some(&held.token));
        let lookup = self
            .ctx
            .timed(PROVIDER, "LookupSelf", async { vaultrs::token::lookup_self(&session).await.map_err(|e| classify("lookup token", &e)) })
            .await;
        match lookup {
            Ok(_) => false, // the token is fine: the policy forbids the call
            Err(ProviderError::Auth(_)) => {
                guard.0 = None;
                true
            }
            Err(_) => false,
        }
    }

    /// Renew or log in again if due; the background renewer calls this. Returns when to come back.
    pub(crate) async fn maintain(&self) -> Option<Instant> {
        let due = {
            let guard = self.state.lock().await;
            guard.0.as_ref().and_then(|h| h.refresh_at)
        };
        match due {
            Some(at) if Instant::now() >= at => {
                if let Err(e) = self.current().await {
                    tracing::warn!(provider = PROVIDER, error = %e, "background token refresh failed");
                    return Some(Instant::now() + Duration::from_secs(30));
                }
                let guard = self.state.lock().await;
                guard.0.as_ref().and_then(|h| h.refresh_at)
            }
            other => other,
        }
    }

    /// Revoke a token Sesame logged in for; forget any token.
    pub(crate) async fn revoke(&self) {
        let mut guard = self.state.lock().await;
        let Some(held) = guard.0.take() else { return };
        if !held.owned || held.expires_at.is_some_and(|e| Instant::now() >= e) {
            return;
        }
        let session = self.auth_session(Some(&held.token));
        let result = self
            .ctx
            .timed(PROVIDER, "RevokeSelf", async { vaultrs::token::revoke_self(&session).await.map_err(|e| classify("revoke token", &e)) })
            .await;
        if let Err(e) = result {
            tracing::debug!(provider = PROVIDER, error = %e, "token revocation failed");
        }
    }
}
