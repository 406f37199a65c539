//! The External Secrets API, group `external-secrets.io`, version `v1`: the same field names,
//! defaults and status shapes as External Secrets Operator, so existing manifests apply unchanged.
mod cluster_external_secret;
mod cluster_push_secret;
mod common;
mod external_secret;
mod generator_state;
mod provider;
mod push_secret;
mod rewrite;
mod secret_store;
mod source_ref;
mod sync_window;
mod template;

pub use cluster_external_secret::*;
pub use cluster_push_secret::*;
pub use common::*;
pub use external_secret::*;
pub use generator_state::*;
pub use provider::*;
pub use push_secret::*;
pub use rewrite::*;
pub use secret_store::*;
pub use source_ref::*;
pub use sync_window::*;
pub use template::*;

/// Label ESO and Sesame put on every Secret they manage.
pub const MANAGED_LABEL: &str = "reconcile.external-secrets.io/managed";
/// Annotation holding the hash of the managed Secret's data, to detect edits.
pub const DATA_HASH_ANNOTATION: &str = "reconcile.external-secrets.io/data-hash";
/// Label ESO and Sesame put on the Secrets an Owner ExternalSecret creates: the hash of
/// `<namespace>/<name>` of the ExternalSecret, to find its old Secret after a target rename.
pub const CREATED_BY_LABEL: &str = "reconcile.external-secrets.io/created-by";
/// Sesame's own annotation on a target Secret: a hash of the store generation and template
/// ConfigMap versions it was last written from (a change of either is a reason to sync).
pub const SOURCES_ANNOTATION: &str = "sesame.external-secrets.io/sources";
/// Any new value forces an immediate sync.
pub const FORCE_SYNC_ANNOTATION: &str = "external-secrets.io/force-sync";
