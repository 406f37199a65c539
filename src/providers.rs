//! The one place that knows which provider crate serves which `spec.provider` key.
use std::sync::Arc;

use sesame_provider_core::{ProviderContext, ProviderError, SecretProvider};

use crate::api::{ProviderSpec, SecretStoreSpec};

/// Which store a client is built for, and for which ExternalSecret namespace (empty when a
/// ClusterSecretStore is validated on its own). ESO hands both to its providers; AWS session
/// tags carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreUse {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// Build the client for a store's provider.
pub async fn build(store: &SecretStoreSpec, used: &StoreUse, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let _ = (&ctx, used);
    let spec = &store.provider;
    match spec {
        #[cfg(feature = "fake")]
        ProviderSpec { fake: Some(fake), .. } => Ok(Arc::new(sesame_provider_fake::FakeClient::new(fake))),
        #[cfg(feature = "aws")]
        ProviderSpec { aws: Some(aws), .. } => {
            let (max_retries, retry_interval) = retry_settings(store)?;
            let origin = sesame_provider_aws::SessionOrigin {
                namespace: used.namespace.clone(),
                store_name: used.name.clone(),
                store_kind: used.kind.clone(),
            };
            let options = sesame_provider_aws::ClientOptions { session_origin: origin, ..Default::default() }
                .with_retries(max_retries, retry_interval);
            sesame_provider_aws::build_with(aws, ctx, options).await
        }
        #[cfg(feature = "vault")]
        ProviderSpec { vault: Some(vault), .. } => {
            // As ESO: retrySettings reach the Vault client (no in-client retry without them).
            let (max_retries, retry_interval) = retry_settings(store)?;
            let retries = match store.retry_settings {
                Some(_) => sesame_provider_vault::Retries::from_settings(max_retries, retry_interval),
                None => sesame_provider_vault::Retries::default(),
            };
            sesame_provider_vault::build_with(vault, ctx, retries).await
        }
        #[cfg(feature = "gcp")]
        ProviderSpec { gcpsm: Some(gcp), .. } => sesame_provider_gcp::build(gcp, ctx).await,
        #[cfg(feature = "azure")]
        ProviderSpec { azurekv: Some(azure), .. } => {
            let http = sesame_provider_azure::HttpSettings::from_env()?;
            sesame_provider_azure::build_with(azure, ctx, &http).await
        }
        #[cfg(feature = "vault")]
        ProviderSpec { open_bao: Some(bao), .. } => sesame_provider_vault::build_openbao(bao, ctx).await,
        #[cfg(feature = "kubernetes")]
        ProviderSpec { kubernetes: Some(k8s), .. } => sesame_provider_kubernetes::build(k8s, ctx).await,
        #[cfg(feature = "webhook")]
        ProviderSpec { webhook: Some(hook), .. } => sesame_provider_webhook::build(hook, ctx).await,
        #[cfg(feature = "gitlab")]
        ProviderSpec { gitlab: Some(gitlab), .. } => sesame_provider_gitlab::build(gitlab, ctx).await,
        #[cfg(feature = "doppler")]
        ProviderSpec { doppler: Some(doppler), .. } => sesame_provider_doppler::build(doppler, ctx).await,
        #[cfg(feature = "infisical")]
        ProviderSpec { infisical: Some(infisical), .. } => sesame_provider_infisical::build(infisical, ctx).await,
        #[cfg(feature = "onepassword")]
        ProviderSpec { onepassword: Some(op), .. } => sesame_provider_onepassword::build(op, ctx).await,
        #[cfg(feature = "bitwarden")]
        ProviderSpec { bitwardensecretsmanager: Some(bw), .. } => sesame_provider_bitwarden::build(bw, ctx).await,
        _ => Err(ProviderError::Invalid(format!("store provider {} is not supported by this build of sesame", spec.kind()))),
    }
}

/// The credential refs of a store that name no namespace. In a ClusterSecretStore they are
/// resolved in each ExternalSecret's namespace (referent authentication), so its clients are
/// per namespace. Decided from the spec alone, before anything is built.
pub fn referent_refs(store: &SecretStoreSpec) -> Vec<&'static str> {
    let spec = &store.provider;
    match spec {
        ProviderSpec { aws: Some(aws), .. } => aws.referent_refs(),
        ProviderSpec { vault: Some(vault), .. } => vault.referent_refs(),
        ProviderSpec { gcpsm: Some(gcp), .. } => gcp.referent_refs(),
        ProviderSpec { azurekv: Some(azure), .. } => azure.referent_refs(),
        ProviderSpec { open_bao: Some(bao), .. } => bao.referent_refs(),
        ProviderSpec { kubernetes: Some(k8s), .. } => k8s.referent_refs(),
        ProviderSpec { webhook: Some(hook), .. } => hook.referent_refs(),
        ProviderSpec { gitlab: Some(gitlab), .. } => gitlab.referent_refs(),
        ProviderSpec { doppler: Some(doppler), .. } => doppler.referent_refs(),
        ProviderSpec { infisical: Some(infisical), .. } => infisical.referent_refs(),
        ProviderSpec { onepassword: Some(op), .. } => op.referent_refs(),
        ProviderSpec { bitwardensecretsmanager: Some(bw), .. } => bw.referent_refs(),
        _ => Vec::new(),
    }
}

/// How many keys one read call of the store's provider takes (1: no batch API). Decided from
/// the spec alone: refresh slots are grouped by it before any client is built (`slot.rs`).
pub fn keys_per_call(store: &SecretStoreSpec) -> usize {
    match &store.provider {
        ProviderSpec { aws: Some(aws), .. } => aws.service.keys_per_call(),
        _ => 1,
    }
}

/// Whether a ClusterSecretStore needs a client per ExternalSecret namespace even without
/// referent refs: its provider puts the namespace into the session (AWS `sessionTagsPolicy`).
pub fn per_namespace(store: &SecretStoreSpec) -> bool {
    match &store.provider {
        ProviderSpec { aws: Some(aws), .. } => aws.tags_per_namespace(),
        _ => false,
    }
}

/// The store fields that reach a URL, checked without building anything.
pub fn check_urls(store: &SecretStoreSpec) -> Result<(), ProviderError> {
    let spec = &store.provider;
    match spec {
        ProviderSpec { aws: Some(aws), .. } => aws.check_urls(),
        ProviderSpec { vault: Some(vault), .. } => vault.check_urls(),
        ProviderSpec { gcpsm: Some(gcp), .. } => gcp.check_urls(),
        ProviderSpec { azurekv: Some(azure), .. } => azure.check_urls(),
        ProviderSpec { open_bao: Some(bao), .. } => bao.check_urls(),
        ProviderSpec { kubernetes: Some(k8s), .. } => k8s.check_urls(),
        ProviderSpec { webhook: Some(hook), .. } => hook.check_urls(),
        ProviderSpec { gitlab: Some(gitlab), .. } => gitlab.check_urls(),
        ProviderSpec { doppler: Some(doppler), .. } => doppler.check_urls(),
        ProviderSpec { infisical: Some(infisical), .. } => infisical.check_urls(),
        ProviderSpec { onepassword: Some(op), .. } => op.check_urls(),
        ProviderSpec { bitwardensecretsmanager: Some(bw), .. } => bw.check_urls(),
        _ => Ok(()),
    }
}

/// How the store authenticates as the controller itself (its cloud identity), if it does.
pub fn controller_identity(store: &SecretStoreSpec) -> Option<&'static str> {
    let spec = &store.provider;
    match spec {
        ProviderSpec { aws: Some(aws), .. } => aws.controller_identity(),
        ProviderSpec { vault: Some(vault), .. } => vault.controller_identity(),
        ProviderSpec { gcpsm: Some(gcp), .. } => gcp.controller_identity(),
        ProviderSpec { azurekv: Some(azure), .. } => azure.controller_identity(),
        ProviderSpec { infisical: Some(infisical), .. } => infisical.controller_identity(),
        _ => None,
    }
}

/// The store's `retrySettings` (ESO applies them to the AWS SDK's retryer and the Vault client; so does Sesame).
/// Other providers keep their own retry policy: the fetch layer's backoff covers them.
#[cfg(any(feature = "aws", test))]
fn retry_settings(store: &SecretStoreSpec) -> Result<(Option<u32>, Option<std::time::Duration>), ProviderError> {
    let Some(retry) = &store.retry_settings else { return Ok((None, None)) };
    let max_retries = match retry.max_retries {
        Some(n) => {
            Some(u32::try_from(n).map_err(|_| ProviderError::Invalid(format!("retrySettings.maxRetries must be 0 or more, got {n}")))?)
        }
        None => None,
    };
    let interval = match &retry.retry_interval {
        Some(text) => Some(
            crate::duration::parse_go_duration(text).map_err(|e| ProviderError::Invalid(format!("retrySettings.retryInterval: {e}")))?,
        ),
        None => None,
    };
    Ok((max_retries, interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(retry: serde_json::Value) -> SecretStoreSpec {
        serde_json::from_value(serde_json::json!({"provider": {"fake": {"data": []}}, "retrySettings": retry})).unwrap()
    }

    #[test]
    fn retry_settings_are_read_from_the_store() {
        let parsed = retry_settings(&store(serde_json::json!({"maxRetries": 5, "retryInterval": "250ms"}))).unwrap();
        assert_eq!(parsed, (Some(5), Some(std::time::Duration::from_millis(250))));
        assert_eq!(retry_settings(&store(serde_json::json!({}))).unwrap(), (None, None));
    }

    #[test]
    fn bad_retry_settings_are_a_configuration_error() {
        let negative = retry_settings(&store(serde_json::json!({"maxRetries": -1}))).unwrap_err();
        assert!(matches!(negative, ProviderError::Invalid(ref m) if m.contains("maxRetries")), "{negative}");
        let interval = retry_settings(&store(serde_json::json!({"retryInterval": "soon"}))).unwrap_err();
        assert!(matches!(interval, ProviderError::Invalid(ref m) if m.contains("retryInterval")), "{interval}");
    }
}
