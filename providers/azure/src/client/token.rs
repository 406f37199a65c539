//! An Entra ID access token for a store's identity, handed to a caller that needs the token
//! itself (ESO's ACRAccessToken generator exchanges it at a registry), from the same credential
//! code and network settings as the store's Key Vault client.
use sesame_provider_core::{ProviderContext, ProviderError};

use super::errors::map_error;
use super::transport::HttpSettings;
use super::{PROVIDER, auth, client_options};
use crate::AzureKvProvider;

/// A fresh token for `scope` (e.g. `https://management.azure.com/.default`). Errors say what
/// failed, never the token.
pub async fn entra_token(spec: &AzureKvProvider, ctx: &ProviderContext, http: &HttpSettings, scope: &str) -> Result<String, ProviderError> {
    let options = client_options(spec, http)?;
    let credential = auth::credential(spec, ctx, options).await?;
    let token = ctx
        .timed(PROVIDER, "GetToken", async { credential.get_token(&[scope], None).await.map_err(|e| map_error("GetToken", scope, e)) })
        .await?;
    Ok(token.token.secret().to_string())
}
