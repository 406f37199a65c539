//! The one controller behind ClusterExternalSecret and ClusterPushSecret: each kind says how it
//! selects namespaces, what child it writes and how its status reads ([`FleetOwner`]); the watch
//! set, the reconcile and the status write are shared, so the two kinds cannot drift apart.
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::Error;
use super::decode::{Decoded, Undecodable, Watched, split};
use super::fan_out::{self, Fleet, Outcome};
use crate::api::GoDuration;
use crate::metrics::Metrics;

/// How often namespaces are listed again when `refreshTime` is not set (ESO's default).
const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// How soon a pass that met an apiserver failure runs again.
const RETRY: Duration = Duration::from_secs(10);

/// A cluster-scoped object that writes one namespaced child per selected namespace.
pub trait FleetOwner:
    Resource<DynamicType = (), Scope = ClusterResourceScope> + Watched + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// The namespaced object written into each namespace.
    type Child: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug + Send + Sync + 'static;
    type Status: Clone + Default + PartialEq + Send;
    /// ESO's wording of the child in reasons: `external secret`, `push secret`.
    const NOUN: &'static str;
    const FIELD_MANAGER: &'static str;

    fn refresh_time(&self) -> Option<&GoDuration>;
    /// The child's name: the spec's, else the owner's.
    fn child_name(&self) -> String;
    /// Namespaces chosen by name, and the label selectors that choose more.
    fn selection(&self) -> (&[String], Vec<&LabelSelector>);
    fn child(&self, name: &str, namespace: &str) -> serde_json::Value;
    fn status_of(&self) -> Option<&Self::Status>;
    /// The child name and namespaces the last status recorded.
    fn previous(status: &Self::Status) -> Option<(&str, &[String])>;
    fn next_status(old: &Self::Status, child_name: String, outcome: Outcome) -> Self::Status;
    /// Every field spelled out: a merge patch leaves out what it omits, and empty lists must clear.
    fn status_patch(status: &Self::Status) -> serde_json::Value;
    fn reconciled(metrics: &Metrics, name: &str, ready: bool, took: Duration);
    fn deleted(metrics: &Metrics, name: &str);
}

pub struct FleetContext {
    pub client: kube::Client,
    pub metrics: Arc<Metrics>,
    /// Namespace metadata (labels, deletion), watched.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
}

pub async fn reconcile<K: FleetOwner>(owner: Arc<K>, ctx: Arc<FleetContext>) -> Result<Action, Error> {
    let started = Instant::now();
    if owner.meta().deletion_timestamp.is_some() {
        // The garbage collector deletes the children it owns.
        return Ok(Action::await_change());
    }
    let refresh = match owner.refresh_time() {
        Some(d) => d.parse().map_err(|e| Error::InvalidSpec(format!("refreshTime: {e}")))?,
        None => DEFAULT_REFRESH,
    };
    // The selection is judged on a complete Namespace list only: on a partial one, the children
    // in namespaces not listed yet would look deselected and be removed.
    if ctx.namespaces.wait_until_ready().await.is_err() {
        return Ok(Action::requeue(RETRY));
    }
    let api: Api<K> = Api::all(ctx.client.clone());
    // The status as last written, not as cached: a reconcile that follows its own status write
    // closely would otherwise miss the namespaces it just provisioned and never remove them.
    let fresh = api.get(&owner.name_any()).await.ok();
    let old = fresh.as_ref().and_then(K::status_of).or_else(|| owner.status_of()).cloned().unwrap_or_default();
    let name = owner.child_name();
    let fleet = Fleet {
        client: &ctx.client,
        owner_kind: K::kind(&()).into_owned(),
        owner_name: owner.name_any(),
        noun: K::NOUN,
        field_manager: K::FIELD_MANAGER,
    };
    let state = ctx.namespaces.state();
    let live = state
        .iter()
        .filter(|ns| ns.metadata.deletion_timestamp.is_none())
        .map(|ns| (ns.metadata.name.as_deref().unwrap_or_default(), ns.labels()));
    let (names, selectors) = owner.selection();
    let targets = fan_out::selected(names, &selectors, live);
    let outcome = fleet.sync::<K::Child>(&name, K::previous(&old), targets, |ns| owner.child(&name, ns)).await;
    let ready = outcome.failed.is_empty();
    // ESO waits for the next refresh; a failed apiserver call should not wait an hour.
    let next = if outcome.transient { refresh.min(RETRY) } else { refresh };
    let status = K::next_status(&old, name, outcome);
    if status != old {
        let patch = serde_json::json!({ "status": K::status_patch(&status) });
        api.patch_status(&owner.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    K::reconciled(&ctx.metrics, &owner.name_any(), ready, started.elapsed());
    Ok(Action::requeue(next))
}

pub fn error_policy<K: FleetOwner>(_owner: Arc<K>, _error: &Error, _ctx: Arc<FleetContext>) -> Action {
    Action::requeue(RETRY)
}

/// The controller of `K`, until `shutdown`: the owners (each decoded on its own; an undecodable
/// one goes to `undecodable`), Namespaces (metadata; any change re-evaluates every owner, there
/// are few) and the children they own (metadata; an edited or deleted one is restored at once).
pub async fn run<K: FleetOwner>(
    client: kube::Client,
    metrics: Arc<Metrics>,
    concurrency: u16,
    undecodable: tokio::sync::mpsc::UnboundedSender<Undecodable>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    use futures::StreamExt;
    use kube::runtime::reflector::{self, ObjectRef};
    use kube::runtime::{Controller, WatchStreamExt, controller, watcher};

    let wc = watcher::Config::default();
    // Namespaces and children are watched from the first owner on (on_demand.rs); a reconcile
    // waits for the Namespace list (`reconcile`).
    let demand = super::on_demand::Demand::default();
    let seen = demand.clone();
    let (namespaces, namespace_writer) = reflector::store::<PartialObjectMeta<Namespace>>();
    let namespace_api = Api::<PartialObjectMeta<Namespace>>::all(client.clone());
    let namespace_config = wc.clone();
    let namespace_stream = demand.start(move || {
        watcher(namespace_api, namespace_config)
            .default_backoff()
            .modify(|ns| ns.managed_fields_mut().clear())
            .reflect(namespace_writer)
            .touched_objects()
    });
    let (reader, writer) = reflector::store::<K>();
    let forget = metrics.clone();
    let owners = split(watcher(Api::<Decoded<K>>::all(client.clone()), wc.clone()).default_backoff(), undecodable)
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .inspect(move |ev| match ev {
            Ok(watcher::Event::Delete(o)) => K::deleted(&forget, &o.name_any()),
            Ok(watcher::Event::Apply(_) | watcher::Event::InitApply(_)) => seen.signal(),
            _ => {}
        })
        .applied_objects();
    let child_api = Api::<PartialObjectMeta<K::Child>>::all(client.clone());
    let children = demand.start(move || watcher(child_api, wc).default_backoff().touched_objects());
    let all = reader.clone();
    let ctx = Arc::new(FleetContext { client, metrics, namespaces });
    let kind = K::kind(&()).into_owned();
    Controller::for_stream(owners, reader)
        .with_config(controller::Config::default().concurrency(concurrency))
        .owns_stream(children)
        .watches_stream(namespace_stream, move |_: PartialObjectMeta<Namespace>| {
            all.state().iter().map(|o| ObjectRef::from_obj(&**o)).collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|r| {
            let kind = kind.clone();
            async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, kind, "fleet reconcile");
                }
            }
        })
        .await;
}
