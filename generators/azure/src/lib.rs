//! ESO's `ACRAccessToken` generator: an Azure Container Registry login for the identity an Azure
//! Key Vault store would use. An Entra ID token (service principal, managed identity or workload
//! identity: the store's own credential code, [`sesame_provider_azure::entra_token`]) is
//! exchanged at the registry's `/oauth2/exchange` for an ACR refresh token; with `scope`, that is
//! exchanged again at `/oauth2/token` for an access token limited to it. Output keys as ESO:
//! `username` (the all-zero GUID ACR expects with tokens) and `password`.
//!
//! Network settings (extra CAs, pinned hosts) are the Azure store's: `SESAME_AZURE_*`.
#![forbid(unsafe_code)]

mod acr;
mod exchange;
mod spec;

pub use acr::AcrAccessToken;
pub use spec::{
    AcrAccessTokenSpec, AcrAuth, AcrManagedIdentityAuth, AcrServicePrincipalAuth, AcrServicePrincipalSecretRef, AcrWorkloadIdentityAuth,
};
