//! ESO's generator state manager, for one sync of one ExternalSecret or PushSecret: what a
//! generator created remotely (a Vault lease …) is recorded in a GeneratorState *before* the
//! generated values are used, and the sync then settles it:
//! - the values reached their target: every other state of the owner is superseded and gets a
//!   `garbageCollectionDeadline` (now + `--generator-gc-grace-period`);
//! - the values were never used (the sync failed first): the new states get a deadline of now,
//!   so the GeneratorState controller cleans them up at once;
//! - some were used and the sync then failed (a PushSecret that reached one store of two):
//!   nothing is flagged; the next successful sync supersedes them.
//!
//! The GeneratorState controller (`generator_state.rs`) runs the cleanups.
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use sesame_generator_core::{Generator, GeneratorContext, GeneratorError};
use sha3::Digest;

use super::Context;
use crate::api::{GENERATOR_STATE_OWNER_LABEL, GeneratorState, GeneratorStateSpec};

/// ESO's GeneratorState finalizer: the cleanup runs before the object goes.
pub const FINALIZER: &str = "generatorstate.externalsecrets.io/finalizer";

/// The object that uses generated values: the GeneratorStates' owner.
#[derive(Debug, Clone)]
pub struct Owner {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

impl Owner {
    pub fn of<K: Resource<DynamicType = ()>>(object: &K) -> Self {
        Owner {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: object.meta().name.clone().unwrap_or_default(),
            namespace: object.meta().namespace.clone().unwrap_or_default(),
            uid: object.meta().uid.clone().unwrap_or_default(),
        }
    }

    /// ESO's owner key: the SHA3-224 of `Kind-namespace-name-key` (the key is a dataFrom index,
    /// or `__pushsecret`), so states ESO recorded are found by Sesame and the other way round.
    pub fn key(&self, key: &str) -> String {
        hex::encode(sha3::Sha3_224::digest(format!("{}-{}-{}-{key}", self.kind, self.namespace, self.name).as_bytes()))
    }

    fn reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            ..Default::default()
        }
    }

    /// Whether `state` belongs to this owner (by uid: a namesake created later is another owner).
    pub fn owns(&self, state: &GeneratorState) -> bool {
        state.owner_references().iter().any(|r| r.uid == self.uid)
    }
}

/// The GeneratorStates one sync created, and how the sync went.
pub struct Ledger<'a> {
    ctx: &'a Context,
    owner: Owner,
    created: Mutex<Vec<String>>,
    used: AtomicBool,
}

impl<'a> Ledger<'a> {
    pub fn new(ctx: &'a Context, owner: Owner) -> Self {
        Ledger { ctx, owner, created: Mutex::default(), used: AtomicBool::new(false) }
    }

    fn api(&self) -> Api<GeneratorState> {
        Api::namespaced(self.ctx.client.clone(), &self.owner.namespace)
    }

    /// Records what `generator` created (`state`), from the generator manifest `resource`, under
    /// `key`. When it cannot be recorded the state is cleaned up now and the sync fails: values
    /// whose remote state is not recorded would leak.
    pub async fn record(
        &self,
        key: &str,
        resource: serde_json::Value,
        state: serde_json::Value,
        generator: &dyn Generator,
        gctx: &GeneratorContext,
    ) -> Result<(), GeneratorError> {
        let object = GeneratorState {
            metadata: ObjectMeta {
                generate_name: Some(format!("gen-{}-{:.40}-", self.owner.kind.to_lowercase(), self.owner.name)),
                namespace: Some(self.owner.namespace.clone()),
                labels: Some([(GENERATOR_STATE_OWNER_LABEL.to_string(), self.owner.key(key))].into()),
                owner_references: Some(vec![self.owner.reference()]),
                // Set at creation, not later: an owner deleted at once still gets its cleanup.
                finalizers: Some(vec![FINALIZER.into()]),
                ..Default::default()
            },
            spec: GeneratorStateSpec { garbage_collection_deadline: None, resource, state: state.clone() },
            status: None,
        };
        match self.api().create(&PostParams::default(), &object).await {
            Ok(made) => {
                self.created.lock().unwrap_or_else(|p| p.into_inner()).push(made.name_any());
                Ok(())
            }
            Err(e) => {
                if let Err(c) = generator.cleanup(&state, gctx).await {
                    tracing::warn!(kind = generator.kind(), owner = %self.owner.name, error = %c, "could not clean up an unrecorded generator state");
                }
                Err(GeneratorError::Transient(format!("recording the GeneratorState of {}: {e}", generator.kind())))
            }
        }
    }

    /// Some generated values reached their target (a store a PushSecret wrote to).
    pub fn used(&self) {
        self.used.store(true, Ordering::SeqCst);
    }

    /// Settle after the sync: `delivered` when every generated value reached its target.
    pub async fn settle(&self, delivered: bool) {
        let created = self.created.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let result = if delivered {
            self.supersede(&created).await
        } else if !self.used.load(Ordering::SeqCst) {
            self.flag(&created, 0).await
        } else {
            Ok(())
        };
        if let Err(e) = result {
            // The states stay; the next sync (or the owner's deletion) flags them again.
            tracing::warn!(owner = %self.owner.name, namespace = %self.owner.namespace, error = %e, "could not flag generator states for cleanup");
        }
    }

    /// Every other state of the owner that is still in use: its values were replaced.
    async fn supersede(&self, keep: &[String]) -> Result<(), kube::Error> {
        let old: Vec<String> = self
            .ctx
            .generator_states
            .state()
            .iter()
            .filter(|s| s.namespace().as_deref() == Some(&self.owner.namespace) && self.owner.owns(s))
            .filter(|s| s.spec.garbage_collection_deadline.is_none() && !keep.contains(&s.name_any()))
            .map(|s| s.name_any())
            .collect();
        self.flag(&old, self.ctx.config.generator_gc_grace_period.as_secs() as i64).await
    }

    async fn flag(&self, names: &[String], after_secs: i64) -> Result<(), kube::Error> {
        let deadline = (Utc::now() + chrono::Duration::seconds(after_secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let patch = serde_json::json!({"spec": {"garbageCollectionDeadline": deadline}});
        for name in names {
            match self.api().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_key_is_esos_hash_of_kind_namespace_name_and_key() {
        let owner =
            Owner { api_version: "v".into(), kind: "ExternalSecret".into(), name: "db".into(), namespace: "app".into(), uid: "u".into() };
        let expected = hex::encode(sha3::Sha3_224::digest(b"ExternalSecret-app-db-0"));
        assert_eq!(owner.key("0"), expected);
        assert_eq!(owner.key("0").len(), 56, "a label value holds at most 63 characters");
        assert_ne!(owner.key("0"), owner.key("1"));
    }
}
