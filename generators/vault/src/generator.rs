//! Build, call, retry, clean up.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_core::SecretProvider;
use sesame_provider_vault::{Method, RawRequest, VaultProvider, VaultStoreClient};

use crate::response::{extract, lease_id};
use crate::{VaultDynamicSecretResultType, VaultDynamicSecretSpec};

/// The Vault client's own default when `retrySettings` is absent, as ESO (2 retries).
const DEFAULT_RETRIES: u32 = 2;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Bounds on tenant input.
const MAX_RETRIES: i32 = 10;
const MAX_INTERVAL: Duration = Duration::from_secs(300);
const MAX_PATH: usize = 1024;

/// The VaultDynamicSecret generator.
#[derive(Debug, Clone)]
pub struct VaultDynamicSecret {
    provider: VaultProvider,
    method: Method,
    call: &'static str,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    result_type: VaultDynamicSecretResultType,
    allow_empty: bool,
    retries: u32,
    interval: Duration,
}

fn invalid(m: impl std::fmt::Display) -> GeneratorError {
    GeneratorError::Invalid(format!("VaultDynamicSecret: {m}"))
}

impl VaultDynamicSecret {
    pub fn new(spec: VaultDynamicSecretSpec) -> Result<Self, GeneratorError> {
        spec.provider.check_urls().map_err(|e| GeneratorError::Invalid(format!("VaultDynamicSecret: provider: {e}")))?;
        let path = spec.path.trim_start_matches('/').to_string();
        if path.is_empty() || path.len() > MAX_PATH {
            return Err(invalid(format!("path must be 1 to {MAX_PATH} characters")));
        }
        // The path is joined into the URL: the same segment rules as a store's paths.
        sesame_provider_core::checks::path_segments("path", &path)
            .map_err(|e| GeneratorError::Invalid(format!("VaultDynamicSecret: {e}")))?;
        let (method, call) = match spec.method.to_ascii_uppercase().as_str() {
            "" | "GET" => (Method::GET, "ReadDynamicSecret"),
            "LIST" => (Method::from_bytes(b"LIST").map_err(invalid)?, "ListDynamicSecret"),
            "DELETE" => (Method::DELETE, "DeleteDynamicSecret"),
            // ESO writes for every other method; Vault treats POST as PUT.
            _ => (Method::PUT, "WriteDynamicSecret"),
        };
        let body = match (method == Method::PUT, spec.parameters) {
            (true, None) => Some(json!({})),
            (true, Some(Value::Object(p))) => Some(Value::Object(p)),
            (true, Some(_)) => return Err(invalid("parameters must be an object")),
            (false, _) => None,
        };
        let query = if method == Method::GET {
            spec.get_parameters.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone()))).collect()
        } else {
            Vec::new()
        };
        let (retries, interval) = match spec.retry_settings {
            None => (DEFAULT_RETRIES, DEFAULT_INTERVAL),
            Some(r) => {
                let n = r.max_retries.map_or(Ok(DEFAULT_RETRIES), |n| match n {
                    n if !(0..=MAX_RETRIES).contains(&n) => {
                        Err(invalid(format!("retrySettings.maxRetries {n} is outside 0..={MAX_RETRIES}")))
                    }
                    n => Ok(n as u32),
                })?;
                let interval = match r.retry_interval.as_deref() {
                    None => DEFAULT_INTERVAL,
                    Some(text) => parse_duration(text)
                        .filter(|d| *d <= MAX_INTERVAL)
                        .ok_or_else(|| invalid(format!("retrySettings.retryInterval {text:?} is not a duration up to 5m (e.g. 10s)")))?,
                };
                (n, interval)
            }
        };
        Ok(VaultDynamicSecret {
            provider: spec.provider,
            method,
            call,
            path,
            query,
            body,
            result_type: spec.result_type,
            allow_empty: spec.allow_empty_response,
            retries,
            interval,
        })
    }

    /// The call, retried on network faults, 5xx and throttling; the status and body.
    async fn send(&self, client: &VaultStoreClient) -> Result<(u16, Value), GeneratorError> {
        let request = RawRequest { method: self.method.clone(), path: &self.path, query: &self.query, body: self.body.as_ref() };
        let mut attempt = 0;
        loop {
            let result = client.raw(self.call, &request).await.and_then(|(status, body)| match status {
                429 => Err(GeneratorError::throttled(failure(&self.method, &self.path, status, &body))),
                s if s >= 500 => Err(GeneratorError::Transient(failure(&self.method, &self.path, status, &body))),
                _ => Ok((status, body)),
            });
            match result {
                Err(e) if e.is_retryable() && attempt < self.retries => {
                    attempt += 1;
                    tokio::time::sleep(self.interval).await;
                }
                other => return other,
            }
        }
    }
}

/// Why Vault refused: the method, path, status and Vault's own `errors` (never the request body).
fn failure(method: &Method, path: &str, status: u16, body: &Value) -> String {
    let errors: Vec<&str> = body["errors"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if errors.is_empty() {
        format!("{method} {path}: HTTP {status}")
    } else {
        format!("{method} {path}: HTTP {status}: {}", errors.join("; "))
    }
}

/// A Go duration of whole units (`500ms`, `10s`, `1m30s`, `1h`).
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).filter(|&n| n > 0)?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        total += match &rest[..unit] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        rest = &rest[unit..];
    }
    (!text.is_empty()).then_some(total)
}

#[async_trait]
impl Generator for VaultDynamicSecret {
    fn kind(&self) -> &'static str {
        "VaultDynamicSecret"
    }

    /// The provider's rule: `auth.gcp` GCE login or `auth.iam` without credentials.
    fn controller_identity(&self) -> Option<&'static str> {
        self.provider.controller_identity()
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        // Not closed afterwards: revoking the login token would revoke the lease just created.
        let client: Arc<VaultStoreClient> = VaultStoreClient::connect(&self.provider, ctx.provider.clone()).await?;
        let (status, body) = self.send(&client).await?;
        let state = lease_id(&body).map(|id| json!({ "leaseId": id }));
        let data = match status {
            // No content, or (as the Vault Go client reads it) nothing at a GET path.
            204 => None,
            404 if self.method == Method::GET => None,
            200..=299 => extract(self.result_type, &body)?,
            400 => return Err(GeneratorError::Invalid(failure(&self.method, &self.path, status, &body))),
            401 | 403 => return Err(GeneratorError::Auth(failure(&self.method, &self.path, status, &body))),
            404 => return Err(GeneratorError::NotFound(failure(&self.method, &self.path, status, &body))),
            _ => return Err(GeneratorError::Invalid(failure(&self.method, &self.path, status, &body))),
        };
        let data = match data {
            Some(data) => data,
            None if self.allow_empty => BTreeMap::new(),
            None => return Err(GeneratorError::NotFound(format!("{} {}: empty response from Vault", self.method, self.path))),
        };
        Ok(Generated { data, state })
    }

    async fn cleanup(&self, state: &Value, ctx: &GeneratorContext) -> Result<(), GeneratorError> {
        let Some(id) = state["leaseId"].as_str().filter(|id| !id.is_empty()) else {
            return Ok(());
        };
        let client = VaultStoreClient::connect(&self.provider, ctx.provider.clone()).await?;
        let body = json!({ "lease_id": id });
        let request = RawRequest { method: Method::PUT, path: "sys/leases/revoke", query: &[], body: Some(&body) };
        let result = client.raw("RevokeLease", &request).await;
        // This token created nothing: revoke it now rather than let it expire.
        client.close().await;
        let (status, body) = result?;
        match status {
            200..=299 => Ok(()),
            // Already revoked or expired.
            400 if failure(&Method::PUT, "", status, &body).contains("invalid lease") => Ok(()),
            401 | 403 => Err(GeneratorError::Auth(failure(&Method::PUT, "sys/leases/revoke", status, &body))),
            s if s == 429 || s >= 500 => Err(GeneratorError::Transient(failure(&Method::PUT, "sys/leases/revoke", status, &body))),
            _ => Err(GeneratorError::Invalid(failure(&Method::PUT, "sys/leases/revoke", status, &body))),
        }
    }
}

#[cfg(test)]
#[path = "generator_tests.rs"]
mod tests;
