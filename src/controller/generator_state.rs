//! The GeneratorState controller (ESO's `generatorstate` controller): a state whose
//! `garbageCollectionDeadline` has passed is deleted, and its finalizer runs the generator's
//! cleanup (a Vault lease revoked …) before the object goes. A state whose owner (ExternalSecret,
//! PushSecret) is gone is deleted too: Kubernetes' garbage collector does that from the owner
//! reference where it runs, and this controller does not depend on it. A failed cleanup keeps the
//! finalizer, is reported in the Ready condition and an Event, and is retried with backoff.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use super::Context;
use super::state_ledger::FINALIZER;
use crate::api::{Condition, ExternalSecret, GeneratorState, PushSecret, set_condition};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not clean up the generator state: {0}")]
    Cleanup(String),
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
}

/// Consecutive failures per state, for the backoff.
#[derive(Default)]
pub struct Failures(Mutex<HashMap<ObjectRef<GeneratorState>, u32>>);

impl Failures {
    fn bump(&self, state: &GeneratorState) -> u32 {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = all.entry(ObjectRef::from_obj(state)).or_default();
        *n += 1;
        *n
    }
    fn clear(&self, state: &GeneratorState) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&ObjectRef::from_obj(state));
    }
}

struct Shared {
    ctx: Arc<Context>,
    failures: Failures,
}

fn api(ctx: &Context, state: &GeneratorState) -> Api<GeneratorState> {
    Api::namespaced(ctx.client.clone(), &state.namespace().unwrap_or_default())
}

async fn reconcile(state: Arc<GeneratorState>, shared: Arc<Shared>) -> Result<Action, Error> {
    let ctx = &shared.ctx;
    let ours = state.finalizers().iter().any(|f| f == FINALIZER);
    if state.meta().deletion_timestamp.is_some() {
        if ours {
            cleanup(ctx, &state).await?;
            super::finalizer::set(&api(ctx, &state), &*state, FINALIZER, false).await?;
        }
        shared.failures.clear(&state);
        return Ok(Action::await_change());
    }
    if !ours {
        // A state recorded by another writer (ESO before the migration): cleaned up the same way.
        super::finalizer::set(&api(ctx, &state), &*state, FINALIZER, true).await?;
        return Ok(Action::await_change());
    }
    let deadline = match state.spec.garbage_collection_deadline.as_deref() {
        Some(d) => Some(DateTime::parse_from_rfc3339(d).map(|d| d.with_timezone(&Utc)).unwrap_or_else(|_| Utc::now())),
        None if owner_gone(ctx, &state).await? => Some(Utc::now()),
        None => None,
    };
    match deadline {
        Some(at) if at <= Utc::now() => {
            api(ctx, &state).delete(&state.name_any(), &DeleteParams::default()).await?;
            Ok(Action::await_change())
        }
        Some(at) => Ok(Action::requeue((at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200))),
        None => {
            report(ctx, &state, Condition::ready(true, "Created", "GeneratorState created")).await?;
            Ok(Action::await_change())
        }
    }
}

/// The generator's cleanup of what the state records, with the manifest it was produced from.
async fn cleanup(ctx: &Context, state: &GeneratorState) -> Result<(), Error> {
    let namespace = state.namespace().unwrap_or_default();
    let resource = &state.spec.resource;
    let kind = resource.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
    let spec = resource.get("spec").cloned().unwrap_or_else(|| serde_json::json!({}));
    let result = match crate::generators::build(kind, spec) {
        Ok(generator) => generator.cleanup(&state.spec.state, &super::generators::context(ctx, &namespace)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        let message = format!("could not cleanup generator state: {e}"); // ESO's wording
        report(ctx, state, Condition::ready(false, "Error", message.clone())).await?;
        let event = Event {
            type_: EventType::Warning,
            reason: "CleanupFailed".into(),
            note: Some(message),
            action: "Cleanup".into(),
            secondary: None,
        };
        ctx.publish(&event, &state.object_ref(&()));
        return Err(Error::Cleanup(e.to_string()));
    }
    Ok(())
}

/// Whether the object that recorded the state is gone (deleted, or replaced by a namesake).
async fn owner_gone(ctx: &Context, state: &GeneratorState) -> Result<bool, Error> {
    let namespace = state.namespace().unwrap_or_default();
    for owner in state.owner_references() {
        let found = match owner.kind.as_str() {
            "ExternalSecret" => {
                Api::<ExternalSecret>::namespaced(ctx.client.clone(), &namespace).get_metadata_opt(&owner.name).await?.map(|m| m.uid())
            }
            "PushSecret" => {
                Api::<PushSecret>::namespaced(ctx.client.clone(), &namespace).get_metadata_opt(&owner.name).await?.map(|m| m.uid())
            }
            _ => continue,
        };
        if found.flatten().as_deref() != Some(owner.uid.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes the Ready condition when it changed. (ESO's CRD has no status subresource: the
/// status is patched on the object.)
async fn report(ctx: &Context, state: &GeneratorState, condition: Condition) -> Result<(), kube::Error> {
    let mut conditions = state.status.clone().unwrap_or_default().conditions;
    let before = conditions.clone();
    set_condition(&mut conditions, condition, &super::now_rfc3339());
    if conditions != before {
        let patch = serde_json::json!({"status": {"conditions": conditions}});
        api(ctx, state).patch(&state.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    Ok(())
}

fn error_policy(state: Arc<GeneratorState>, error: &Error, shared: Arc<Shared>) -> Action {
    tracing::warn!(generatorstate = %state.name_any(), namespace = %state.namespace().unwrap_or_default(), error = %error, "generator state");
    Action::requeue(super::due::backoff(shared.failures.bump(&state), shared.ctx.config.max_backoff))
}

/// The GeneratorState controller until `shutdown`. `writer` fills `ctx.generator_states`. An
/// ExternalSecret (told by the ExternalSecret controller's watch through `es_gone`) or PushSecret
/// that is deleted re-queues its states at once.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    writer: Writer<GeneratorState>,
    es_gone: impl futures::Stream<Item = PartialObjectMeta<ExternalSecret>> + Send + 'static,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let wc = watcher::Config::default();
    type Meta<K> = Api<PartialObjectMeta<K>>;
    let (states, ps): (Api<GeneratorState>, Meta<PushSecret>) = match &namespace {
        Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let reader = ctx.generator_states.clone();
    let stream = watcher(states, wc.clone()).default_backoff().reflect(writer).applied_objects();
    let (by_es, by_ps) = (reader.clone(), reader.clone());
    let es_gone = es_gone.map(Ok::<_, watcher::Error>);
    let ps_gone = watcher(ps, wc).default_backoff().filter_map(deleted);
    let shared = Arc::new(Shared { ctx, failures: Failures::default() });
    Controller::for_stream(stream, reader)
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .watches_stream(es_gone, move |owner| owned_by(&by_es, owner.uid()))
        .watches_stream(ps_gone, move |owner| owned_by(&by_ps, owner.uid()))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, shared)
        .for_each(|_| async {})
        .await;
}

async fn deleted<K>(event: Result<watcher::Event<K>, watcher::Error>) -> Option<Result<K, watcher::Error>> {
    match event {
        Ok(watcher::Event::Delete(object)) => Some(Ok(object)),
        _ => None,
    }
}

fn owned_by(states: &Store<GeneratorState>, uid: Option<String>) -> Vec<ObjectRef<GeneratorState>> {
    let Some(uid) = uid else { return Vec::new() };
    states.state().iter().filter(|s| s.owner_references().iter().any(|r| r.uid == uid)).map(|s| ObjectRef::from_obj(&**s)).collect()
}
