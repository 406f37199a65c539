//! Reads as ESO's bitwarden provider reads: a remote key that is a UUID is the secret's id; any
//! other key is a secret name, looked up among the organization's secrets and required to be
//! unique within the store's project. `property` then applies to the value as JSON (the
//! controller does it), `dataFrom.extract` takes the keys of a YAML mapping or JSON object (`extract.rs`).
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use sesame_provider_core::{
    Capabilities, FindQuery, FindScope, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider, SecretValue, property,
};
use sesame_provider_http::{ClientOptions, ca_certificates, prefixed, reqwest};

use crate::sdk::{SdkServer, Secret};
use crate::{BitwardenSecretsManagerProvider, is_uuid};

/// The `provider` label of the call metrics.
pub const PROVIDER_NAME: &str = "BitwardenSecretsManager";

/// A client for one Bitwarden Secrets Manager store.
pub struct BitwardenClient {
    pub(crate) sdk: SdkServer,
    pub(crate) organization_id: String,
    pub(crate) project_id: String,
}

/// Build the client of a store: the token from its Secret, the CA from `caBundle` (base64 PEM,
/// or PEM as ESO also takes it) or `caProvider`.
pub async fn build(spec: &BitwardenSecretsManagerProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    spec.check_spec()?;
    let token = ctx.credentials.secret_key(&spec.auth.secret_ref.credentials, None).await?;
    let token =
        String::from_utf8(token.into_bytes()).map_err(|_| ProviderError::Invalid("the Bitwarden access token is not UTF-8 text".into()))?;
    let token = token.trim();
    if token.is_empty() || token.chars().any(char::is_control) {
        return Err(ProviderError::Invalid("the Bitwarden access token is empty or holds control characters".into()));
    }
    let bundle = spec.ca_bundle.trim();
    let bundle = match bundle.contains("-----BEGIN") {
        true => base64::engine::general_purpose::STANDARD.encode(bundle),
        false => bundle.to_string(),
    };
    let cas = ca_certificates(Some(&bundle), spec.ca_provider.as_ref(), ctx.credentials.as_ref()).await?;
    let base = spec.sdk_url().to_string();
    let url = reqwest::Url::parse(&base).map_err(|e| ProviderError::Invalid(format!("bitwardenServerSDKURL {base:?}: {e}")))?;
    let http = ClientOptions::for_url(&url).trusting(cas).build(crate::sdk::SERVICE)?;
    let headers = SdkServer::headers(token, &spec.api_url, &spec.identity_url)?;
    Ok(Arc::new(BitwardenClient {
        sdk: SdkServer { base, http, headers, ctx },
        organization_id: spec.organization_id.clone(),
        project_id: spec.project_id.clone(),
    }))
}

impl BitwardenClient {
    /// Whether the secret belongs to the store's project (Bitwarden answers ids lowercase).
    pub(crate) fn in_project(&self, secret: &Secret) -> bool {
        secret.project_id.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(&self.project_id))
    }

    /// The one secret named `name` in the store's project, if any: every secret of the
    /// organization with that name is read, and a second one in the project is an error, as in
    /// ESO (Bitwarden allows duplicate names).
    pub(crate) async fn find_by_name(&self, name: &str) -> Result<Option<Secret>, ProviderError> {
        let listed = self.sdk.list(&self.organization_id).await?;
        let mut found: Option<Secret> = None;
        for entry in listed.iter().filter(|e| e.key == name) {
            let secret = self.sdk.get(&entry.id).await?;
            if !self.in_project(&secret) {
                continue;
            }
            if found.is_some() {
                return Err(self.duplicate(name));
            }
            found = Some(secret);
        }
        Ok(found)
    }

    pub(crate) fn duplicate(&self, name: &str) -> ProviderError {
        ProviderError::Invalid(format!("more than one secret found for project {} with key {name}", self.project_id))
    }

    pub(crate) fn not_found(&self, name: &str) -> ProviderError {
        ProviderError::NotFound(format!("no secret found for project id {} and name {name}", self.project_id))
    }
}

#[async_trait]
impl SecretProvider for BitwardenClient {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// A UUID key by id, any other by name in the store's project; `version` and
    /// `metadataPolicy: Fetch` have no meaning here and are refused.
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        if key.version.is_some() {
            return Err(ProviderError::Invalid("Bitwarden Secrets Manager secrets have no versions: remove remoteRef.version".into()));
        }
        if key.metadata_policy == sesame_provider_core::MetadataPolicy::Fetch {
            return Err(ProviderError::Invalid(
                "Bitwarden Secrets Manager has no secret metadata: metadataPolicy Fetch is not supported".into(),
            ));
        }
        if is_uuid(&key.key) {
            let read = self.sdk.get(&key.key).await.map_err(|e| prefixed(e, &format!("secret {}", key.key)));
            return read.map(|s| SecretValue::from(s.value));
        }
        match self.find_by_name(&key.key).await? {
            Some(secret) => Ok(SecretValue::from(secret.value)),
            None => Err(self.not_found(&key.key)),
        }
    }

    /// Several keys: one list for all names and batched reads (see `batch`).
    async fn get_secrets(&self, keys: &[RemoteKey]) -> Vec<Result<SecretValue, ProviderError>> {
        match keys {
            [one] => vec![self.get_secret(one).await],
            _ => crate::batch::get_secrets(self, keys).await,
        }
    }

    /// `dataFrom.extract`: the keys of a YAML mapping (so of a JSON object too), rendered as
    /// ESO renders them (`extract.rs`).
    async fn get_secret_map(&self, key: &RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let payload = self.get_secret(&RemoteKey { property: None, ..key.clone() }).await?;
        let payload = match &key.property {
            Some(p) => property::extract(payload.as_bytes(), p, &key.key)?,
            None => payload,
        };
        crate::extract::secret_map(payload.as_bytes(), &key.key)
    }

    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        crate::find::find(self, query, scope).await
    }

    /// ESO's check is the store's configuration alone (done when the client is built): the
    /// sdk-server logs in on every call, so there is no cheap call to prove the token with.
    async fn validate(&self) -> Result<(), ProviderError> {
        Ok(())
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
}
