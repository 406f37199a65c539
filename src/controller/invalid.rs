//! Report objects Sesame cannot decode (see [`super::decode`]): Ready=False naming the field, and
//! a Warning Event, once per problem. Everything else of their kind syncs on.
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc::UnboundedReceiver;

use super::Context;
use super::decode::Undecodable;
use crate::api::{Condition, set_condition};

/// How one kind reports an object it cannot decode.
pub struct Reporting {
    pub resource: ApiResource,
    /// ESO's reason for the Ready condition of this kind when its configuration is wrong.
    pub condition_reason: &'static str,
    /// The Event reason, as this kind's other failures.
    pub event_reason: &'static str,
}

impl Reporting {
    pub fn of<K: kube::Resource<DynamicType = ()>>(condition_reason: &'static str, event_reason: &'static str) -> Reporting {
        Reporting { resource: ApiResource::erase::<K>(&()), condition_reason, event_reason }
    }
}

/// Report each object `undecodable` yields, until it ends. Starts once the store caches are
/// listed (`stores_listed`), since whose object it is depends on the stores.
pub async fn report(
    ctx: Arc<Context>,
    how: Reporting,
    mut undecodable: UnboundedReceiver<Undecodable>,
    mut stores_listed: tokio::sync::watch::Receiver<bool>,
) {
    if stores_listed.wait_for(|listed| *listed).await.is_err() {
        return;
    }
    while let Some(object) = undecodable.recv().await {
        if ours(&ctx, &object) {
            report_one(&ctx, &how, object).await;
        }
    }
}

/// Whether this controller handles the object: a store of its class, or an ExternalSecret whose
/// store is (or that names none this controller knows, as a missing store is reported too).
fn ours(ctx: &Context, object: &Undecodable) -> bool {
    if !ctx.config.handles_class(object.controller.as_deref()) {
        return false;
    }
    let Some((name, kind)) = &object.store_ref else { return true };
    let class = if kind == "ClusterSecretStore" {
        ctx.cluster_stores.get(&ObjectRef::new(name)).map(|s| s.spec.store.controller.clone())
    } else {
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        ctx.stores.get(&ObjectRef::new(name).within(&namespace)).map(|s| s.spec.controller.clone())
    };
    class.is_none_or(|c| ctx.config.handles_class(c.as_deref()))
}

async fn report_one(ctx: &Context, how: &Reporting, object: Undecodable) {
    let message = format!("Sesame {}", object.message());
    let condition = Condition::ready(false, how.condition_reason, message.clone());
    if object.conditions.iter().any(|c| c.same_as(&condition)) {
        return;
    }
    let name = object.metadata.name.clone().unwrap_or_default();
    let namespace = object.metadata.namespace.clone();
    tracing::warn!(kind = %how.resource.kind, name = %name, namespace = ?namespace, field = %object.field, problem = %object.problem, "cannot decode object");
    let mut conditions = object.conditions.clone();
    set_condition(&mut conditions, condition, &super::now_rfc3339());
    // A dynamic object decodes whatever the apiserver answers.
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &how.resource),
        None => Api::all_with(ctx.client.clone(), &how.resource),
    };
    let patch = serde_json::json!({ "status": { "conditions": conditions } });
    if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::warn!(kind = %how.resource.kind, name = %name, error = %e, "could not write the status of an undecodable object");
        return;
    }
    let reference = ObjectReference {
        api_version: Some(how.resource.api_version.clone()),
        kind: Some(how.resource.kind.clone()),
        name: Some(name),
        namespace,
        uid: object.metadata.uid.clone(),
        ..Default::default()
    };
    if reference.namespace.is_none() {
        publish_cluster_scoped(&ctx.client, how.event_reason, &message, reference).await;
        return;
    }
    let event =
        Event { type_: EventType::Warning, reason: how.event_reason.into(), note: Some(message), action: "Decode".into(), secondary: None };
    ctx.publish(&event, &reference);
}

/// A Warning Event about a cluster-scoped object, as client-go records one: a core/v1 Event in
/// `default`. (kube's recorder writes an events.k8s.io Event there, which the apiserver refuses
/// for an object without a namespace.)
async fn publish_cluster_scoped(client: &kube::Client, reason: &str, message: &str, reference: ObjectReference) {
    use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let name = format!("{}.{:x}", reference.name.clone().unwrap_or_default(), now.0.as_nanosecond());
    let event = CoreEvent {
        metadata: kube::api::ObjectMeta { name: Some(name), namespace: Some("default".into()), ..Default::default() },
        involved_object: reference,
        type_: Some("Warning".into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        source: Some(EventSource { component: Some("sesame".into()), host: None }),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        ..Default::default()
    };
    let api: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    if let Err(e) = api.create(&kube::api::PostParams::default(), &event).await {
        tracing::debug!(error = %e, "could not publish event");
    }
}
