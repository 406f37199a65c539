//! The Webhook provider: `spec.provider.webhook`, field-compatible with ESO's Webhook store.
//! Each read is one HTTP request whose URL, headers and body are Go templates over the remote
//! ref and the store's `secrets[]`, rendered by Sesame's sandboxed engine; `result.jsonPath`
//! picks the value from a JSON answer. The request logic ([`request`]) and the answer-to-map rule
//! ([`map`]) are public: ESO's Webhook generator shares them.
//!
//! Remote calls are recorded under provider `Webhook` as `HTTPRequest`.
#![forbid(unsafe_code)]

mod config;

pub use config::{AuthorizationProtocol, NtlmProtocol, WebhookProvider, WebhookResult, WebhookSecret};

/// The `provider` label of Sesame's provider call metrics.
pub const PROVIDER: &str = "Webhook";

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub mod map;
#[cfg(feature = "client")]
pub mod request;

#[cfg(feature = "client")]
pub use client::build;
