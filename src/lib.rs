//! Sesame: an External Secrets operator serving ESO's `external-secrets.io/v1` API.
#![forbid(unsafe_code)]

pub mod api;
pub mod apiserver_client;
mod by_namespace;
pub mod cli;
pub mod controller;
pub mod crdgen;
pub mod duration;
pub mod fetch;
pub mod generators;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod pipeline;
pub mod providers;
pub mod render;
