use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::{StreamExt, stream};

use crate::{
    CaProvider, CallQuota, FindQuery, FindScope, ProviderError, PushRef, RemoteKey, SecretKeySelector, SecretValue, ServiceAccountSelector,
    property,
};

/// What a store can do, reported in `SecretStore.status.capabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capabilities {
    ReadOnly,
    ReadWrite,
}

impl Capabilities {
    pub fn as_str(self) -> &'static str {
        match self {
            Capabilities::ReadOnly => "ReadOnly",
            Capabilities::ReadWrite => "ReadWrite",
        }
    }
}

/// A client for one store, built once per store generation and shared by every ExternalSecret
/// that uses it. Implementations must be cheap to call concurrently.
#[async_trait]
pub trait SecretProvider: Send + Sync {
    /// The `provider` label of `externalsecret_provider_api_calls_count`, e.g. `AWS/SecretsManager`.
    fn name(&self) -> &'static str;

    /// Read one remote secret. The whole payload is returned and `property` is applied by the
    /// caller, unless the provider [`applies_property`](Self::applies_property) (then `key.property`
    /// is set and the answer is the selected value).
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError>;

    /// Whether the provider applies `remoteRef.property` itself, as ESO's onepassword does (a
    /// default field, a `file/` prefix). When true the caller passes the property in
    /// [`RemoteKey::property`], reads `dataFrom.extract` with [`get_secret_map`](Self::get_secret_map)
    /// and applies nothing after the read. False (the default): the caller applies it, as gjson.
    fn applies_property(&self) -> bool {
        false
    }

    /// `dataFrom.extract` of one remote secret, as key → value. The default reads the payload and
    /// takes its top-level JSON keys (after `property`), which is what the caller does itself for
    /// providers that do not [`apply the property`](Self::applies_property).
    async fn get_secret_map(&self, key: &RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let whole = RemoteKey { property: None, ..key.clone() };
        let payload = self.get_secret(&whole).await?;
        let payload = match &key.property {
            Some(p) => property::extract(payload.as_bytes(), p, &key.key)?,
            None => payload,
        };
        property::top_level_map(payload.as_bytes(), &key.key)
    }

    /// Read several remote secrets at once, answering each key on its own: one key's failure
    /// never fails another. Providers with a batch API override this; the default runs bounded
    /// concurrent single reads.
    async fn get_secrets(&self, keys: &[RemoteKey]) -> Vec<Result<SecretValue, ProviderError>> {
        // Collected first so no closure lives in the future (it would not be `Send` for all lifetimes).
        let reads: Vec<_> = keys.iter().map(|k| self.get_secret(k)).collect();
        stream::iter(reads).buffered(DEFAULT_BATCH_CONCURRENCY).collect().await
    }

    /// How many keys one remote call of `get_secrets` carries (1 when the provider has no batch
    /// API). The fetch layer charges a store's rate budget one token per remote call.
    fn keys_per_call(&self) -> usize {
        1
    }

    /// `dataFrom.find`: every remote secret matching the query, by remote name. Every remote
    /// call is charged to `scope` before it is made, and the search fails at its limits
    /// (`check_matches` while listing, `check_value` per value read).
    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let _ = (query, scope);
        Err(ProviderError::Invalid(format!("{} does not support dataFrom.find", self.name())))
    }

    /// A cheap call proving the credentials and configuration work; sets the store's Ready.
    async fn validate(&self) -> Result<(), ProviderError>;

    /// Why this store's validity cannot be decided, when it cannot: the store is then Ready with
    /// ESO's reason `ValidationUnknown` instead of `Valid`, whatever `validate` says.
    fn undecidable_validation(&self) -> Option<String> {
        None
    }

    /// The backend's documented request quota: the store's call budget when no flag or store
    /// annotation sets one. The budget adapts below it when the backend throttles.
    fn call_quota(&self) -> CallQuota {
        CallQuota::Unknown
    }

    /// `ReadWrite` for providers that implement the three PushSecret calls below.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadOnly
    }

    /// PushSecret: write `value` to `remote`; with a property, merge it into the remote secret's
    /// JSON object. A remote secret Sesame does not manage is refused (as ESO's providers do).
    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let _ = (remote, value);
        Err(ProviderError::Invalid(format!("{} cannot push secrets (the store is ReadOnly)", self.name())))
    }

    /// PushSecret `deletionPolicy: Delete`: remove what was pushed (only the property, when one
    /// was named and others remain). A remote secret that is already gone is not an error.
    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let _ = remote;
        Err(ProviderError::Invalid(format!("{} cannot delete secrets (the store is ReadOnly)", self.name())))
    }

    /// PushSecret `updatePolicy: IfNotExists`: whether the remote secret (or property) exists.
    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        let _ = remote;
        Err(ProviderError::Invalid(format!("{} cannot push secrets (the store is ReadOnly)", self.name())))
    }

    /// Release what the client holds (e.g. revoke a Vault token). Called when the store changes
    /// or the controller shuts down.
    async fn close(&self) {}
}

/// How many single reads the default `get_secrets` keeps in flight.
pub const DEFAULT_BATCH_CONCURRENCY: usize = 8;

/// Reads the Kubernetes objects a store's auth section points at. The controller implements it
/// with the store's tenancy rules already applied: a provider asks for what its spec names and
/// gets either the value or an `Auth` error saying why not.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The value under `selector.key` (or `default_key` when the selector has none).
    async fn secret_key(&self, selector: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, ProviderError>;

    /// Every key of the Secret `selector` names (its `key` is not looked at): ESO's webhook
    /// `secrets[]` without a key. Sources that cannot read whole Secrets refuse.
    async fn secret_data(&self, selector: &SecretKeySelector) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        Err(ProviderError::Invalid(format!("secret {}: whole Secrets cannot be read here; name a key", selector.name)))
    }

    /// The labels of the Secret `selector` names (ESO's Webhook store and generator require
    /// `external-secrets.io/type: webhook` on the Secrets they read). Sources that cannot read
    /// them refuse.
    async fn secret_labels(&self, selector: &SecretKeySelector) -> Result<BTreeMap<String, String>, ProviderError> {
        Err(ProviderError::Invalid(format!("secret {}: its labels cannot be read here", selector.name)))
    }

    /// A token for a ServiceAccount, minted with the TokenRequest API for exactly `audiences`: the
    /// provider's default audience with `selector.audiences` appended.
    async fn service_account_token(
        &self,
        selector: &ServiceAccountSelector,
        audiences: &[String],
        expiration_seconds: Option<i64>,
    ) -> Result<String, ProviderError>;

    /// The ServiceAccount's annotations (AWS reads `eks.amazonaws.com/role-arn` from them).
    async fn service_account_annotations(&self, selector: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError>;

    /// A PEM bundle from a Secret or ConfigMap.
    async fn ca_bundle(&self, provider: &CaProvider) -> Result<Vec<u8>, ProviderError>;

    /// The value under `key` of a ConfigMap (GCP's `credConfig`), tenancy applied as for a CA
    /// bundle's ConfigMap: the default reads it through [`ca_bundle`](Self::ca_bundle).
    async fn config_map_key(&self, name: &str, namespace: Option<&str>, key: &str) -> Result<Vec<u8>, ProviderError> {
        let provider = CaProvider {
            kind: crate::CaProviderKind::ConfigMap,
            name: name.to_string(),
            key: Some(key.to_string()),
            namespace: namespace.map(str::to_string),
        };
        self.ca_bundle(&provider).await
    }

    /// ESO's audience binding a minted token to the store it is for: `secretStore:<namespace>:<name>`
    /// or `clusterSecretStore:<name>` (Doppler's OIDC identities match on it). `None` where no
    /// store is known (render, generators).
    fn store_audience(&self) -> Option<String> {
        None
    }
}
