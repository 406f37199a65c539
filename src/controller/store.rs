//! Stores: finding the one an ExternalSecret names (with ClusterSecretStore conditions), and
//! validating stores to set their Ready condition.
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::{Context, Error};
use crate::api::{
    AnyStore, ClusterSecretStore, ClusterSecretStoreCondition, Condition, ExternalSecret, SecretStore, SecretStoreStatus, StoreKey,
    StoreKind, set_condition,
};

/// Every store an ExternalSecret reads from (`spec.secretStoreRef` and the entries' own
/// `sourceRef.storeRef`), each checked as [`resolve_one`]. `Ok(None)`: one of them belongs to
/// another controller class, which handles the object.
pub async fn resolve(ctx: &Context, es: &ExternalSecret) -> Result<Option<Vec<(StoreKey, AnyStore)>>, Error> {
    if es.spec.uses_spec_store() && es.spec.secret_store_ref.as_ref().is_none_or(|r| r.name.is_empty()) {
        return Err(Error::InvalidSpec("spec.secretStoreRef is required unless every entry names its own source in sourceRef".into()));
    }
    let mut stores = Vec::new();
    for key in es.store_refs() {
        let Some(store) = resolve_one(ctx, es, &key).await? else { return Ok(None) };
        stores.push((key, store));
    }
    Ok(Some(stores))
}

/// One store an ExternalSecret names, looked up in the ExternalSecret's namespace (a
/// SecretStore) or cluster-wide (a ClusterSecretStore, whose conditions must admit the
/// namespace), if this controller may use it. `Ok(None)`: another controller class's store.
async fn resolve_one(ctx: &Context, es: &ExternalSecret, (name, kind): &StoreKey) -> Result<Option<AnyStore>, Error> {
    let (name, kind) = (name.clone(), *kind);
    let namespace = es.namespace().unwrap_or_default();
    let store = lookup(ctx, &namespace, &name, kind).ok_or_else(|| Error::StoreNotFound { kind: kind.as_str(), name: name.clone() })?;
    if !ctx.config.handles_class(store.spec().controller.as_deref()) {
        return Ok(None);
    }
    if let AnyStore::Cluster(css) = &store {
        allowed_from(ctx, &css.spec.store.conditions, &namespace).await.map_err(|why| Error::StoreNotAllowed {
            kind: kind.as_str(),
            name: name.clone(),
            namespace: namespace.clone(),
            why,
        })?;
    }
    if !store.is_ready() {
        // The store's own Ready message (sanitised) says why: unreachable, TLS, credentials; or
        // its current generation has no verdict yet.
        let why = match store.status().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")) {
            Some(c) if c.status == "True" => format!(": generation {} is not validated yet", store.meta().generation.unwrap_or(0)),
            Some(c) => c.message.clone().map(|m| format!(": {m}")).unwrap_or_default(),
            None => String::new(),
        };
        return Err(Error::StoreNotReady { kind: kind.as_str(), name, why });
    }
    Ok(Some(store))
}

fn lookup(ctx: &Context, namespace: &str, name: &str, kind: StoreKind) -> Option<AnyStore> {
    match kind {
        StoreKind::SecretStore => ctx.stores.get(&ObjectRef::new(name).within(namespace)).map(AnyStore::Namespaced),
        StoreKind::ClusterSecretStore => ctx.cluster_stores.get(&ObjectRef::new(name)).map(AnyStore::Cluster),
    }
}

/// `<uid>/<generation>` of each store an ExternalSecret names (empty for one that does not exist).
/// With a single store the format is the one earlier versions wrote, so their targets read as
/// unchanged.
pub fn fingerprint(ctx: &Context, es: &ExternalSecret) -> String {
    let namespace = es.namespace().unwrap_or_default();
    let each = es.store_refs().into_iter().map(|(name, kind)| {
        let meta = lookup(ctx, &namespace, &name, kind).map(|s| s.meta().clone());
        meta.map(|m| format!("{}/{}", m.uid.unwrap_or_default(), m.generation.unwrap_or(0))).unwrap_or_default()
    });
    each.collect::<Vec<_>>().join(" ")
}

/// ClusterSecretStore `conditions`: no entries allow every namespace; otherwise the namespace
/// must match one entry (by name, regular expression or label selector).
pub(super) async fn allowed_from(ctx: &Context, conditions: &[ClusterSecretStoreCondition], namespace: &str) -> Result<(), String> {
    if conditions.is_empty() {
        return Ok(());
    }
    let mut labels = None;
    for c in conditions {
        if c.namespaces.iter().any(|n| n == namespace) {
            return Ok(());
        }
        for re in &c.namespace_regexes {
            let re = regex::Regex::new(re).map_err(|e| format!("invalid namespaceRegexes entry {re:?}: {e}"))?;
            if re.is_match(namespace) {
                return Ok(());
            }
        }
        if let Some(sel) = &c.namespace_selector {
            let selector = Selector::try_from(sel.clone()).map_err(|e| format!("invalid namespaceSelector: {e}"))?;
            if labels.is_none() {
                let ns = Api::<Namespace>::all(ctx.client.clone())
                    .get(namespace)
                    .await
                    .map_err(|e| format!("cannot read namespace {namespace}: {e}"))?;
                labels = Some(ns.labels().clone());
            }
            if selector.matches(labels.as_ref().expect("just set")) {
                return Ok(());
            }
        }
    }
    Err("denied by spec.conditions".into())
}

/// Validate a store and record the result, for its current generation, in its status.
async fn validate(ctx: &Context, store: AnyStore) -> Action {
    if !ctx.config.handles_class(store.spec().controller.as_deref()) {
        return Action::await_change();
    }
    let interval = store
        .spec()
        .refresh_interval
        .as_ref()
        .and_then(|i| i.parse().ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(ctx.config.store_requeue_interval);
    let (condition, capabilities) = verdict(ctx, &store).await;
    let ready = condition.status == "True";
    let meta = store.meta();
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    ctx.metrics.store_status(matches!(store, AnyStore::Cluster(_)), &name, &namespace, ready);

    let mut status = store.status().cloned().unwrap_or_default();
    let before = status.clone();
    set_condition(&mut status.conditions, condition.clone(), &super::now_rfc3339());
    status.capabilities = capabilities.map(str::to_string).or(before.capabilities.clone());
    status.observed_generation = meta.generation;
    if !statuses_equal(&before, &status) {
        let (reference, result) = match &store {
            AnyStore::Namespaced(s) => {
                let api = Api::<SecretStore>::namespaced(ctx.client.clone(), &namespace);
                (s.object_ref(&()), patch_status(&api, &name, &status).await)
            }
            AnyStore::Cluster(s) => {
                let api = Api::<ClusterSecretStore>::all(ctx.client.clone());
                (s.object_ref(&()), patch_status(&api, &name, &status).await)
            }
        };
        if let Err(e) = result {
            tracing::warn!(store = %name, namespace = %namespace, error = %e, "could not write store status");
            return Action::requeue(Duration::from_secs(5));
        }
        if !conditions_equal(&before, &status) {
            let warning = !ready || condition.reason.as_deref() == Some(VALIDATION_UNKNOWN);
            let event = Event {
                type_: if warning { EventType::Warning } else { EventType::Normal },
                reason: condition.reason.clone().unwrap_or_default(),
                note: condition.message.clone(),
                action: "Validate".into(),
                secondary: None,
            };
            ctx.publish(&event, &reference);
        }
    }
    Action::requeue(interval)
}

/// ESO's reason for a store whose validity cannot be decided without an ExternalSecret.
const VALIDATION_UNKNOWN: &str = "ValidationUnknown";

/// The Ready condition of a store (ESO's reasons) and its capabilities. A ClusterSecretStore
/// with referent authentication is not built here: its credentials exist only in the
/// namespaces of the ExternalSecrets that use it, so it is Ready with `ValidationUnknown`.
async fn verdict(ctx: &Context, store: &AnyStore) -> (Condition, Option<&'static str>) {
    if let Err(e) = ctx.clients.admit(store) {
        return (Condition::ready(false, "InvalidProviderConfig", format!("unable to create client: {e}")), None);
    }
    let referent = crate::fetch::referent_refs(store);
    if !referent.is_empty() {
        let message = format!(
            "could not determine validation status: {} name no namespace, so each ExternalSecret's namespace supplies them \
             (referent authentication) and its syncs check them",
            referent.join(", ")
        );
        return (Condition::ready(true, VALIDATION_UNKNOWN, message), Some("ReadOnly"));
    }
    let client = match ctx.clients.get(store, None).await {
        Ok(client) => client,
        Err(e) => return (Condition::ready(false, "InvalidProviderConfig", format!("unable to create client: {e}")), None),
    };
    let provider = client.batcher.provider();
    if let Some(why) = provider.undecidable_validation() {
        let message = format!("could not determine validation status: {why}");
        return (Condition::ready(true, VALIDATION_UNKNOWN, message), Some(provider.capabilities().as_str()));
    }
    match provider.validate().await {
        Ok(()) => (Condition::ready(true, "Valid", "store validated"), Some(provider.capabilities().as_str())),
        Err(e) => {
            if matches!(e, sesame_provider_core::ProviderError::Auth(_)) {
                // Refused credentials: the next validation (a rotated Secret triggers one) reads them again.
                let id = crate::fetch::StoreIdentity::of(store);
                ctx.clients.evict_used_by(id.kind, id.namespace.as_deref(), &id.name, "").await;
            }
            (Condition::ready(false, "InvalidProviderConfig", format!("unable to validate store: {e}")), None)
        }
    }
}

fn statuses_equal(a: &SecretStoreStatus, b: &SecretStoreStatus) -> bool {
    a.observed_generation == b.observed_generation && conditions_equal(a, b)
}

fn conditions_equal(a: &SecretStoreStatus, b: &SecretStoreStatus) -> bool {
    a.capabilities == b.capabilities
        && a.conditions.len() == b.conditions.len()
        && a.conditions.iter().zip(&b.conditions).all(|(x, y)| x.same_as(y))
}

async fn patch_status<K>(api: &Api<K>, name: &str, status: &SecretStoreStatus) -> Result<(), kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
}

pub async fn reconcile_store(store: Arc<SecretStore>, ctx: Arc<Context>) -> Result<Action, Error> {
    Ok(validate(&ctx, AnyStore::Namespaced(store)).await)
}

pub async fn reconcile_cluster_store(store: Arc<ClusterSecretStore>, ctx: Arc<Context>) -> Result<Action, Error> {
    Ok(validate(&ctx, AnyStore::Cluster(store)).await)
}

pub fn store_error_policy<K>(_: Arc<K>, _: &Error, _: Arc<Context>) -> Action {
    Action::requeue(Duration::from_secs(10))
}

/// How long ExternalSecrets wait quietly for a store that has no verdict yet (just created, or
/// not yet validated since this process started) before they report it as not ready.
const FIRST_VERDICT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether the store an ExternalSecret names exists but was never validated, and is young enough
/// (or this process is) that its first verdict is on its way: the ExternalSecret waits without a
/// condition change or an Event instead of flashing "store is not ready" (Argo CD: Degraded).
pub fn first_verdict_pending(ctx: &Context, es: &ExternalSecret) -> bool {
    let namespace = es.namespace().unwrap_or_default();
    es.store_refs().into_iter().any(|(name, kind)| lookup(ctx, &namespace, &name, kind).is_some_and(|store| verdict_pending(&store)))
}

/// Whether `store`'s verdict for its current generation is on its way (bounded): the users of
/// the store (ExternalSecrets, PushSecrets) wait quietly instead of reporting it not ready.
pub fn verdict_pending(store: &AnyStore) -> bool {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let started = *STARTED.get_or_init(std::time::Instant::now);
    let verdict = store.status().filter(|s| s.conditions.iter().any(|c| c.type_ == "Ready"));
    if let Some(observed) = verdict.and_then(|s| s.observed_generation).filter(|g| Some(*g) != store.meta().generation) {
        // An edited store: its new generation's verdict is on its way (every change is validated at once).
        return stale_since(store, observed).elapsed() < FIRST_VERDICT_WAIT;
    }
    if verdict.is_some() {
        return false;
    }
    let created = store.meta().creation_timestamp.as_ref().map(|t| t.0.as_second());
    let young = created.is_some_and(|t| chrono::Utc::now().timestamp() - t < FIRST_VERDICT_WAIT.as_secs() as i64);
    young || started.elapsed() < FIRST_VERDICT_WAIT
}

/// When this process first saw `store`'s current generation with a verdict of generation `observed`.
fn stale_since(store: &AnyStore, observed: i64) -> std::time::Instant {
    static SEEN: std::sync::Mutex<Vec<(String, std::time::Instant)>> = std::sync::Mutex::new(Vec::new());
    let key = format!("{}/{}/{observed}", store.meta().uid.as_deref().unwrap_or_default(), store.meta().generation.unwrap_or(0));
    let mut seen = SEEN.lock().expect("stale store memory");
    seen.retain(|(_, at)| at.elapsed() < 10 * FIRST_VERDICT_WAIT);
    match seen.iter().find(|(k, _)| *k == key) {
        Some((_, at)) => *at,
        None => {
            let now = std::time::Instant::now();
            seen.push((key, now));
            now
        }
    }
}
