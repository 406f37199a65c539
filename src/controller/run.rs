//! Wire the reflectors and controllers together and run them until shutdown.
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use super::external_secret::{error_policy, reconcile};
use super::store::{reconcile_cluster_store, reconcile_store, store_error_policy};
use super::{Config, Context};
use crate::api::{ClusterSecretStore, ExternalSecret, MANAGED_LABEL, SecretStore, StoreKind};
use crate::fetch::{BudgetLimits, ClientCache};
use crate::metrics::Metrics;

/// How the controllers run.
pub struct RunOptions {
    pub namespace: Option<String>,
    pub concurrency: u16,
    pub config: Config,
    pub coalesce_window: Duration,
    /// Default per-store provider call budget.
    pub budget: BudgetLimits,
    pub instance: String,
}

fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Changes that deserve a sync: spec (generation), labels and annotations (force-sync). Status
/// writes, ours included, do not.
fn sync_relevant(es: &ExternalSecret) -> Option<u64> {
    let mut h = std::hash::DefaultHasher::new();
    es.meta().generation.hash(&mut h);
    es.labels().hash(&mut h);
    es.annotations().hash(&mut h);
    Some(h.finish())
}

/// Run until `shutdown` resolves. `ready` turns true once every cache has synced.
pub async fn run(
    client: kube::Client,
    opts: RunOptions,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = opts.namespace.as_deref();
    let wc = watcher::Config::default();
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));

    let store_ctrl = Controller::new(api::<SecretStore>(&client, ns), wc.clone());
    let cluster_store_ctrl = Controller::new(Api::<ClusterSecretStore>::all(client.clone()), wc.clone());

    let (es_reader, es_writer) = reflector::store::<ExternalSecret>();
    let deleted_metrics = metrics.clone();
    let es_stream = watcher(api::<ExternalSecret>(&client, ns), wc.clone())
        .default_backoff()
        .reflect(es_writer)
        .inspect(move |ev| {
            if let Ok(watcher::Event::Delete(es)) = ev {
                deleted_metrics.es_deleted(&es.name_any(), &es.namespace().unwrap_or_default());
            }
        })
        .applied_objects()
        .predicate_filter(sync_relevant, Default::default());

    let (secret_reader, secret_writer) = reflector::store::<PartialObjectMeta<Secret>>();
    let secret_stream = watcher(
        api::<PartialObjectMeta<Secret>>(&client, ns),
        watcher::Config::default().labels(&format!("{MANAGED_LABEL}=true")),
    )
    .default_backoff()
    .reflect(secret_writer)
    .touched_objects();

    let ctx = Arc::new(Context {
        client: client.clone(),
        config: opts.config.clone(),
        metrics: metrics.clone(),
        clients: ClientCache::new(client.clone(), metrics.clone(), opts.coalesce_window, opts.budget),
        recorder: Recorder::new(client.clone(), Reporter { controller: "sesame".into(), instance: Some(opts.instance.clone()) }),
        stores: store_ctrl.store(),
        cluster_stores: cluster_store_ctrl.store(),
        secrets: secret_reader.clone(),
        failures: Default::default(),
        verified: Default::default(),
    });

    let by_target = es_reader.clone();
    let by_store = es_reader.clone();
    let by_cluster_store = es_reader.clone();
    let es_ctrl = Controller::for_stream(es_stream, es_reader.clone())
        .with_config(controller::Config::default().concurrency(opts.concurrency))
        .watches_stream(secret_stream, move |secret: PartialObjectMeta<Secret>| {
            let ns = secret.namespace().unwrap_or_default();
            let owner = secret
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true) && o.kind == "ExternalSecret")
                .map(|o| ObjectRef::new(&o.name).within(&ns));
            let refs: Vec<ObjectRef<ExternalSecret>> = match owner {
                Some(r) => vec![r],
                None => by_target
                    .state()
                    .iter()
                    .filter(|es| es.namespace().as_deref() == Some(&ns) && es.target_name() == secret.name_any())
                    .map(|es| ObjectRef::from_obj(&**es))
                    .collect(),
            };
            refs
        })
        .watches(api::<SecretStore>(&client, ns), wc.clone(), move |store: SecretStore| {
            let ns = store.namespace();
            let name = store.name_any();
            by_store
                .state()
                .iter()
                .filter(|es| es.namespace() == ns && es.store_ref() == (name.clone(), StoreKind::SecretStore))
                .map(|es| ObjectRef::from_obj(&**es))
                .collect::<Vec<_>>()
        })
        .watches(Api::<ClusterSecretStore>::all(client.clone()), wc.clone(), move |store: ClusterSecretStore| {
            let name = store.name_any();
            by_cluster_store
                .state()
                .iter()
                .filter(|es| es.store_ref() == (name.clone(), StoreKind::ClusterSecretStore))
                .map(|es| ObjectRef::from_obj(&**es))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "externalsecret reconcile");
            }
        });

    let stores = store_ctrl
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_store, store_error_policy, ctx.clone())
        .for_each(|_| async {});
    let cluster_stores = cluster_store_ctrl
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_cluster_store, store_error_policy, ctx.clone())
        .for_each(|_| async {});

    let readiness = {
        let (a, b, c) = (es_reader.clone(), secret_reader.clone(), ctx.stores.clone());
        let d = ctx.cluster_stores.clone();
        async move {
            let _ = tokio::join!(a.wait_until_ready(), b.wait_until_ready(), c.wait_until_ready(), d.wait_until_ready());
            ready.store(true, Ordering::SeqCst);
            tracing::info!("caches synced; controllers running");
        }
    };
    tokio::join!(es_ctrl, stores, cluster_stores, readiness);
    ctx.clients.close().await;
}
