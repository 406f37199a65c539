//! ClusterPushSecret: one PushSecret per namespace its `namespaceSelectors` select (see
//! [`super::fan_out`] for ownership, removal and renames), as ESO 2.9. Namespaces are watched
//! (metadata), so a relabelled namespace is handled at once; an edited or deleted PushSecret it
//! owns is restored at once.
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
use crate::api::{ClusterPushSecret, ClusterPushSecretNamespaceFailure, ClusterPushSecretStatus, Condition, PushSecret, set_condition};
use crate::metrics::Metrics;

/// The field manager of the PushSecrets a ClusterPushSecret writes.
const FIELD_MANAGER: &str = "sesame.external-secrets.io/clusterpushsecret";
/// How often namespaces are listed again when `refreshTime` is not set (ESO's default).
const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

pub struct CpsContext {
    pub client: kube::Client,
    pub metrics: Arc<Metrics>,
    /// Namespace metadata (labels, deletion), watched.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
}

/// The PushSecret to write into `namespace`.
fn child(cps: &ClusterPushSecret, name: &str, namespace: &str) -> serde_json::Value {
    let metadata = cps.spec.push_secret_metadata.clone().unwrap_or_default();
    serde_json::json!({
        "apiVersion": "external-secrets.io/v1alpha1",
        "kind": "PushSecret",
        "metadata": {
            "name": name, "namespace": namespace, "labels": metadata.labels, "annotations": metadata.annotations,
            "ownerReferences": [cps.controller_owner_ref(&())],
        },
        "spec": cps.spec.push_secret_spec,
    })
}

pub async fn reconcile(cps: Arc<ClusterPushSecret>, ctx: Arc<CpsContext>) -> Result<Action, Error> {
    let started = Instant::now();
    if cps.meta().deletion_timestamp.is_some() {
        // The garbage collector deletes the PushSecrets it owns.
        return Ok(Action::await_change());
    }
    let refresh = match &cps.spec.refresh_interval {
        Some(d) => d.parse().map_err(|e| Error::InvalidSpec(format!("refreshTime: {e}")))?,
        None => DEFAULT_REFRESH,
    };
    // The status as last written, not as cached: a reconcile that follows its own status write
    // closely would otherwise miss the namespaces it just provisioned and never remove them.
    let fresh = kube::Api::<ClusterPushSecret>::all(ctx.client.clone()).get(&cps.name_any()).await.ok();
    let old = fresh.and_then(|o| o.status).or_else(|| cps.status.clone()).unwrap_or_default();
    let name = cps.spec.push_secret_name.clone().unwrap_or_else(|| cps.name_any());
    let fleet = Fleet {
        client: &ctx.client,
        owner_kind: "ClusterPushSecret",
        owner_name: cps.name_any(),
        noun: "push secret",
        field_manager: FIELD_MANAGER,
    };
    let previous = old.push_secret_name.as_deref().map(|p| (p, old.provisioned_namespaces.as_slice()));
    let selectors: Vec<_> = cps.spec.namespace_selectors.iter().collect();
    let targets = fan_out::selected(&[], &selectors, &ctx.namespaces);
    let Outcome { provisioned, failed } = fleet.sync::<PushSecret>(&name, previous, targets, |ns| child(&cps, &name, ns)).await;
    let ready = failed.is_empty();
    let mut conditions = old.conditions.clone();
    let condition = Condition {
        type_: "Ready".into(),
        status: if ready { "True" } else { "False" }.into(),
        reason: None,
        message: (!ready).then(|| NAMESPACES_FAILED.to_string()),
        last_transition_time: None,
    };
    set_condition(&mut conditions, condition, &super::now_rfc3339());
    let status = ClusterPushSecretStatus {
        failed_namespaces: failed
            .into_iter()
            .map(|(namespace, reason)| ClusterPushSecretNamespaceFailure { namespace, reason: Some(reason) })
            .collect(),
        provisioned_namespaces: provisioned,
        push_secret_name: Some(name),
        conditions,
    };
    if status != old {
        let api: Api<ClusterPushSecret> = Api::all(ctx.client.clone());
        // Every field spelled out: a merge patch leaves out what it omits, and empty lists must clear.
        let patch = serde_json::json!({ "status": {
            "pushSecretName": status.push_secret_name,
            "failedNamespaces": status.failed_namespaces,
            "provisionedNamespaces": status.provisioned_namespaces,
            "conditions": status.conditions,
        }});
        api.patch_status(&cps.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    ctx.metrics.cps_reconciled(&cps.name_any(), ready, started.elapsed());
    Ok(Action::requeue(refresh))
}

pub fn error_policy(_cps: Arc<ClusterPushSecret>, _error: &Error, _ctx: Arc<CpsContext>) -> Action {
    Action::requeue(Duration::from_secs(10))
}

/// The ClusterPushSecret controller, until `shutdown`: ClusterPushSecrets (each decoded on its
/// own; an undecodable one goes to `undecodable`), Namespaces (metadata; any change re-evaluates
/// every ClusterPushSecret, there are few) and the PushSecrets they own (metadata).
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
    let (reader, writer) = reflector::store::<ClusterPushSecret>();
    let forget = metrics.clone();
    let stream = split(watcher(Api::<Decoded<ClusterPushSecret>>::all(client.clone()), wc.clone()).default_backoff(), undecodable)
        .modify(|cps| cps.managed_fields_mut().clear())
        .reflect(writer)
        .inspect(move |ev| {
            if let Ok(watcher::Event::Delete(cps)) = ev {
                forget.cps_deleted(&cps.name_any());
            }
        })
        .applied_objects();
    let children = watcher(Api::<PartialObjectMeta<PushSecret>>::all(client.clone()), wc).default_backoff().touched_objects();
    let all = reader.clone();
    let ctx = Arc::new(CpsContext { client, metrics, namespaces });
    Controller::for_stream(stream, reader)
        .with_config(controller::Config::default().concurrency(concurrency))
        .owns_stream(children)
        .watches_stream(namespace_stream, move |_: PartialObjectMeta<Namespace>| {
            all.state().iter().map(|c| ObjectRef::from_obj(&**c)).collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "clusterpushsecret reconcile");
            }
        })
        .await;
}
