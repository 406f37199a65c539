//! ESO's `Webhook` generator: one HTTP request whose URL, headers and body are templates over the
//! generator's `secrets[]`; the JSON answer (or the object `result.jsonPath` picks in it) becomes
//! the output map, one key per member.
//!
//! The request is the Webhook provider's own ([`sesame_provider_webhook::request`]): literal
//! scheme and host, URL-escaped template values, no redirects, the answer capped at 1 MiB. The
//! answer-to-map rule is the provider crate's [`sesame_provider_webhook::map`].
//!
//! As in ESO, every Secret of `secrets[]` must carry the label `external-secrets.io/type:
//! webhook` (checked before any value is read); the generator's Secrets resolve in its own
//! namespace only.
#![forbid(unsafe_code)]

mod generator;
mod spec;

pub use generator::{TYPE_LABEL, Webhook};
pub use spec::{WebhookSecret, WebhookSecretKeySelector, WebhookSpec};
