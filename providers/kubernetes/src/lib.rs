//! The Kubernetes provider: `spec.provider.kubernetes`, field-compatible with ESO's Kubernetes
//! store. It reads (and pushes) Secrets of `remoteNamespace`, in this cluster or another one, as
//! the identity the store names: a token or client certificate from a Secret, a ServiceAccount
//! token from the TokenRequest API, or a kubeconfig (`authRef`).
//!
//! The configuration types are always compiled (the controller's CRDs need them); the client is
//! behind the `client` feature (default on).
//!
//! Remote calls are recorded under provider `Kubernetes` as `GetSecret`, `ListSecrets`,
//! `CreateSecret`, `UpdateSecret`, `DeleteSecret`, `CreateSelfSubjectRulesReview` and
//! `CreateSelfSubjectAccessReview`.
#![forbid(unsafe_code)]

mod config;

pub use config::{CertAuth, KubernetesAuth, KubernetesProvider, KubernetesServer, TokenAuth};

/// The `provider` label of Sesame's provider call metrics.
pub const PROVIDER: &str = "Kubernetes";

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod connect;
#[cfg(feature = "client")]
mod errors;
#[cfg(feature = "client")]
mod payload;
#[cfg(feature = "client")]
mod push;

#[cfg(feature = "client")]
pub use client::{KubernetesClient, build};
