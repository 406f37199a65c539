//! PushSecret: write the keys of Secrets of the PushSecret's namespace (by name or by labels) to
//! stores that can write, through the same client cache and budgets as reads. What goes where is
//! planned by [`crate::pipeline::push`] (data, dataTo, conversion). What was written is recorded in
//! `status.syncedPushSecrets`; with `deletionPolicy: Delete` exactly that is deleted when an entry
//! or the PushSecret goes away (a finalizer holds the PushSecret until then). A failure never
//! deletes anything.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use sesame_provider_core::{Capabilities, PushRef};

use super::decode::{Decoded, Undecodable, split};
use super::state_ledger::{Ledger, Owner};
use super::{Context, Error, store};
use crate::api::{
    AnyStore, Condition, ExternalSecretTemplate, PushSecret, PushSecretData, PushSecretDeletionPolicy, PushSecretStatus,
    PushSecretStoreRef, PushSecretUpdatePolicy, TemplateMergePolicy, set_condition,
};
use crate::fetch::StoreClient;
use crate::metrics::StoreLabels;
use crate::pipeline::push::{self, PlannedWrite, StoreInfo, status_key};

/// ESO's finalizer on PushSecrets whose deletionPolicy is Delete.
pub const FINALIZER: &str = "pushsecret.externalsecrets.io/finalizer";

/// A store has no verdict yet: not an error to report, a reason to look again shortly.
const FIRST_VERDICT_PENDING: &str = "a store's first validation is pending";

type Synced = BTreeMap<String, BTreeMap<String, PushSecretData>>;

fn push_ref(data: &PushSecretData) -> PushRef {
    let r = &data.r#match.remote_ref;
    PushRef { metadata: data.metadata.clone(), ..PushRef::new(&r.remote_key, r.property.clone()) }
}

/// The stores a PushSecret names, with their status keys (`<Kind>/<name>`), or why one cannot be used.
async fn stores(ctx: &Context, ps: &PushSecret) -> Result<Vec<(String, AnyStore)>, String> {
    let namespace = ps.namespace().unwrap_or_default();
    let mut out = Vec::new();
    for r in &ps.spec.secret_store_refs {
        let cluster = r.kind.as_deref() == Some("ClusterSecretStore");
        let found: Vec<AnyStore> = match (&r.name, &r.label_selector) {
            (Some(name), _) if cluster => ctx.cluster_stores.get(&ObjectRef::new(name)).map(AnyStore::Cluster).into_iter().collect(),
            (Some(name), _) => ctx.stores.get(&ObjectRef::new(name).within(&namespace)).map(AnyStore::Namespaced).into_iter().collect(),
            (None, Some(selector)) => {
                let selector = Selector::try_from(selector.clone()).map_err(|e| format!("invalid secretStoreRefs labelSelector: {e}"))?;
                if cluster {
                    ctx.cluster_stores.state().into_iter().filter(|s| selector.matches(s.labels())).map(AnyStore::Cluster).collect()
                } else {
                    let mine = ctx.stores.state().into_iter().filter(|s| s.namespace().as_deref() == Some(&namespace));
                    mine.filter(|s| selector.matches(s.labels())).map(AnyStore::Namespaced).collect()
                }
            }
            (None, None) => return Err("a secretStoreRefs entry names neither a store nor a labelSelector".into()),
        };
        if found.is_empty() {
            return Err(format!("{} {} not found", kind_of(r), r.name.as_deref().unwrap_or("(by label)")));
        }
        for store in found {
            if !ctx.config.handles_class(store.spec().controller.as_deref()) {
                continue;
            }
            if let AnyStore::Cluster(css) = &store {
                store::allowed_from(ctx, &css.spec.store.conditions, &namespace)
                    .await
                    .map_err(|why| format!("ClusterSecretStore {} may not be used from namespace {namespace}: {why}", css.name_any()))?;
            }
            if store::verdict_pending(&store) {
                // Not validated yet (created or edited together with this PushSecret): wait quietly, briefly.
                return Err(FIRST_VERDICT_PENDING.into());
            }
            if !store.is_ready() {
                return Err(format!("{} {} is not ready", store.kind().as_str(), store.meta().name.as_deref().unwrap_or_default()));
            }
            out.push((format!("{}/{}", store.kind().as_str(), store.meta().name.clone().unwrap_or_default()), store));
        }
    }
    Ok(out)
}

/// Whether this controller handles the PushSecret: some store it names is of this controller's
/// class (a named store not in the cache counts, so that it is reported missing). Another class's
/// PushSecret is left alone entirely: no status, no finalizer, never a delete.
fn ours(ctx: &Context, ps: &PushSecret) -> bool {
    let namespace = ps.namespace().unwrap_or_default();
    let handled = |s: &AnyStore| ctx.config.handles_class(s.spec().controller.as_deref());
    ps.spec.secret_store_refs.iter().any(|r| {
        let cluster = r.kind.as_deref() == Some("ClusterSecretStore");
        match (&r.name, &r.label_selector) {
            (Some(name), _) => {
                let found = if cluster {
                    ctx.cluster_stores.get(&ObjectRef::new(name)).map(AnyStore::Cluster)
                } else {
                    ctx.stores.get(&ObjectRef::new(name).within(&namespace)).map(AnyStore::Namespaced)
                };
                found.is_none_or(|s| handled(&s))
            }
            (None, Some(selector)) => {
                let Ok(selector) = Selector::try_from(selector.clone()) else { return true };
                if cluster {
                    ctx.cluster_stores
                        .state()
                        .into_iter()
                        .filter(|s| selector.matches(s.labels()))
                        .map(AnyStore::Cluster)
                        .any(|s| handled(&s))
                } else {
                    let mine = ctx.stores.state().into_iter().filter(|s| s.namespace().as_deref() == Some(&namespace));
                    mine.filter(|s| selector.matches(s.labels())).map(AnyStore::Namespaced).any(|s| handled(&s))
                }
            }
            (None, None) => true,
        }
    })
}

fn kind_of(r: &PushSecretStoreRef) -> &str {
    r.kind.as_deref().unwrap_or("SecretStore")
}

/// The source Secrets, by name or by label selector (in name order), each shaped by the template
/// when there is one.
async fn sources(ctx: &Context, ps: &PushSecret, ledger: &Ledger<'_>) -> Result<Vec<BTreeMap<String, Vec<u8>>>, String> {
    let selector = &ps.spec.selector;
    let namespace = ps.namespace().unwrap_or_default();
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &namespace);
    let secret = selector.secret.as_ref();
    let found: Vec<BTreeMap<String, Vec<u8>>> = match (
        selector.generator_ref.as_ref(),
        secret.and_then(|s| s.name.clone()).filter(|n| !n.is_empty()),
        secret.and_then(|s| s.selector.as_ref()),
    ) {
        (Some(raw), _, _) => {
            // New values at every push, from the same generator builder as ExternalSecrets use.
            let r: crate::api::GeneratorRef = serde_json::from_value(raw.clone()).map_err(|e| format!("selector.generatorRef: {e}"))?;
            let runner = super::generators::Runner::new(ctx, namespace.clone(), ledger);
            // ESO's state key for a PushSecret's generator.
            vec![runner.generate("__pushsecret", &r).await.map_err(|e| format!("generator {} {}: {e}", r.kind, r.name))?]
        }
        (None, Some(name), _) => vec![secret_data(
            api.get_opt(&name)
                .await
                .map_err(|e| format!("reading source secret {name}: {e}"))?
                .ok_or_else(|| format!("source secret {name} not found"))?,
        )],
        (None, None, Some(labels)) => {
            let labels = Selector::try_from(labels.clone()).map_err(|e| format!("invalid selector.secret.selector: {e}"))?;
            let mut list =
                api.list(&ListParams::default().labels_from(&labels)).await.map_err(|e| format!("listing source secrets: {e}"))?.items;
            if list.is_empty() {
                // Not "nothing to push": that would forget (and under Delete, delete) what was pushed.
                return Err("no Secret matches selector.secret.selector".into());
            }
            list.sort_by_key(|s| s.name_any());
            list.into_iter().map(secret_data).collect()
        }
        (None, None, None) => return Err("selector.secret needs a name or a selector".into()),
    };
    let loaded = match &ps.spec.template {
        Some(t) => super::external_secret::load_templates(ctx, &namespace, t).await.map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for data in found {
        let Some(t) = &ps.spec.template else {
            out.push(data);
            continue;
        };
        // As ESO: the template writes over the Secret's own keys, which stay.
        let merged = ExternalSecretTemplate { merge_policy: Some(TemplateMergePolicy::Merge), ..t.clone() };
        let shaped = ctx
            .renders
            .render_as(("PushSecret", namespace.clone(), ps.name_any()), &merged, &data, &loaded)
            .await
            .map_err(|e| format!("the template could not be rendered: {}", e.summary))?;
        out.push(shaped.data);
    }
    Ok(out)
}

fn secret_data(secret: Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

/// Pushes every planned write of every source Secret to every store; returns what is now pushed
/// (what was already recorded and is still wanted is kept even when a later call fails), or the
/// first error.
async fn push_all(ctx: &Context, ps: &PushSecret, old: &Synced, ledger: &Ledger<'_>) -> (Synced, Result<(), String>) {
    let namespace = ps.namespace().unwrap_or_default();
    let mut synced = Synced::new();
    if let Err(e) = push::validate_data_to(&ps.spec) {
        return (old.clone(), Err(e));
    }
    let targets = match stores(ctx, ps).await {
        Ok(t) => t,
        Err(e) => return (old.clone(), Err(e)),
    };
    let sources = match sources(ctx, ps, ledger).await {
        Ok(d) => d,
        Err(e) => return (old.clone(), Err(e)),
    };
    for (key, store) in targets {
        let client: Arc<StoreClient> = match ctx.clients.get(&store, Some(&namespace)).await {
            Ok(c) => c,
            Err(e) => return (old.clone(), Err(format!("{key}: {e}"))),
        };
        if client.batcher.provider().capabilities() != Capabilities::ReadWrite {
            return (old.clone(), Err(format!("{key} is ReadOnly: its provider cannot push")));
        }
        let labels = store_labels(&store, &namespace);
        let store_labels_now = store.meta().labels.clone().unwrap_or_default();
        let info = StoreInfo { kind: &labels.kind, name: &labels.store, labels: &store_labels_now };
        let recorded = old.get(&key).cloned().unwrap_or_default();
        synced.entry(key.clone()).or_default();
        for data in &sources {
            let writes = match push::plan(&ps.spec, &info, data) {
                Ok(w) => w,
                Err(e) => return (merge(synced, old), Err(e)),
            };
            for PlannedWrite { entry, value } in writes {
                if ps.spec.update_policy == PushSecretUpdatePolicy::IfNotExists && !recorded.contains_key(&status_key(&entry)) {
                    let remote = push_ref(&entry);
                    let exists = client.batcher.call(|p| async move { p.secret_exists(&remote).await }).await;
                    ctx.metrics.store_write(&labels, "exists", exists.is_ok());
                    match exists {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => return (merge(synced, old), Err(format!("{key}: {e}"))),
                    }
                }
                let remote = push_ref(&entry);
                let pushed = client.batcher.call(|p| async move { p.push_secret(&remote, &value).await }).await;
                ctx.metrics.store_write(&labels, "push", pushed.is_ok());
                if let Err(e) = pushed {
                    return (merge(synced, old), Err(format!("{key}: pushing {}: {e}", status_key(&entry))));
                }
                ledger.used();
                synced.entry(key.clone()).or_default().insert(status_key(&entry), entry);
            }
        }
    }
    (synced, Ok(()))
}

/// The per-store series labels of a store.
fn store_labels(store: &AnyStore, namespace: &str) -> StoreLabels {
    let cluster = matches!(store, AnyStore::Cluster(_));
    StoreLabels {
        kind: store.kind().as_str().to_string(),
        namespace: if cluster { String::new() } else { namespace.to_string() },
        store: store.meta().name.clone().unwrap_or_default(),
    }
}

/// After a failure: what was pushed now, plus what had been recorded before (still ours).
fn merge(mut now: Synced, old: &Synced) -> Synced {
    for (store, entries) in old {
        let e = now.entry(store.clone()).or_default();
        for (k, v) in entries {
            e.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    now
}

/// Deletes recorded entries that are no longer pushed (deletionPolicy Delete), keeping in the
/// returned map whatever could not be deleted.
async fn delete_dropped(ctx: &Context, ps: &PushSecret, old: &Synced, now: &Synced) -> Result<Synced, String> {
    let namespace = ps.namespace().unwrap_or_default();
    let mut kept = now.clone();
    for (store_key, entries) in old {
        let dropped: Vec<&PushSecretData> =
            entries.iter().filter(|(k, _)| now.get(store_key).is_none_or(|n| !n.contains_key(*k))).map(|(_, v)| v).collect();
        if dropped.is_empty() {
            continue;
        }
        let Some(store) = store_by_key(ctx, store_key, &namespace) else {
            return Err(format!("{store_key} no longer exists: what was pushed to it cannot be deleted"));
        };
        let client = ctx.clients.get(&store, Some(&namespace)).await.map_err(|e| format!("{store_key}: {e}"))?;
        let labels = store_labels(&store, &namespace);
        for entry in dropped {
            let remote = push_ref(entry);
            let deleted = client.batcher.call(|p| async move { p.delete_secret(&remote).await }).await;
            ctx.metrics.store_write(&labels, "delete", deleted.is_ok());
            if let Err(e) = deleted {
                kept.entry(store_key.clone()).or_default().insert(status_key(entry), entry.clone());
                return Err(format!("{store_key}: deleting {}: {e}", status_key(entry)));
            }
        }
    }
    Ok(kept)
}

fn store_by_key(ctx: &Context, key: &str, namespace: &str) -> Option<AnyStore> {
    match key.split_once('/')? {
        ("ClusterSecretStore", name) => ctx.cluster_stores.get(&ObjectRef::new(name)).map(AnyStore::Cluster),
        (_, name) => ctx.stores.get(&ObjectRef::new(name).within(namespace)).map(AnyStore::Namespaced),
    }
}

fn api(ctx: &Context, ps: &PushSecret) -> Api<PushSecret> {
    Api::namespaced(ctx.client.clone(), &ps.namespace().unwrap_or_default())
}

pub async fn reconcile(ps: Arc<PushSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Store decisions read the store caches: never decide on a cache still listing.
    if !ctx.caches_ready.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let started = Instant::now();
    let (name, namespace) = (ps.name_any(), ps.namespace().unwrap_or_default());
    let mut ready = None;
    let action = reconcile_inner(&ps, &ctx, &mut ready).await;
    ctx.metrics.ps_reconciled(&name, &namespace, ready, started.elapsed());
    action
}

/// `ready` is set to the Ready status written, when one is.
async fn reconcile_inner(ps: &Arc<PushSecret>, ctx: &Arc<Context>, ready: &mut Option<bool>) -> Result<Action, Error> {
    let (ps, ctx) = (ps.clone(), ctx.clone());
    if !ours(&ctx, &ps) {
        return Ok(Action::await_change());
    }
    let has_finalizer = ps.finalizers().iter().any(|f| f == FINALIZER);
    let old = ps.status.clone().unwrap_or_default();
    if ps.meta().deletion_timestamp.is_some() {
        if has_finalizer {
            // Everything recorded goes; the finalizer stays until it has.
            if let Err(e) = delete_dropped(&ctx, &ps, &old.synced_push_secrets, &Synced::new()).await {
                let e = format!("Failed to Delete Secrets from Provider: {e}");
                report(&ctx, &ps, &old, old.synced_push_secrets.clone(), Err(&e), ready).await?;
                return Ok(Action::requeue(Duration::from_secs(15)));
            }
            super::finalizer::set(&api(&ctx, &ps), &*ps, FINALIZER, false).await?;
        }
        return Ok(Action::await_change());
    }
    let delete_policy = ps.spec.deletion_policy == PushSecretDeletionPolicy::Delete;
    if delete_policy != has_finalizer {
        super::finalizer::set(&api(&ctx, &ps), &*ps, FINALIZER, delete_policy).await?;
        return Ok(Action::await_change());
    }
    // Generated remote state is recorded before it is pushed, and settled after (state_ledger.rs).
    let ledger = Ledger::new(&ctx, Owner::of(&*ps));
    let (mut synced, pushed) = push_all(&ctx, &ps, &old.synced_push_secrets, &ledger).await;
    ledger.settle(pushed.is_ok()).await;
    if matches!(&pushed, Err(e) if e == FIRST_VERDICT_PENDING) {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let mut result = pushed;
    if result.is_ok() && delete_policy {
        match delete_dropped(&ctx, &ps, &old.synced_push_secrets, &synced).await {
            Ok(kept) => synced = kept,
            Err(e) => result = Err(e),
        }
    }
    report(&ctx, &ps, &old, synced, result.as_ref().map_err(String::as_str).copied(), ready).await?;
    let interval = ps.spec.refresh_interval.as_ref().and_then(|d| d.parse().ok()).unwrap_or(Duration::from_secs(3600));
    Ok(match result {
        Ok(()) if interval.is_zero() => Action::await_change(),
        Ok(()) => Action::requeue(interval),
        Err(_) => Action::requeue(Duration::from_secs(15)),
    })
}

/// Records the outcome: Ready and its reason, what is now pushed, and a Warning Event on failure.
async fn report(
    ctx: &Context,
    ps: &PushSecret,
    old: &PushSecretStatus,
    synced: Synced,
    result: Result<(), &str>,
    ready: &mut Option<bool>,
) -> Result<(), Error> {
    let mut status = old.clone();
    status.synced_push_secrets = synced;
    let now = super::now_rfc3339();
    let condition = match result {
        Ok(()) => {
            status.refresh_time = Some(now.clone());
            status.synced_resource_version =
                Some(crate::pipeline::synced_resource_version(ps.meta().generation, ps.labels(), ps.annotations()));
            Condition::ready(true, "Synced", "PushSecret synced successfully")
        }
        Err(e) => Condition::ready(false, "Errored", e),
    };
    *ready = Some(result.is_ok());
    set_condition(&mut status.conditions, condition, &now);
    if let Err(e) = result {
        let event =
            Event { type_: EventType::Warning, reason: "Errored".into(), note: Some(e.into()), action: "Push".into(), secondary: None };
        ctx.publish(&event, &ps.object_ref(&()));
    }
    if status != *old {
        let patch = serde_json::json!({"status": {
            "refreshTime": status.refresh_time, "syncedResourceVersion": status.synced_resource_version,
            "syncedPushSecrets": synced_patch(&old.synced_push_secrets, &status.synced_push_secrets),
            "conditions": status.conditions,
        }});
        api(ctx, ps).patch_status(&ps.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    Ok(())
}

/// A merge patch from `old` to `new`: entries that are gone are set to null (a merge patch
/// leaves out what it omits).
fn synced_patch(old: &Synced, new: &Synced) -> serde_json::Value {
    let mut patch = serde_json::to_value(new).unwrap_or_default();
    let map = patch.as_object_mut().expect("a map serialises as an object");
    for (store, entries) in old {
        match map.get_mut(store).and_then(|v| v.as_object_mut()) {
            None => {
                map.insert(store.clone(), serde_json::Value::Null);
            }
            Some(now) => {
                for key in entries.keys().filter(|k| !new[store].contains_key(*k)) {
                    now.insert(key.clone(), serde_json::Value::Null);
                }
            }
        }
    }
    patch
}

/// Whether `ps` reads the Secret `name` with these labels (by name, or by label selector, or as
/// a `templateFrom` source).
fn reads(ps: &PushSecret, name: &str, labels: &BTreeMap<String, String>) -> bool {
    if templates_from(ps, name, |f| f.secret.as_ref()) {
        return true;
    }
    let Some(secret) = &ps.spec.selector.secret else { return false };
    match (secret.name.as_deref().filter(|n| !n.is_empty()), &secret.selector) {
        (Some(n), _) => n == name,
        (None, Some(selector)) => Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels)),
        (None, None) => false,
    }
}

/// Whether a `templateFrom` entry of `ps` names `name` in the source `which` picks (ConfigMap or Secret).
fn templates_from(ps: &PushSecret, name: &str, which: impl Fn(&crate::api::TemplateFrom) -> Option<&crate::api::TemplateRef>) -> bool {
    ps.spec.template.iter().flat_map(|t| &t.template_from).filter_map(which).any(|r| r.name == name)
}

pub fn error_policy(_ps: Arc<PushSecret>, _error: &Error, _ctx: Arc<Context>) -> Action {
    Action::requeue(Duration::from_secs(10))
}

/// The PushSecret controller until `shutdown`: PushSecrets, their source Secrets and their
/// template ConfigMaps (metadata watches kept by no cache: a change of either is pushed at once).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    undecodable: tokio::sync::mpsc::UnboundedSender<Undecodable>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    use futures::StreamExt;
    use kube::core::PartialObjectMeta;
    use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};

    let client = ctx.client.clone();
    fn scoped<K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>>(
        client: &kube::Client,
        namespace: &Option<String>,
    ) -> Api<K> {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let api: Api<Decoded<PushSecret>> = scoped(&client, &namespace);
    let secrets: Api<PartialObjectMeta<Secret>> = scoped(&client, &namespace);
    let config_maps: Api<PartialObjectMeta<ConfigMap>> = scoped(&client, &namespace);
    let wc = watcher::Config::default();
    let (reader, writer) = reflector::store::<PushSecret>();
    let forget = ctx.metrics.clone();
    // Sources and templates are watched from the first PushSecret on (on_demand.rs); their list
    // then re-queues every PushSecret reading what changed before.
    let demand = super::on_demand::Demand::default();
    let seen = demand.clone();
    let stream = split(watcher(api, wc.clone()).default_backoff(), undecodable)
        .modify(|ps| ps.managed_fields_mut().clear())
        .reflect(writer)
        .inspect(move |ev| match ev {
            Ok(watcher::Event::Delete(ps)) => forget.ps_deleted(&ps.name_any(), &ps.namespace().unwrap_or_default()),
            Ok(watcher::Event::Apply(_) | watcher::Event::InitApply(_)) => seen.signal(),
            _ => {}
        })
        .applied_objects();
    let source_config = wc.clone();
    let sources = demand.start(move || watcher(secrets, source_config).default_backoff().touched_objects());
    let templates = demand.start(move || watcher(config_maps, wc).default_backoff().touched_objects());
    let by_source = reader.clone();
    let by_template = reader.clone();
    Controller::for_stream(stream, reader)
        .with_config(controller::Config::default().concurrency(concurrency))
        .watches_stream(sources, move |secret: PartialObjectMeta<Secret>| {
            let (ns, name) = (secret.namespace(), secret.name_any());
            by_source
                .state()
                .iter()
                .filter(|ps| ps.namespace() == ns && reads(ps, &name, secret.labels()))
                .map(|ps| ObjectRef::from_obj(&**ps))
                .collect::<Vec<_>>()
        })
        .watches_stream(templates, move |cm: PartialObjectMeta<ConfigMap>| {
            let (ns, name) = (cm.namespace(), cm.name_any());
            by_template
                .state()
                .iter()
                .filter(|ps| ps.namespace() == ns && templates_from(ps, &name, |f| f.config_map.as_ref()))
                .map(|ps| ObjectRef::from_obj(&**ps))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "pushsecret reconcile");
            }
        })
        .await;
}
