//! ClusterExternalSecret: one ExternalSecret per selected namespace, each with a controller
//! ownerReference to the ClusterExternalSecret (so the garbage collector removes them with it).
//! An ExternalSecret it does not own is never overwritten; namespaces that stop matching lose
//! theirs. Namespaces are watched (metadata), so a relabelled namespace is handled at once.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::{PartialObjectMeta, Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::Error;
use crate::api::{
    ClusterExternalSecret, ClusterExternalSecretNamespaceFailure, ClusterExternalSecretStatus, ClusterExternalSecretStatusCondition,
    ExternalSecret, FORCE_SYNC_ANNOTATION,
};
use crate::metrics::Metrics;

/// The field manager of the ExternalSecrets a ClusterExternalSecret writes.
const FIELD_MANAGER: &str = "sesame.external-secrets.io/clusterexternalsecret";
/// ESO's condition message when any namespace failed.
const NAMESPACES_FAILED: &str = "one or more namespaces failed";
/// How often namespaces are listed again when `refreshTime` is not set (ESO's default).
const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

pub struct CesContext {
    pub client: kube::Client,
    pub metrics: Arc<Metrics>,
    /// Namespace metadata (labels, deletion), watched.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
}

/// Whether `es` is the ExternalSecret this ClusterExternalSecret created (ESO checks the owner's
/// kind and name).
fn owned_by(es: &ExternalSecret, ces: &ClusterExternalSecret) -> bool {
    es.owner_references().iter().any(|o| o.kind == "ClusterExternalSecret" && o.name == ces.name_any())
}

/// The namespaces `ces` selects now: by name or by any label selector, never a terminating one.
fn selected(ces: &ClusterExternalSecret, namespaces: &Store<PartialObjectMeta<Namespace>>) -> Result<BTreeSet<String>, String> {
    let spec = &ces.spec;
    let selectors = spec
        .namespace_selector
        .iter()
        .chain(&spec.namespace_selectors)
        .map(|s| Selector::try_from(s.clone()).map_err(|e| format!("invalid namespace selector: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(namespaces
        .state()
        .iter()
        .filter(|ns| ns.metadata.deletion_timestamp.is_none())
        .filter(|ns| spec.namespaces.contains(&ns.name_any()) || selectors.iter().any(|s| s.matches(ns.labels())))
        .map(|ns| ns.name_any())
        .collect())
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

/// Deletes the ExternalSecret `name` in `namespace` if this ClusterExternalSecret owns it.
async fn delete_owned(client: &kube::Client, ces: &ClusterExternalSecret, name: &str, namespace: &str) -> Result<(), String> {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(es)) if owned_by(&es, ces) => match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(format!("could not delete ExternalSecret {name}: {e}")),
        },
        Ok(_) => Ok(()),
        Err(e) => Err(format!("could not read ExternalSecret {name}: {e}")),
    }
}

/// Creates or updates the ExternalSecret in `namespace`, unless someone else's is there.
async fn provision(client: &kube::Client, ces: &ClusterExternalSecret, name: &str, namespace: &str) -> Result<(), String> {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(existing)) if !owned_by(&existing, ces) => return Err("external secret already exists in namespace".into()),
        Ok(_) => {}
        Err(e) => return Err(format!("could not get existing ExternalSecret: {e}")),
    }
    let body = child(ces, name, namespace);
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))
        .await
        .map(|_| ())
        .map_err(|e| format!("could not create or update ExternalSecret: {e}"))
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
    let old = ces.status.clone().unwrap_or_default();
    let name = ces.spec.external_secret_name.clone().unwrap_or_else(|| ces.name_any());
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    // A renamed ExternalSecret: the old ones go.
    if let Some(previous) = old.external_secret_name.as_ref().filter(|p| **p != name) {
        for ns in &old.provisioned_namespaces {
            if let Err(e) = delete_owned(&ctx.client, &ces, previous, ns).await {
                failed.insert(ns.clone(), e);
            }
        }
    }
    let mut provisioned = Vec::new();
    match selected(&ces, &ctx.namespaces) {
        Err(e) => {
            failed.insert("unknown".into(), e);
        }
        Ok(targets) => {
            for ns in old.provisioned_namespaces.iter().filter(|ns| !targets.contains(*ns)) {
                if let Err(e) = delete_owned(&ctx.client, &ces, &name, ns).await {
                    failed.insert(ns.clone(), e);
                }
            }
            for ns in &targets {
                match provision(&ctx.client, &ces, &name, ns).await {
                    Ok(()) => provisioned.push(ns.clone()),
                    Err(e) => {
                        failed.insert(ns.clone(), e);
                    }
                }
            }
        }
    }
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

/// The ClusterExternalSecret controller, until `shutdown`: ClusterExternalSecrets, Namespaces
/// (metadata; any change re-evaluates every ClusterExternalSecret, there are few) and the
/// ExternalSecrets they own (metadata; an edited or deleted one is restored at once).
pub async fn run(
    client: kube::Client,
    metrics: Arc<Metrics>,
    concurrency: u16,
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
    let ces_stream = watcher(Api::<ClusterExternalSecret>::all(client.clone()), wc.clone())
        .default_backoff()
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
