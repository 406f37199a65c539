//! The HashiCorp Vault / OpenBao provider: `spec.provider.vault`, field-compatible with ESO's
//! Vault store, reading KV v1 and v2.
//!
//! The configuration types are always compiled (the controller's CRDs need them); the client,
//! on `vaultrs`, is behind the `client` feature (default on).
//!
//! Sesame's difference from ESO: a built client logs in once, caches its token, renews it before
//! it expires and logs in again only when Vault says the token is gone — never once per read.
#![forbid(unsafe_code)]

mod config;
mod config_auth;

pub use config::{
    VaultAppRole, VaultAuth, VaultCertAuth, VaultClientTls, VaultJwtAuth, VaultKubernetesAuth,
    VaultKubernetesServiceAccountTokenAuth, VaultKvVersion, VaultProvider, VaultUserPassAuth,
};

/// The `provider` label of Sesame's provider call metrics.
pub const PROVIDER: &str = "HashiCorp/Vault";

#[cfg(feature = "client")]
mod auth;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod errors;
#[cfg(feature = "client")]
mod find;
#[cfg(feature = "client")]
mod kv;
#[cfg(feature = "client")]
mod token;
#[cfg(feature = "client")]
mod transport;

#[cfg(feature = "client")]
pub use client::{VaultStoreClient, build};
