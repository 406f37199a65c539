//! Wire the reflectors and controllers together and run them until shutdown.
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::core::object::HasSpec;
use kube::core::{PartialObjectMeta, PartialObjectMetaExt};
use kube::runtime::controller::Controller;
use kube::runtime::events::Reporter;
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::decode::{Decoded, split};
use super::es_triggers;
use super::external_secret::{error_policy, reconcile};
use super::invalid::{Reporting, report};
use super::store::{reconcile_cluster_store, reconcile_store, store_error_policy};
use super::{Config, Context, EsRef};
use crate::api::{ClusterExternalSecret, ClusterPushSecret, ClusterSecretStore, ExternalSecret, MANAGED_LABEL, PushSecret, SecretStore};
use crate::fetch::{BudgetLimits, ClientCache};
use crate::metrics::Metrics;

/// Store events buffered for slow subscribers before the watch waits for them.
const STORE_EVENT_BUFFER: usize = 1024;

/// How the controllers run.
pub struct RunOptions {
    pub namespace: Option<String>,
    pub concurrency: u16,
    pub config: Config,
    pub coalesce_window: Duration,
    /// Per-store provider call budget overrides from the flags (unset: each provider's quota).
    pub budget: BudgetLimits,
    pub instance: String,
    /// Refuse SecretStores that authenticate as the controller itself.
    pub refuse_secretstore_controller_identity: bool,
    /// Workers one namespace may hold while the pool is busy (0: no bound).
    pub namespace_share: usize,
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
fn sync_relevant(es: &ExternalSecret) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    // A deleted and re-created object of the same name is a change.
    es.meta().uid.hash(&mut h);
    es.meta().generation.hash(&mut h);
    es.labels().hash(&mut h);
    es.annotations().hash(&mut h);
    h.finish()
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

    // Stores are watched once; the store controllers and the ExternalSecret controller's
    // store-to-ExternalSecret mapping both subscribe to it, and see an event only after the
    // shared cache has it (so a re-queued ExternalSecret reads the new store generation).
    let (stores, stores_writer) = reflector::store_shared::<SecretStore>(STORE_EVENT_BUFFER);
    let (cluster_stores, cluster_stores_writer) = reflector::store_shared::<ClusterSecretStore>(STORE_EVENT_BUFFER);
    let subscribe = "a shared store writer always has subscribers";
    let (stores_for_ctrl, stores_for_es) = (stores_writer.subscribe().expect(subscribe), stores_writer.subscribe().expect(subscribe));
    let (cluster_for_ctrl, cluster_for_es) =
        (cluster_stores_writer.subscribe().expect(subscribe), cluster_stores_writer.subscribe().expect(subscribe));
    // Each object decodes on its own (see `decode`): the undecodable ones go to a reporter.
    let (bad_stores, bad_stores_rx) = tokio::sync::mpsc::unbounded_channel();
    let (bad_cluster_stores, bad_cluster_stores_rx) = tokio::sync::mpsc::unbounded_channel();
    let (bad_external_secrets, bad_external_secrets_rx) = tokio::sync::mpsc::unbounded_channel();
    let (bad_ces, bad_ces_rx) = tokio::sync::mpsc::unbounded_channel();
    let (bad_push_secrets, bad_push_secrets_rx) = tokio::sync::mpsc::unbounded_channel();
    let (bad_cps, bad_cps_rx) = tokio::sync::mpsc::unbounded_channel();
    let store_watch = split(watcher(api::<Decoded<SecretStore>>(&client, ns), wc.clone()).default_backoff(), bad_stores)
        .modify(trim)
        .modify(keep_cached_spec(stores.clone()))
        .reflect_shared(stores_writer)
        .for_each(|_| async {})
        .boxed();
    let cluster_store_watch =
        split(watcher(Api::<Decoded<ClusterSecretStore>>::all(client.clone()), wc.clone()).default_backoff(), bad_cluster_stores)
            .modify(trim)
            .modify(keep_cached_spec(cluster_stores.clone()))
            .reflect_shared(cluster_stores_writer)
            .for_each(|_| async {})
            .boxed();
    // A store is validated again when a Secret it names changes (a rotated token).
    let (store_secret_tx, store_secret_rx) = futures::channel::mpsc::unbounded();
    let (cluster_secret_tx, cluster_secret_rx) = futures::channel::mpsc::unbounded();
    let store_secret_watch = super::store_secrets::watch(
        api::<PartialObjectMeta<Secret>>(&client, ns),
        stores.clone(),
        cluster_stores.clone(),
        store_secret_tx,
        cluster_secret_tx,
    );
    let store_ctrl = Controller::for_shared_stream(stores_for_ctrl, stores.clone()).reconcile_on(store_secret_rx);
    let cluster_store_ctrl = Controller::for_shared_stream(cluster_for_ctrl, cluster_stores.clone()).reconcile_on(cluster_secret_rx);

    let es_cache = super::ExternalSecretCache::default();
    let es_feed = es_cache.clone();
    let watch_metrics = metrics.clone();
    let default_interval = opts.config.default_refresh_interval;
    let memory = Arc::new(super::Memory::default());
    let generators = Arc::new(super::generator_watch::GeneratorIndex::default());
    let generator_kinds = generators.clone();
    let forget = memory.clone();
    let versions = memory.clone();
    let asked = memory.clone();
    let relevant = memory.clone();
    let wakeups = Arc::new(super::wakeups::Wakeups::default());
    let wake_forget = wakeups.clone();
    let renders = Arc::new(super::Renders::new(&opts.config.templates));
    let abandon = renders.clone();
    // Deleted ExternalSecrets also release their GeneratorStates: the one ExternalSecret watch
    // tells that controller, instead of a second list and watch of every ExternalSecret.
    let (es_gone_tx, es_gone) = futures::channel::mpsc::unbounded();
    let es_stream = split(watcher(api::<Decoded<ExternalSecret>>(&client, ns), wc.clone()).default_backoff(), bad_external_secrets)
        .modify(move |es| {
            // Before the cache holds it: readiness waits for the kinds the first list names.
            generator_kinds.need(es.spec.generator_refs().into_iter().map(|r| r.kind.as_str()));
            // ESO's resource version hashes every annotation: take it before trimming.
            versions.remember_eso_version(es);
            trim(es);
        })
        .map_ok(move |event| {
            if let watcher::Event::Apply(es) | watcher::Event::InitApply(es) = &event {
                let interval = es.periodic_interval(default_interval);
                watch_metrics.es_refresh_interval(&es.name_any(), &es.namespace().unwrap_or_default(), interval);
            }
            if let watcher::Event::Delete(es) = &event {
                watch_metrics.es_deleted(&es.name_any(), &es.namespace().unwrap_or_default());
                forget.forget(es);
                wake_forget.forget(&es.namespace().unwrap_or_default(), &es.name_any());
                abandon.cancel(es);
                let gone = kube::api::ObjectMeta {
                    name: es.metadata.name.clone(),
                    namespace: es.metadata.namespace.clone(),
                    uid: es.metadata.uid.clone(),
                    ..Default::default()
                };
                // Closed only when the GeneratorState controller stopped: nothing left to tell.
                let _ = es_gone_tx.unbounded_send(gone.into_request_partial::<ExternalSecret>());
            }
            // The cache keeps each object packed (packed.rs): decisions unpack what they read.
            super::packed::pack_event(event, sync_relevant)
        })
        // Filed before the runner hears of it: a pass reads the record that asked for it.
        .map_ok(move |event| es_feed.apply(event))
        .try_filter_map(|filed| std::future::ready(Ok(filed)))
        // kube's `predicate_filter` would keep a key of three owned strings per object; the
        // memory keeps the hash in the object's one record.
        .filter(move |es| std::future::ready(es.as_ref().map_or(true, |es| relevant.changed_for_sync(&**es, es.sync_relevant))))
        // What a sync may share with reads already made depends on when it was asked for.
        .filter_map(move |es| {
            std::future::ready(match es {
                Ok(es) => {
                    asked.remember_asked(&*es, std::time::Instant::now());
                    Some(es.reference())
                }
                Err(e) => {
                    tracing::debug!(error = %e, "externalsecret watch");
                    None
                }
            })
        });

    let secret_cache = super::CompactCache::<super::TargetMeta>::default();
    let secret_feed = secret_cache.clone();
    let secret_stream =
        watcher(api::<PartialObjectMeta<Secret>>(&client, ns), watcher::Config::default().labels(&format!("{MANAGED_LABEL}=true")))
            .default_backoff()
            .inspect_ok(move |ev| secret_feed.apply(ev, super::TargetMeta::of))
            .touched_objects();

    // Only a template ConfigMap's resourceVersion is read.
    let config_map_cache = super::CompactCache::<Box<str>>::default();
    let config_map_feed = config_map_cache.clone();
    let config_map_stream = watcher(api::<PartialObjectMeta<ConfigMap>>(&client, ns), wc.clone())
        .default_backoff()
        .inspect_ok(move |ev| config_map_feed.apply(ev, |cm| cm.metadata.resource_version.as_deref().unwrap_or_default().into()))
        .touched_objects();

    let (generator_states, generator_states_writer) = reflector::store::<crate::api::GeneratorState>();
    let (generic, generic_changes) = super::generic_watch::GenericTargets::new(
        client.clone(),
        opts.namespace.clone(),
        opts.config.allow_generic_targets,
        es_cache.clone(),
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: opts.config.clone(),
        metrics: metrics.clone(),
        clients: ClientCache::new(client.clone(), metrics.clone(), opts.coalesce_window, opts.budget)
            .refusing_controller_identity(opts.refuse_secretstore_controller_identity),
        recorder: super::events::Recorder::new(
            client.clone(),
            Reporter { controller: "sesame".into(), instance: Some(opts.instance.clone()) },
        ),
        stores: stores.clone(),
        cluster_stores: cluster_stores.clone(),
        secrets: secret_cache.clone(),
        config_maps: config_map_cache.clone(),
        caches_ready: Default::default(),
        memory,
        renders,
        generators,
        generator_states: generator_states.clone(),
        generic: generic.clone(),
        // With one namespace watched there is nobody to share with.
        namespace_share: super::fairness::NamespaceShare::new(opts.concurrency.into(), if ns.is_some() { 0 } else { opts.namespace_share }),
        external_secrets: es_cache.clone(),
        waiting: Default::default(),
        groups: Default::default(),
        grouped: Default::default(),
        wakeups: wakeups.clone(),
    });

    let generator_changes = super::generator_watch::watch(client.clone(), ns, ctx.generators.clone(), es_cache.clone());
    let requests = futures::stream::select_all([
        es_stream.boxed(),
        wakeups.fired().boxed(),
        generator_changes.boxed(),
        generic_changes.boxed(),
        es_triggers::by_target(secret_stream, es_cache.clone()).boxed(),
        es_triggers::by_template(config_map_stream, es_cache.clone()).boxed(),
        es_triggers::by_store(stores_for_es, es_cache.clone()).boxed(),
        es_triggers::by_cluster_store(cluster_for_es, es_cache.clone()).boxed(),
    ]);
    let es_ctrl = {
        let (cache, ready, ctx) = (es_cache.clone(), es_cache.clone(), ctx.clone());
        super::runner::run(
            requests,
            async move { ready.wait_until_ready().await },
            shutdown.clone(),
            opts.concurrency.into(),
            move |r: &EsRef| cache.get(r),
            move |r, packed| {
                let ctx = ctx.clone();
                // kube's controller named its span so; log readers keep it.
                let span = tracing::info_span!("reconciling object", "object.ref" = %r);
                async move {
                    if let Err(e) = reconcile(packed.clone(), ctx.clone()).await {
                        error_policy(&packed, &e, &ctx);
                        tracing::debug!(error = %e, "externalsecret reconcile");
                    }
                }
                .instrument(span)
            },
        )
        .boxed()
    };
    // ExternalSecrets are judged against their stores: start once the store caches are listed.
    // A store list that never completes must not keep a shutdown waiting here.
    let (stores_listed, mut stores_listed_rx) = tokio::sync::watch::channel(false);
    let reporters = {
        let listed = stores_listed_rx.clone();
        let (es, ss, css) = (
            Reporting::of::<ExternalSecret>("SecretSyncedError", "UpdateFailed"),
            Reporting::of::<SecretStore>("InvalidProviderConfig", "InvalidProviderConfig"),
            Reporting::of::<ClusterSecretStore>("InvalidProviderConfig", "InvalidProviderConfig"),
        );
        // ESO's PushSecret-family objects fail with reason Errored.
        let (ces, ps, cps) = (
            Reporting::of::<ClusterExternalSecret>("Errored", "Errored"),
            Reporting::of::<PushSecret>("Errored", "Errored"),
            Reporting::of::<ClusterPushSecret>("Errored", "Errored"),
        );
        let all = futures::future::join_all([
            report(ctx.clone(), es, bad_external_secrets_rx, listed.clone()).boxed(),
            report(ctx.clone(), ss, bad_stores_rx, listed.clone()).boxed(),
            report(ctx.clone(), css, bad_cluster_stores_rx, listed.clone()).boxed(),
            report(ctx.clone(), ces, bad_ces_rx, listed.clone()).boxed(),
            report(ctx.clone(), ps, bad_push_secrets_rx, listed.clone()).boxed(),
            report(ctx.clone(), cps, bad_cps_rx, listed).boxed(),
        ]);
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = all => {}
                _ = shutdown => {}
            }
        }
        .boxed()
    };
    let es_ctrl = {
        let shutdown = shutdown.clone();
        async move {
            let listed = async { stores_listed_rx.wait_for(|listed| *listed).await.is_ok() };
            let start = tokio::select! {
                listed = listed => listed,
                _ = shutdown => false,
            };
            if start {
                es_ctrl.await
            }
        }
    };

    let stores_ctrl_run = store_ctrl
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_store, store_error_policy, ctx.clone())
        .for_each(|_| async {})
        .boxed();
    let cluster_stores_ctrl_run = cluster_store_ctrl
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_cluster_store, store_error_policy, ctx.clone())
        .for_each(|_| async {})
        .boxed();

    let readiness = {
        let (a, b, c) = (es_cache.clone(), secret_cache.clone(), ctx.stores.clone());
        let e = config_map_cache.clone();
        let d = ctx.cluster_stores.clone();
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        let wait = async move {
            // One waiter per cache: kube's readiness signal is not reliable for several.
            let _ = tokio::join!(c.wait_until_ready(), d.wait_until_ready());
            let _ = stores_listed.send(true);
            let f = ctx.generator_states.clone();
            let _ = tokio::join!(a.wait_until_ready(), b.wait_until_ready(), e.wait_until_ready(), f.wait_until_ready());
            // Generator identities are part of an ExternalSecret's sources: judged only once listed.
            while !ctx.generators.ready() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ctx.caches_ready.store(true, Ordering::SeqCst);
            ready.store(true, Ordering::SeqCst);
            tracing::info!("caches synced; controllers running");
        };
        async move {
            tokio::select! {
                _ = wait => {}
                _ = shutdown => {}
            }
        }
    };
    let shutdown_watches = async {
        tokio::select! {
            _ = async { tokio::join!(store_watch, cluster_store_watch, store_secret_watch) } => {}
            _ = shutdown.clone() => {}
        }
    };
    // ClusterExternalSecrets and ClusterPushSecrets write into many namespaces: cluster-wide
    // installs only.
    let ces_ctrl = async {
        if opts.namespace.is_none() {
            let (c, m) = (client.clone(), metrics.clone());
            tokio::join!(
                super::fleet::run::<crate::api::ClusterExternalSecret>(c.clone(), m.clone(), opts.concurrency, bad_ces, shutdown.clone()),
                super::fleet::run::<crate::api::ClusterPushSecret>(c, m, opts.concurrency, bad_cps, shutdown.clone()),
            );
        }
    }
    .boxed();
    let push_ctrl =
        super::push_secret::run(ctx.clone(), opts.namespace.clone(), opts.concurrency, bad_push_secrets, shutdown.clone()).boxed();
    let states_ctrl = super::generator_state::run(
        ctx.clone(),
        opts.namespace.clone(),
        generator_states_writer,
        es_gone,
        opts.concurrency,
        shutdown.clone(),
    )
    .boxed();
    tokio::join!(
        es_ctrl,
        stores_ctrl_run,
        cluster_stores_ctrl_run,
        ces_ctrl,
        push_ctrl,
        states_ctrl,
        readiness,
        shutdown_watches,
        reporters
    );
    ctx.clients.close().await;
}

/// What the caches need not keep: `managedFields` and kubectl's last-applied copy of the whole
/// object are most of a small object's bytes, and nothing here reads them (a Secret's managed
/// fields are read from a GET when needed).
fn trim<K: Resource>(obj: &mut K) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut().remove("kubectl.kubernetes.io/last-applied-configuration");
}

/// A change that leaves a store's spec as it was (its status, a label) keeps the spec the cache
/// holds: a client built from that spec shares its data (a fake store's entries are `Arc`ed)
/// instead of a second decoded copy living on beside the cache's.
fn keep_cached_spec<K>(cache: reflector::Store<K>) -> impl FnMut(&mut K)
where
    K: Resource<DynamicType = ()> + HasSpec + Clone + 'static,
    K::Spec: PartialEq + Clone,
{
    move |obj| {
        if let Some(cached) = cache.get(&reflector::ObjectRef::from_obj(obj))
            && cached.spec() == obj.spec()
        {
            *obj.spec_mut() = cached.spec().clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kube::runtime::{reflector, watcher};

    use super::keep_cached_spec;
    use crate::api::SecretStore;

    fn fake_store(entries: &[&str], ready: &str) -> SecretStore {
        let data: Vec<_> = entries.iter().map(|k| serde_json::json!({"key": k, "value": "v"})).collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "fake", "namespace": "team-a", "generation": 1},
            "spec": {"provider": {"fake": {"data": data}}},
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        }))
        .unwrap()
    }

    fn data(s: &SecretStore) -> Arc<[sesame_provider_fake::FakeProviderData]> {
        s.spec.provider.fake.as_ref().unwrap().data.clone()
    }

    #[test]
    fn a_status_change_shares_the_cached_spec_and_a_spec_change_does_not() {
        let (cache, mut writer) = reflector::store::<SecretStore>();
        writer.apply_watcher_event(&watcher::Event::Apply(fake_store(&["a", "b"], "False")));
        let cached = data(&cache.state()[0]);
        let mut keep = keep_cached_spec(cache);

        let mut status_only = fake_store(&["a", "b"], "True");
        keep(&mut status_only);
        assert!(Arc::ptr_eq(&data(&status_only), &cached), "one copy of the entries, shared with the cache's");
        assert_eq!(status_only.status.unwrap().conditions[0].status, "True", "the new status is kept");

        let mut edited = fake_store(&["a", "c"], "True");
        keep(&mut edited);
        assert!(!Arc::ptr_eq(&data(&edited), &cached));
        assert_eq!(data(&edited)[1].key, "c", "an edited spec is its own");
    }
}
