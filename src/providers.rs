//! The one place that knows which provider crate serves which `spec.provider` key.
use std::sync::Arc;

use sesame_provider_core::{ProviderContext, ProviderError, SecretProvider};

use crate::api::ProviderSpec;

/// Build the client for a store's provider.
pub async fn build(spec: &ProviderSpec, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let _ = &ctx;
    match spec {
        #[cfg(feature = "fake")]
        ProviderSpec { fake: Some(fake), .. } => Ok(Arc::new(sesame_provider_fake::FakeClient::new(fake))),
        #[cfg(feature = "aws")]
        ProviderSpec { aws: Some(aws), .. } => sesame_provider_aws::build(aws, ctx).await,
        #[cfg(feature = "vault")]
        ProviderSpec { vault: Some(vault), .. } => sesame_provider_vault::build(vault, ctx).await,
        #[cfg(feature = "gcp")]
        ProviderSpec { gcpsm: Some(gcp), .. } => sesame_provider_gcp::build(gcp, ctx).await,
        #[cfg(feature = "azure")]
        ProviderSpec { azurekv: Some(azure), .. } => {
            let http = sesame_provider_azure::HttpSettings::from_env()?;
            sesame_provider_azure::build_with(azure, ctx, &http).await
        }
        _ => Err(ProviderError::Invalid(format!(
            "store provider {} is not supported by this build of sesame",
            spec.kind()
        ))),
    }
}
