//! ClusterExternalSecret: one ExternalSecret per selected namespace (see [`super::fan_out`] for
//! ownership, removal and renames). Namespaces are watched (metadata), so a relabelled namespace
//! is handled at once.
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::Error;
use super::decode::{Decoded, Undecodable, split};
use super::fan_out::{self, Fleet, NAMESPACES_FAILED, Outcome};
use crate::api::{
    ClusterExternalSecret, ClusterExternalSecretNamespaceFailure, ClusterExternalSecretStatus, ClusterExternalSecretStatusCondition,
    ExternalSecret, FORCE_SYNC_ANNOTATION,
};
use crate::metrics::Metrics;

/// The field manager of the ExternalSecrets a ClusterExternalSecret writes.
const FIELD_MANAGER: &str = "sesame.external-secrets.io/clusterexternalsecret";
/// How often namespaces are listed again when `refreshTime` is not set (ESO's default).
const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

pub struct CesContext {
    pub client: kube::Client,
    pub metrics: Arc<Metrics>,
    /// Namespace metadata (labels, deletion), watched.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
}

/// The namespaces `ces` selects now.
fn selected(ces: &ClusterExternalSecret, namespaces: &Store<PartialObjectMeta<Namespace>>) -> Result<BTreeSet<String>, String> {
    let spec = &ces.spec;
    let selectors: Vec<_> = spec.namespace_selector.iter().chain(&spec.namespace_selectors).collect();
    fan_out::selected(&spec.namespaces, &selectors, namespaces)
}

/// The ExternalSecret to write into `namespace`.
fn child(ces: &ClusterExternalSecret, name: &str, namespace: &str) -> serde_json::Value {
    let metadata = ces.spec.external_secret_metadata.clone().unwrap_or_default();
    let mut annotations = metadata.annotations;
    // A force-sync of the ClusterExternalSecret reaches every ExternalSecret it made (as ESO).
    if let Some(value) = ces.annotations().get(FORCE_SYNC_ANNOTATION) {
        annotations.insert(FORCE_SYNC_ANNOTATION.into(), value.clone());
    }
    serde_json::json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": name, "namespace": namespace, "labels": metadata.labels, "annotations": annotations,
            "ownerReferences": [ces.controller_owner_ref(&())],
        },
        "spec": ces.spec.external_secret_spec,
    })
}

pub async fn reconcile(ces: Arc<ClusterExternalSecret>, ctx: Arc<CesContext>) -> Result<Action, Error> {
    let started = Instant::now();
    if ces.meta().deletion_timestamp.is_some() {
        // The garbage collector deletes the ExternalSecrets it owns.
        return Ok(Action::await_change());
    }
    let refresh = match &ces.spec.refresh_interval {
        Some(d) => d.parse().map_err(|e| Error::InvalidSpec(format!("refreshTime: {e}")))?,
        None => DEFAULT_REFRESH,
    };
    // The status as last written, not as cached: a reconcile that follows its own status write
    // closely would otherwise miss the namespaces it just provisioned and never remove them.
    let fresh = kube::Api::<ClusterExternalSecret>::all(ctx.client.clone()).get(&ces.name_any()).await.ok();
    let old = fresh.and_then(|o| o.status).or_else(|| ces.status.clone()).unwrap_or_default();
    let name = ces.spec.external_secret_name.clone().unwrap_or_else(|| ces.name_any());
    let fleet = Fleet {
        client: &ctx.client,
        owner_kind: "ClusterExternalSecret",
        owner_name: ces.name_any(),
        noun: "external secret",
        field_manager: FIELD_MANAGER,
    };
    let previous = old.external_secret_name.as_deref().map(|p| (p, old.provisioned_namespaces.as_slice()));
    let Outcome { provisioned, failed } =
        fleet.sync::<ExternalSecret>(&name, previous, selected(&ces, &ctx.namespaces), |ns| child(&ces, &name, ns)).await;
    let ready = failed.is_empty();
    let condition = ClusterExternalSecretStatusCondition {
        type_: "Ready".into(),
        status: if ready { "True" } else { "False" }.into(),
        message: (!ready).then(|| NAMESPACES_FAILED.to_string()),
    };
    let mut conditions: Vec<_> = old.conditions.iter().filter(|c| c.type_ != "Ready").cloned().collect();
    conditions.push(condition);
    let status = ClusterExternalSecretStatus {
        external_secret_name: Some(name),
        failed_namespaces: failed
            .into_iter()
            .map(|(namespace, reason)| ClusterExternalSecretNamespaceFailure { namespace, reason: Some(reason) })
            .collect(),
        provisioned_namespaces: provisioned,
        conditions,
    };
    if status != old {
        let api: Api<ClusterExternalSecret> = Api::all(ctx.client.clone());
        // Every field spelled out: a merge patch leaves out what it omits, and empty lists must clear.
        let patch = serde_json::json!({ "status": {
            "externalSecretName": status.external_secret_name,
            "failedNamespaces": status.failed_namespaces,
            "provisionedNamespaces": status.provisioned_namespaces,
            "conditions": status.conditions,
        }});
        api.patch_status(&ces.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    ctx.metrics.ces_reconciled(&ces.name_any(), ready, started.elapsed());
    Ok(Action::requeue(refresh))
}

pub fn error_policy(_ces: Arc<ClusterExternalSecret>, _error: &Error, _ctx: Arc<CesContext>) -> Action {
    Action::requeue(Duration::from_secs(10))
}

/// The ClusterExternalSecret controller, until `shutdown`: ClusterExternalSecrets (each decoded on
/// its own; an undecodable one goes to `undecodable`), Namespaces
/// (metadata; any change re-evaluates every ClusterExternalSecret, there are few) and the
/// ExternalSecrets they own (metadata; an edited or deleted one is restored at once).
pub async fn run(
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
    let (namespaces, namespace_writer) = reflector::store::<PartialObjectMeta<Namespace>>();
    let namespace_stream = watcher(Api::<PartialObjectMeta<Namespace>>::all(client.clone()), wc.clone())
        .default_backoff()
        .modify(|ns| ns.managed_fields_mut().clear())
        .reflect(namespace_writer)
        .touched_objects();
    let (ces_reader, ces_writer) = reflector::store::<ClusterExternalSecret>();
    let forget = metrics.clone();
    let ces_stream = split(watcher(Api::<Decoded<ClusterExternalSecret>>::all(client.clone()), wc.clone()).default_backoff(), undecodable)
        .modify(|ces| ces.managed_fields_mut().clear())
        .reflect(ces_writer)
        .inspect(move |ev| {
            if let Ok(watcher::Event::Delete(ces)) = ev {
                forget.ces_deleted(&ces.name_any());
            }
        })
        .applied_objects();
    let children = watcher(Api::<PartialObjectMeta<ExternalSecret>>::all(client.clone()), wc).default_backoff().touched_objects();
    let all = ces_reader.clone();
    let ctx = Arc::new(CesContext { client, metrics, namespaces });
    Controller::for_stream(ces_stream, ces_reader)
        .with_config(controller::Config::default().concurrency(concurrency))
        .owns_stream(children)
        .watches_stream(namespace_stream, move |_: PartialObjectMeta<Namespace>| {
            all.state().iter().map(|c| ObjectRef::from_obj(&**c)).collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "clusterexternalsecret reconcile");
            }
        })
        .await;
}
