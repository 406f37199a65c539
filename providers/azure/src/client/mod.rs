//! The Key Vault client of one store: three SDK clients (secrets, keys, certificates) sharing one
//! credential and one HTTPS client, built once per store generation.
mod auth;
mod certificate;
mod certmaterial;
mod errors;
mod find;
mod keymaterial;
mod objects;
mod push;
mod push_objects;
mod reads;
mod token;
mod transport;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode};
use azure_core::time::Duration;
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use sesame_provider_core::{
    CallQuota, Capabilities, FindQuery, FindScope, MetadataPolicy, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider,
    SecretValue,
};

pub use auth::{ANNOTATION_CLIENT_ID, ANNOTATION_TENANT_ID, DEFAULT_AUDIENCE};
pub use token::entra_token;
pub use transport::{ENV_EXTRA_CA_FILE, ENV_PLAIN_HTTP_PROXY, ENV_RESOLVE, HttpSettings};

use crate::AzureKvProvider;
use errors::map_error;
use objects::Kind;

/// The `provider` label of the call metrics, as ESO names it.
pub const PROVIDER: &str = "Azure/KeyVault";

/// Build the client for a store, with the production network settings.
pub async fn build(spec: &AzureKvProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    build_with(spec, ctx, &HttpSettings::default()).await
}

/// Build the client for a store with explicit network settings (extra trusted CAs, pinned host
/// names, an IMDS proxy). Everything else is exactly [`build`].
pub async fn build_with(
    spec: &AzureKvProvider,
    ctx: ProviderContext,
    http: &HttpSettings,
) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    Ok(Arc::new(AzureKvClient::new(spec, ctx, http).await?))
}

/// Reads secrets, keys and certificates from one vault.
pub struct AzureKvClient {
    secrets: SecretClient,
    keys: KeyClient,
    certs: CertificateClient,
    ctx: ProviderContext,
}

impl AzureKvClient {
    pub async fn new(spec: &AzureKvProvider, ctx: ProviderContext, http: &HttpSettings) -> Result<Self, ProviderError> {
        let vault = spec.vault_url.trim();
        if !vault.starts_with("https://") {
            return Err(ProviderError::Invalid(format!("vaultUrl {vault:?} must be an https URL: Key Vault only accepts tokens over TLS")));
        }
        spec.check_urls()?;
        let options = client_options(spec, http)?;
        let credential = auth::credential(spec, &ctx, options.clone()).await?;
        // The controller owns retries of vault calls: it requeues with backoff, honouring
        // Retry-After, instead of the SDK sleeping inside a reconcile.
        let client_options = ClientOptions { retry: RetryOptions::none(), ..options };
        let invalid = |e: azure_core::Error| ProviderError::Invalid(format!("invalid vaultUrl {vault:?}: {e}"));
        let secrets = SecretClient::new(
            vault,
            credential.clone(),
            Some(SecretClientOptions { client_options: client_options.clone(), ..Default::default() }),
        )
        .map_err(invalid)?;
        let keys = KeyClient::new(
            vault,
            credential.clone(),
            Some(KeyClientOptions { client_options: client_options.clone(), ..Default::default() }),
        )
        .map_err(invalid)?;
        let certs = CertificateClient::new(vault, credential, Some(CertificateClientOptions { client_options, ..Default::default() }))
            .map_err(invalid)?;
        Ok(AzureKvClient { secrets, keys, certs, ctx })
    }
}

/// Transport, cloud and Entra ID retry policy shared by every pipeline of one store.
pub(crate) fn client_options(spec: &AzureKvProvider, http: &HttpSettings) -> Result<ClientOptions, ProviderError> {
    Ok(ClientOptions {
        transport: Some(http.transport()?),
        cloud: Some(Arc::new(auth::cloud(spec)?)),
        // Token requests (Entra ID) retry 429/5xx and connection errors a little, bounded
        // well inside a reconcile; the IMDS credential sets its own, Azure-recommended policy.
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            max_retries: 3,
            max_total_elapsed: Duration::seconds(20),
            max_delay: Duration::seconds(5),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[async_trait]
impl SecretProvider for AzureKvClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn call_quota(&self) -> CallQuota {
        // Secrets and vault transactions: 4,000 per 10 seconds per vault and region.
        CallQuota::per_second(400)
    }

    /// The whole object: a secret's value, a key's JWK JSON or a certificate's DER bytes; or,
    /// with `metadataPolicy: Fetch`, the object's tags and dates as a JSON object.
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let (kind, name) = objects::parse(&key.key)?;
        if let Some(version) = &key.version {
            objects::check_version(version)?;
        }
        let fetch = key.metadata_policy == MetadataPolicy::Fetch;
        match kind {
            Kind::Secret => self.read_secret(name, key.version.clone(), fetch).await,
            Kind::Key => self.read_key(name, key.version.clone(), fetch).await,
            Kind::Cert => self.read_cert(name, key.version.clone(), fetch).await,
        }
    }

    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        find::find(self, query, scope).await
    }

    /// Reads a secret that need not exist. Any answer from the vault itself (found, 404, or a
    /// 403 for that one secret) proves the vault is reachable over TLS, the challenge resolved,
    /// Entra ID issued a token and the vault accepted it. Per-secret permissions are checked by
    /// each ExternalSecret's own reads.
    async fn validate(&self) -> Result<(), ProviderError> {
        const PROBE: &str = "sesame-store-validation";
        self.ctx
            .timed(PROVIDER, "GetSecret", async {
                match self.secrets.get_secret(PROBE, None).await {
                    Ok(_) => Ok(()),
                    Err(e) if matches!(e.http_status(), Some(StatusCode::NotFound | StatusCode::Forbidden)) => Ok(()),
                    Err(e) => Err(map_error("GetSecret", &format!("secret {PROBE}"), e)),
                }
            })
            .await
    }

    /// Secrets are pushed (GetSecret, SetSecret, DeleteSecret), keys and certificates imported
    /// (GetKey, ImportKey, DeleteKey; GetCertificate, ImportCertificate, DeleteCertificate).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        self.push(remote, value).await
    }

    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        self.delete(remote).await
    }

    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        self.exists(remote).await
    }
}
