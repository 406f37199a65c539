//! ESO's `Webhook` generator: one HTTP request whose URL, headers and body are templates over the
//! generator's `secrets[]`; the JSON answer (or the object `result.jsonPath` picks in it) becomes
//! the output map, one key per member.
//!
//! The request is the Webhook provider's own ([`sesame_provider_webhook::request`]): literal
//! scheme and host, URL-escaped template values, no redirects, the answer capped at 1 MiB. The
//! answer-to-map rule is the provider crate's [`sesame_provider_webhook::map`].
//!
//! Differences from ESO, on purpose: each `secrets[].secretRef` names its `key` (Sesame reads one
//! key, not the whole Secret), and the `external-secrets.io/type: webhook` label ESO requires on
//! those Secrets is not checked (the generator's credentials resolve in its own namespace only).
#![forbid(unsafe_code)]

mod generator;
mod spec;

pub use generator::Webhook;
pub use spec::{WebhookSecret, WebhookSecretKeySelector, WebhookSpec};
