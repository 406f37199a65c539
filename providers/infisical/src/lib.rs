//! The Infisical provider: `spec.provider.infisical`, field-compatible with ESO's Infisical store.
//! It reads one project environment's secrets through Infisical's REST API (`/api/v3/secrets/raw`)
//! after a machine-identity login, and writes them for PushSecret (`push.rs`).
//!
//! The configuration types are always compiled (the CRD generator needs them); the client, a small
//! typed one on the shared reqwest helpers (`sesame-provider-http`), sits behind the `client`
//! feature (default on).
#![forbid(unsafe_code)]

mod config;

pub use config::*;

#[cfg(feature = "client")]
mod ambient;
#[cfg(feature = "client")]
mod auth;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod gcp_iam;
#[cfg(feature = "client")]
mod keys;
#[cfg(feature = "client")]
mod login;
#[cfg(feature = "client")]
mod oci;
#[cfg(feature = "client")]
mod push;

#[cfg(feature = "client")]
pub use ambient::{AZURE_IMDS_ENV, Ambient, GCE_METADATA_HOST_ENV};
#[cfg(feature = "client")]
pub use client::{InfisicalClient, PROVIDER_NAME, build, build_with};
#[cfg(feature = "client")]
pub use gcp_iam::{KEY_DIR_FLAG, allow_gcp_key_dir};
