//! The one place that knows which provider crate serves which `spec.provider` key.
use std::sync::Arc;

use sesame_provider_core::{ProviderContext, ProviderError, SecretProvider};

use crate::api::ProviderSpec;

/// Build the client for a store's provider.
pub async fn build(spec: &ProviderSpec, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let _ = &ctx;
    if let Some(fake) = &spec.fake {
        return Ok(Arc::new(sesame_provider_fake::FakeClient::new(fake)));
    }
    Err(ProviderError::Invalid(format!(
        "store provider {} is not supported by this build of sesame",
        spec.kind()
    )))
}
