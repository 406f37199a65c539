//! ESO's `VaultDynamicSecret` generator: one call to any Vault API path (a database role's
//! `creds/…`, `pki/issue/…`, `auth/token/create` …) with a Vault store's connection and login,
//! its `data`, `auth` or whole response as the output.
//!
//! Unlike ESO, what the call leased is recorded in the [`Generated::state`]
//! (`{"leaseId": …}`) and [`Generator::cleanup`] revokes it (`PUT sys/leases/revoke`), so a
//! superseded credential does not outlive its use. The login token of a generation is *not*
//! revoked afterwards: Vault revokes a token's leases with it, which would kill the credential
//! just generated.
//!
//! [`Generated::state`]: sesame_generator_core::Generated
//! [`Generator::cleanup`]: sesame_generator_core::Generator::cleanup
#![forbid(unsafe_code)]

mod generator;
mod response;
mod spec;

pub use generator::VaultDynamicSecret;
pub use spec::{VaultDynamicSecretResultType, VaultDynamicSecretSpec, VaultRetrySettings};
