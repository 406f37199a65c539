//! The seam between Sesame's controller and its generators (ESO's `generators.external-secrets.io`
//! kinds: Password, UUID, SSHKey, VaultDynamicSecret, …).
//!
//! A generator is built from its kind's typed spec (the spec types live in the generator's own
//! crate, with ESO's field names, and become the CRDs) and produces a fresh map of values on every
//! call: ESO's rule is that each invocation generates anew, so caching or reuse is the controller's
//! decision (`refreshInterval: 0`, `CreatedOnce`), never the generator's. Credentials arrive
//! through the same [`CredentialSource`](sesame_provider_core::CredentialSource) as a store's,
//! with the tenancy rules already applied by the controller, and remote calls are recorded like
//! provider calls. Nothing here knows Kubernetes.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use async_trait::async_trait;

pub use sesame_provider_core::{ProviderContext, ProviderError as GeneratorError};

/// What one invocation produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The output keys and their values, as ESO's generator of the same kind names them.
    pub data: BTreeMap<String, Vec<u8>>,
    /// What the generator created remotely (a Vault lease, a deploy token id …), recorded in a
    /// GeneratorState so that it can be cleaned up once superseded; `None` when nothing remote
    /// was created. Never holds a secret value that is not needed for the cleanup itself.
    pub state: Option<serde_json::Value>,
}

/// Where and as whom a generator runs.
#[derive(Clone)]
pub struct GeneratorContext {
    /// The namespace of the object that uses the generator (an ExternalSecret or PushSecret):
    /// a namespaced generator's credentials resolve here; so do a ClusterGenerator's.
    pub namespace: String,
    /// Credentials (tenancy applied) and the call recorder.
    pub provider: ProviderContext,
}

/// One generator kind, built from its spec.
#[async_trait]
pub trait Generator: Send + Sync {
    /// The kind, as in `generatorRef.kind` (e.g. `Password`).
    fn kind(&self) -> &'static str;

    /// New values. Errors follow [`GeneratorError`]'s classes: `Invalid` for a spec that cannot
    /// work (no retry helps), `Auth`, `Transient`/`Throttled` for remote faults worth retrying.
    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError>;

    /// How this generator would authenticate as the controller itself (its ambient cloud
    /// identity), if it would: the controller then runs it only as a ClusterGenerator, unless
    /// `--refuse-secretstore-controller-identity=false`, as for stores.
    fn controller_identity(&self) -> Option<&'static str> {
        None
    }

    /// Release what an earlier `generate` created remotely, given its [`Generated::state`].
    /// Something already gone is not an error. Generators that create nothing remote keep the default.
    async fn cleanup(&self, state: &serde_json::Value, ctx: &GeneratorContext) -> Result<(), GeneratorError> {
        let _ = (state, ctx);
        Ok(())
    }
}
