//! The HashiCorp Vault / OpenBao provider: `spec.provider.vault`, field-compatible with ESO's
//! Vault store, reading KV v1 and v2.
//!
//! The configuration types are always compiled (the controller's CRDs need them); the client,
//! on `vaultrs`, is behind the `client` feature (default on).
//!
//! Sesame's difference from ESO: a built client logs in once, caches its token, renews it before
//! it expires (two thirds into each lease, in the background too, so an idle store keeps its
//! token) and logs in again only when the token reaches its max TTL or Vault says it is gone
//! (a 403 confirmed by lookup-self, then one retry) — never once per read. `close()` revokes a
//! token Sesame logged in for, never a `tokenSecretRef` token.
//!
//! Remote calls are recorded under provider `HashiCorp/Vault` as `Login`, `RenewSelf`,
//! `LookupSelf`, `RevokeSelf`, `ReadSecretData`, `ReadSecretMetadata`, `List` and `ReadMount`
//! (`validate`: the mount exists and has the store's KV version).
//!
//! `spec.provider.openBao` (ESO's own OpenBao key) is served by the same client: see [`OpenBaoProvider`].
//!
//! Not supported: the `gcp` auth method's GCE login (no `secretRef` nor `workloadIdentity`: the
//! controller's own metadata identity; a store naming it is rejected as invalid); kubernetes auth with the controller's own ServiceAccount token (a store
//! must name `serviceAccountRef` or `secretRef`); `readYourWrites` is accepted but replication
//! states are not tracked.
#![forbid(unsafe_code)]

mod config;
mod config_auth;
mod config_auth_cloud;
mod openbao;

pub use config::{
    VaultAppRole, VaultAuth, VaultCertAuth, VaultCheckAndSet, VaultClientTls, VaultJwtAuth, VaultKubernetesAuth,
    VaultKubernetesServiceAccountTokenAuth, VaultKvVersion, VaultLdapAuth, VaultProvider, VaultUserPassAuth,
};
pub use config_auth_cloud::{VaultAwsJwtAuth, VaultGcpAuth, VaultIamAuth};
pub use openbao::{OpenBaoAuth, OpenBaoProvider};

/// The `provider` label of Sesame's provider call metrics.
pub const PROVIDER: &str = "HashiCorp/Vault";

#[cfg(feature = "client")]
mod auth;
#[cfg(feature = "client")]
mod auth_gcp;
#[cfg(feature = "client")]
mod auth_iam;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod errors;
#[cfg(feature = "client")]
mod find;
#[cfg(feature = "client")]
mod kv;
#[cfg(feature = "client")]
mod openbao_client;
#[cfg(feature = "client")]
mod push;
#[cfg(feature = "client")]
mod token;
#[cfg(feature = "client")]
mod transport;

#[cfg(feature = "client")]
pub use client::{Retries, VaultStoreClient, build, build_with};
pub use openbao_client::build_openbao;
#[cfg(feature = "client")]
pub use reqwest::Method;
#[cfg(feature = "client")]
pub use transport::RawRequest;
