//! The HTTP pieces every REST provider needs, written once: a `reqwest` client with Sesame's
//! defaults ([`ClientOptions`]), the trusted CAs of a store's `caBundle` / `caProvider`
//! ([`ca_certificates`]), a bounded read of an answer ([`send`]) and the mapping of an error
//! answer to what the controller does next ([`classify`]).
//!
//! No provider-specific knowledge lives here: each provider names its service, its body limit and
//! the JSON keys its error bodies carry their message in.
#![forbid(unsafe_code)]

mod answer;
mod client;

pub use answer::{Answer, chain, classify, prefixed, said, send};
pub use client::{ClientOptions, ca_certificates};
pub use reqwest;
