//! The sync pipeline without Kubernetes: source (fetch from a provider) → transform (property,
//! decoding, key conversion) → the data of the desired Secret. Used by the controller and by
//! `sesame render`, so both produce the same bytes.
mod fetch;
mod hash;
pub mod keys;
pub mod manifest;
mod merge;
mod privileged;
pub mod push;
mod rewrite;
mod templating;
#[cfg(test)]
mod tests;

pub use fetch::{FetchError, Fetched, Source, Sources, fetch, fetch_from, read_key, validate_spec};
pub use hash::{content_hash, created_by, data_hash, metadata_hash, synced_resource_version};
pub use privileged::refuse_privileged_template;
pub use templating::{LoadedTemplates, RenderLimits, Shaped, TemplateFailure, apply as apply_template};
