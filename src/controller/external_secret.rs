//! Reconcile one ExternalSecret: decide whether it is due, fetch, write the Secret, report.
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use super::due::{Due, Schedule, due};
use super::generic::Written;
use super::sources::Routed;
use super::state_ledger::{Ledger, Owner};
use super::target_state::{delete_renamed_targets, target_intact, verified_target};
use super::versions::{current_sources, current_version, target_sources_differ};
use super::wakeups::Next;
use super::{Context, Error, PackedExternalSecret, Synced, TargetMeta, store, target};
use crate::api::{
    Condition, CreationPolicy, DeletionPolicy, ExternalSecret, ExternalSecretStatus, ExternalSecretTemplate, RefreshPolicy,
    SOURCES_ANNOTATION, SecretBinding, set_condition,
};
use crate::fetch::ReadAs;
use crate::pipeline::{self, LoadedTemplates, Shaped};

/// What a successful pass did, for the Ready condition and the Event.
enum Outcome {
    Synced { created: bool, changed: bool },
    Retained,
    Deleted,
    Missing,
    Skipped,
}

/// The runner's entry point (`runner.rs`): what the pass wants next goes to the compact wake-ups
/// (`wakeups.rs`).
pub async fn reconcile(packed: Arc<PackedExternalSecret>, ctx: Arc<Context>) -> Result<(), Error> {
    let (namespace, name) = (packed.namespace(), packed.name());
    // Every pass consumes the object's wake-up, as a run consumes kube's scheduled entry: a
    // requeue set before a watch event ran the object must not run it once more afterwards.
    ctx.wakeups.set(namespace, name, Next::await_change());
    let Some(es) = packed.unpack() else {
        // A bug, not the object's fault: its next change packs it afresh.
        tracing::error!(externalsecret = %name, namespace = %namespace, "cached object does not unpack");
        return Ok(());
    };
    let es = Arc::new(es);
    let next = reconcile_pass(es, &ctx).await?;
    ctx.wakeups.set(namespace, name, next);
    Ok(())
}

/// When a failed pass runs again.
pub fn error_policy(packed: &PackedExternalSecret, error: &Error, ctx: &Context) {
    let next = match packed.unpack() {
        Some(es) => after_error(&es, error, ctx),
        // The next change of the object packs it afresh.
        None => Next::await_change(),
    };
    ctx.wakeups.set(packed.namespace(), packed.name(), next);
}

async fn reconcile_pass(es: Arc<ExternalSecret>, ctx: &Arc<Context>) -> Result<Next, Error> {
    let started = Instant::now();
    let name = es.name_any();
    let namespace = es.namespace().unwrap_or_default();
    if es.meta().deletion_timestamp.is_some() {
        return Ok(Next::await_change());
    }
    // Decisions read the Secret cache: never decide on a cache still listing. (The store caches
    // are ready before this controller starts.)
    if !ctx.caches_ready.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(Next::requeue(Duration::from_millis(500)));
    }
    // Its generator kinds' lists must be in before their identities and classes are judged (a
    // kind is watched from the first object naming it, as the watch delivers it: run.rs).
    let generator_refs = es.spec.generator_refs();
    if !ctx.generators.listed_all(generator_refs.iter().map(|r| r.kind.as_str())) {
        return Ok(Next::requeue(Duration::from_millis(200)));
    }
    // A generator of another controller class makes the object that controller's, as in ESO (a
    // store of another class does too: `store::resolve`). Its watch re-queues users on an edit.
    if generator_refs.iter().any(|r| ctx.generators.class(&namespace, r).is_some_and(|c| !ctx.config.handles_class(Some(&c)))) {
        ctx.memory.take_asked(&*es);
        return Ok(Next::await_change());
    }
    // Over its namespace's share of the workers: no work now, back in a moment (fairness.rs).
    let Some(_turn) = ctx.namespace_share.try_enter(&namespace) else {
        return Ok(Next::requeue(super::fairness::NamespaceShare::retry_after(&name)));
    };
    // A change the watch delivered asks for values read after it (fetch/recent.rs); a requeue or
    // a retry, for values read after this reconcile began.
    let asked = ctx.memory.take_asked(&*es).unwrap_or(started);
    let result = sync(&es, ctx, asked).await;
    ctx.metrics.reconciled(&name, &namespace, started.elapsed());
    match result {
        Ok(action) => {
            ctx.memory.succeeded(&*es);
            Ok(action)
        }
        Err(e) => {
            ctx.metrics.sync_failed(&name, &namespace);
            ctx.metrics.es_status(&name, &namespace, false, None);
            ctx.remember_ready(&*es, false);
            tracing::warn!(externalsecret = %name, namespace = %namespace, reason = e.reason(), error = %e, "sync failed");
            // ESO: a generic target's failures are ResourceSyncedError, except its configuration.
            let generic = es.spec.target.manifest.is_some() && !matches!(e, Error::InvalidSpec(_));
            let reason = if generic { "ResourceSyncedError" } else { "SecretSyncedError" };
            let condition = Condition::ready(false, reason, e.condition_message());
            write_status(ctx, &es, condition, None).await;
            ctx.publish(
                &Event {
                    type_: EventType::Warning,
                    reason: "UpdateFailed".into(),
                    note: Some(e.to_string()),
                    action: "Sync".into(),
                    secondary: None,
                },
                &es.object_ref(&()),
            );
            if e.is_auth() {
                // Only the client this namespace used: with referent authentication, other
                // namespaces' clients hold other credentials and are not at fault.
                // (Every store it reads from: the error does not say which refused.)
                for (store_name, kind) in es.store_refs() {
                    let ns = matches!(kind, crate::api::StoreKind::SecretStore).then_some(namespace.as_str());
                    ctx.clients.evict_used_by(kind, ns, &store_name, &namespace).await;
                }
            }
            Err(e)
        }
    }
}

async fn sync(es: &ExternalSecret, ctx: &Context, asked: Instant) -> Result<Next, Error> {
    let now = Utc::now();
    let namespace = es.namespace().unwrap_or_default();
    pipeline::validate_spec(&es.spec).map_err(Error::InvalidSpec)?;
    pipeline::refuse_privileged_template(es.spec.target.template.as_deref()).map_err(Error::InvalidSpec)?;
    // A generic target (ConfigMap, custom resource) instead of a Secret: checked and watched.
    let generic = match es.spec.target.manifest {
        Some(_) => Some(super::generic::resolve(ctx, es).await?),
        None => None,
    };
    let requested = match &es.spec.refresh_interval {
        Some(d) => d.parse().map_err(|e| Error::InvalidSpec(format!("refreshInterval: {e}")))?,
        None => ctx.config.default_refresh_interval,
    };
    let interval = super::due::effective_interval(requested, ctx.config.min_refresh_interval);
    if interval != requested && ctx.memory.first_raised_interval(es) {
        let note = format!(
            "refreshInterval {requested:?} is below the controller's minimum (--min-refresh-interval): refreshing every {interval:?}"
        );
        let event = Event {
            type_: EventType::Warning,
            reason: "RefreshIntervalRaised".into(),
            note: Some(note),
            action: "Sync".into(),
            secondary: None,
        };
        ctx.publish(&event, &es.object_ref(&()));
    }
    let mut status = es.status.clone().unwrap_or_default();
    // Our own last status write may not have reached the cache yet: what we wrote wins.
    let remembered = ctx.last_sync(es);
    if let Some(last) = &remembered
        && last.supersedes(status.refresh_time.as_deref())
    {
        status.refresh_time = Some(last.at.clone());
        status.synced_resource_version = Some(last.version.clone());
    }
    let version = current_version(ctx, es);
    let sources = current_sources(ctx, es);
    let windows = es.spec.sync_windows.as_ref().map(super::sync_window::Windows::parse).transpose().map_err(Error::InvalidSpec)?;
    let slot = super::slot::slot_of(es, &ctx.groups.counts(ctx));
    let schedule = Schedule {
        policy: es.spec.refresh_policy.unwrap_or(RefreshPolicy::Periodic),
        interval,
        last_refresh: status.refresh_time.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc)),
        synced_version: status.synced_resource_version.as_deref(),
        current_version: &version,
        identity: &slot.identity,
        windows: windows.as_ref(),
    };
    // OnChange and CreatedOnce objects follow only their own changes (ESO compares exactly that).
    let sources_changed = schedule.policy == RefreshPolicy::Periodic
        && match &remembered {
            Some(last) => last.sources != sources,
            None => target_sources_differ(ctx, es, &sources).unwrap_or(false),
        };
    let when = if sources_changed { Due::Now } else { due(&schedule, now) };
    let next = |when: Due| next_action(&schedule, when);
    let intact = || async {
        match &generic {
            Some(target) => target.intact(es).await,
            None => target_intact(ctx, es).await,
        }
    };
    if when != Due::Now && intact().await? {
        // What this process last concluded wins over a cache that may not show our write yet.
        let ready = ctx.last_ready(es).unwrap_or_else(|| status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        ctx.metrics.es_status(&es.name_any(), &namespace, ready, schedule.last_refresh.map(|t| t.timestamp() as f64));
        // With the span's trigger (object.reason): what wakes an object that has nothing to do.
        tracing::debug!(?when, "not due");
        return Ok(next(when));
    }

    if store::first_verdict_pending(ctx, es) {
        return Ok(Next::requeue(Duration::from_secs(1)));
    }
    let Some(stores) = store::resolve(ctx, es).await? else {
        return Ok(Next::await_change());
    };
    let mut clients = Vec::with_capacity(stores.len());
    for (key, store) in &stores {
        clients.push((key.clone(), ctx.clients.get(store, Some(&namespace)).await.map_err(Error::ProviderClient)?));
    }
    // The first never-synced object to get here reads its store's whole wave ahead (wave.rs).
    let first_sync = super::wave::first_sync_pending(ctx, es);
    if first_sync {
        super::wave::plan(ctx, &stores, &clients).await;
    }
    let _reading = first_sync.then(|| ctx.waiting.reading(es));
    // A refresh that is merely due waits behind objects someone is waiting for.
    let routine =
        when == Due::Now && schedule.last_refresh.is_some() && status.synced_resource_version.as_deref() == Some(version.as_str());
    let read = if routine { ReadAs::routine() } else { ReadAs::asked_at(asked) };
    // A refresh of a batching store's group takes its share of what the group's plan read.
    let read = if routine && super::refresh_plan::plan(ctx, &slot, interval, &stores, &clients).await { read.planned() } else { read };
    // A routine refresh of a target still as we last wrote it reads nothing from the apiserver,
    // and writes nothing when the provider's data is unchanged. Any other sync of a listed target,
    // and every retry after a failure, reads the target before asking the provider: while the
    // apiserver is unreachable it fails there, so retries cost no provider call (no storm when it
    // comes back).
    let creates = generic.is_none() && es.spec.target.creation_policy != CreationPolicy::None;
    // A Merge target's hash covers other writers' keys too: it is always read.
    let exclusive = generic.is_none() && matches!(es.spec.target.creation_policy, CreationPolicy::Owner | CreationPolicy::Orphan);
    let quiet = (exclusive && routine && !ctx.memory.failing(es)).then(|| verified_target(ctx, es)).flatten();
    // A target the managed-Secret cache does not list is most likely new: a create-only apply
    // writes it without a GET first, and changes nothing if a Secret exists after all (an
    // unmanaged one is never listed): that one is read and checked (target::create).
    let unlisted = || ctx.secrets.get(&namespace, &es.target_name()).is_none();
    let create_only = es.spec.target.creation_policy != CreationPolicy::Merge && !ctx.memory.failing(es) && unlisted();
    let existing = match (creates && quiet.is_none(), create_only) {
        (true, true) => Existing::Unread,
        (true, false) => Existing::Read(Api::<Secret>::namespaced(ctx.client.clone(), &namespace).get_opt(&es.target_name()).await?),
        (false, _) => Existing::Read(None),
    };
    // Generated remote state is recorded before its values are used, and settled once we know
    // whether they reached the target (state_ledger.rs).
    let ledger = Ledger::new(ctx, Owner::of(es));
    tracing::debug!(first_sync, routine, planned = read.planned, sources_changed, "syncing");
    let written = fetch_and_write(ctx, es, &clients, read, &ledger, quiet, existing, routine, &sources, generic.as_ref()).await;
    ledger.settle(matches!(written, Ok(Outcome::Synced { .. }))).await;
    let outcome = written?;
    let described = generic.as_ref().map(|target| target.describe());
    finish(ctx, es, outcome, described, now, version.clone(), sources, &schedule).await
}

/// The target Secret as read before the provider is asked, or not read: no managed Secret of
/// its name is listed, so it is created by a create-only apply, and read only if one exists.
#[allow(clippy::large_enum_variant)] // one per sync, moved once: a Box would buy nothing
enum Existing {
    Read(Option<Secret>),
    Unread,
}

/// Report a successful pass: the Ready condition (ESO's `Resource…` reasons for a generic
/// target, named by `generic`), the Event, the status and what to do next.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &Context,
    es: &ExternalSecret,
    outcome: Outcome,
    generic: Option<String>,
    now: DateTime<Utc>,
    version: String,
    sources: String,
    schedule: &Schedule<'_>,
) -> Result<Next, Error> {
    let namespace = es.namespace().unwrap_or_default();
    let kind = if generic.is_some() { "Resource" } else { "Secret" };
    let condition = match &outcome {
        Outcome::Synced { .. } | Outcome::Skipped => Condition::ready(true, &format!("{kind}Synced"), "secret synced"),
        Outcome::Retained => Condition::ready(true, &format!("{kind}Synced"), "secret retained due to DeletionPolicy=Retain"),
        Outcome::Deleted => Condition::ready(true, &format!("{kind}Deleted"), "secret deleted due to DeletionPolicy=Delete"),
        Outcome::Missing => Condition::ready(
            true,
            &format!("{kind}Missing"),
            format!("{} will not be created due to CreationPolicy=Merge", kind.to_lowercase()),
        ),
    };
    if let Outcome::Synced { created, changed: true } = outcome {
        let (reason, note) = match (&generic, created) {
            (Some(what), true) => ("Created", format!("Created {what}")),
            (Some(what), false) => ("Updated", format!("Updated {what}")),
            (None, true) => ("Created", "secret created".to_string()),
            (None, false) => ("Updated", "secret updated".to_string()),
        };
        ctx.publish(
            &Event { type_: EventType::Normal, reason: reason.into(), note: Some(note), action: "Sync".into(), secondary: None },
            &es.object_ref(&()),
        );
        // Consumers of a changed Secret restart (beyond ESO); a new Secret has no running consumer.
        if !created && generic.is_none() {
            super::rollout::restart_consumers(ctx, es).await;
        }
    }
    ctx.metrics.es_status(&es.name_any(), &namespace, true, Some(now.timestamp() as f64));
    ctx.remember_ready(es, true);
    // ESO binds the target Secret only when it created or updated it.
    let bound = generic.is_none() && matches!(outcome, Outcome::Synced { .. });
    write_status(ctx, es, condition, Some((now, version.clone(), bound))).await;
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    ctx.remember_sync(es, Synced { at, version: version.clone(), sources });
    let after = Schedule { last_refresh: Some(now), synced_version: Some(&version), ..schedule.clone() };
    Ok(next_action(schedule, due(&after, Utc::now())))
}

/// When to look at the object again.
fn next_action(schedule: &Schedule<'_>, when: Due) -> Next {
    match when {
        Due::At(at) => Next::requeue((at - Utc::now()).to_std().unwrap_or(Duration::from_secs(1))),
        _ if schedule.policy == RefreshPolicy::Periodic && !schedule.interval.is_zero() => Next::requeue(schedule.interval),
        _ => Next::await_change(),
    }
}

/// Fetch (generators included), shape, and write the target: what a sync does once it is due.
#[allow(clippy::too_many_arguments)]
async fn fetch_and_write(
    ctx: &Context,
    es: &ExternalSecret,
    clients: &[(crate::api::StoreKey, Arc<crate::fetch::StoreClient>)],
    read: ReadAs,
    ledger: &Ledger<'_>,
    quiet: Option<Arc<TargetMeta>>,
    existing: Existing,
    routine: bool,
    sources: &str,
    generic: Option<&super::generic::Target>,
) -> Result<Outcome, Error> {
    let read_target =
        || async { Api::<Secret>::namespaced(ctx.client.clone(), &es.namespace().unwrap_or_default()).get_opt(&es.target_name()).await };
    let fetched = pipeline::fetch_from(&es.spec, &Routed::new(ctx, es, clients, read, ledger)).await?;
    for missing in &fetched.missing {
        let note = format!("remote secret {missing} not found; skipped due to deletionPolicy");
        ctx.publish(
            &Event {
                type_: EventType::Normal,
                reason: "MissingProviderSecret".into(),
                note: Some(note),
                action: "Sync".into(),
                secondary: None,
            },
            &es.object_ref(&()),
        );
    }
    if let Some(target) = generic {
        let loaded = match &es.spec.target.template {
            Some(tpl) => load_templates(ctx, &es.namespace().unwrap_or_default(), tpl).await?,
            None => Vec::new(),
        };
        return Ok(match target.write(ctx, es, &fetched.data, &loaded).await? {
            Written::Synced { created, changed } => Outcome::Synced { created, changed },
            Written::Retained => Outcome::Retained,
            Written::Deleted => Outcome::Deleted,
            Written::Missing => Outcome::Missing,
            Written::Skipped => Outcome::Skipped,
        });
    }
    let shaped = match &es.spec.target.template {
        Some(tpl) => {
            let loaded = load_templates(ctx, &es.namespace().unwrap_or_default(), tpl).await?;
            ctx.renders.render(es, tpl, &fetched.data, &loaded).await?
        }
        None => Shaped::plain(fetched.data.clone()),
    };
    let unchanged = !fetched.data.is_empty()
        && quiet.as_ref().is_some_and(|meta| target::metadata_matches(&**meta, &target::desired_secret(es, &shaped)));
    match (unchanged, quiet.is_some()) {
        (true, _) => Ok(Outcome::Synced { created: false, changed: false }),
        (false, true) => {
            let existing = Existing::Read(read_target().await?);
            write_target(ctx, es, existing, fetched.data.is_empty(), &shaped, routine, sources).await
        }
        (false, false) => write_target(ctx, es, existing, fetched.data.is_empty(), &shaped, routine, sources).await,
    }
}

/// The templates `templateFrom` names, read from the object's own namespace only (an
/// ExternalSecret's target template, a PushSecret's template).
pub(super) async fn load_templates(ctx: &Context, namespace: &str, template: &ExternalSecretTemplate) -> Result<LoadedTemplates, Error> {
    let mut loaded = Vec::new();
    for from in &template.template_from {
        let contents = if let Some(cm) = &from.config_map {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
            let found = api.get_opt(&cm.name).await?.ok_or_else(|| Error::TemplateSource(format!("configmap {} not found", cm.name)))?;
            found.data.unwrap_or_default()
        } else if let Some(sec) = &from.secret {
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
            let found = api.get_opt(&sec.name).await?.ok_or_else(|| Error::TemplateSource(format!("secret {} not found", sec.name)))?;
            let mut out = std::collections::BTreeMap::new();
            for (k, v) in found.data.unwrap_or_default() {
                let text =
                    String::from_utf8(v.0).map_err(|_| Error::TemplateSource(format!("secret {} key {k} is not UTF-8", sec.name)))?;
                out.insert(k, text);
            }
            out
        } else {
            Default::default()
        };
        loaded.push(contents);
    }
    Ok(loaded)
}

async fn write_target(
    ctx: &Context,
    es: &ExternalSecret,
    existing: Existing,
    provider_empty: bool,
    shaped: &Shaped,
    routine: bool,
    sources: &str,
) -> Result<Outcome, Error> {
    let t = &es.spec.target;
    if t.creation_policy == CreationPolicy::None {
        return Ok(Outcome::Skipped);
    }
    let namespace = es.namespace().unwrap_or_default();
    let name = es.target_name();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    // Deleting needs to know what is there; only creating can go without reading.
    let (mut existing, unread) = match existing {
        Existing::Read(secret) => (secret, false),
        Existing::Unread if provider_empty => (api.get_opt(&name).await?, false),
        Existing::Unread => (None, true),
    };
    if provider_empty {
        match t.deletion_policy {
            DeletionPolicy::Retain => return Ok(Outcome::Retained),
            DeletionPolicy::Delete => {
                if let Some(existing) = &existing {
                    target::check_takeover(&ctx.client, es, existing).await?;
                    api.delete(&name, &DeleteParams::default()).await?;
                    ctx.forget_version(&namespace, &name);
                }
                return Ok(Outcome::Deleted);
            }
            DeletionPolicy::Merge => {}
        }
    }
    if t.creation_policy == CreationPolicy::Merge && existing.is_none() {
        return Ok(Outcome::Missing);
    }
    if t.creation_policy == CreationPolicy::Owner {
        delete_renamed_targets(ctx, es).await?;
    }
    let mut desired = target::desired_secret(es, shaped);
    desired.metadata.annotations.get_or_insert_default().insert(SOURCES_ANNOTATION.into(), sources.to_string());
    if unread {
        target::check_size(None, &desired, t.creation_policy)?;
        if let Some(created) = target::create(&api, es, &desired).await? {
            ctx.remember_version(&namespace, &name, created.resource_version());
            return Ok(Outcome::Synced { created: true, changed: true });
        }
        // A Secret of that name exists after all (not labelled as managed, or not listed yet):
        // read it, and write only if the takeover check allows.
        existing = api.get_opt(&name).await?;
    }
    if let Some(existing) = &existing {
        target::check_takeover(&ctx.client, es, existing).await?;
        target::keep_finalizers_while_deleting(&mut desired, existing);
        if target::violates_immutability(existing, &desired) {
            return Err(Error::TargetImmutable);
        }
        if t.creation_policy.merges() {
            target::hash_merged(&mut desired, existing, &target::field_manager(&es.name_any()));
        }
        // A routine refresh of a target that already holds all of it writes nothing.
        if routine && target::already_applied(existing, &desired, t.creation_policy, &target::field_manager(&es.name_any())) {
            ctx.remember_version(&namespace, &name, existing.resource_version());
            return Ok(Outcome::Synced { created: false, changed: false });
        }
    }
    target::check_size(existing.as_ref(), &desired, t.creation_policy)?;
    let before = existing.as_ref().map(|s| s.data.clone().unwrap_or_default());
    let applied = target::apply(&api, es, &desired).await?;
    ctx.remember_version(&namespace, &name, applied.resource_version());
    let changed = before.as_ref() != Some(&applied.data.clone().unwrap_or_default());
    Ok(Outcome::Synced { created: existing.is_none(), changed })
}

/// Write the status if it changed: the Ready condition and, after a sync, the refresh bookkeeping.
async fn write_status(ctx: &Context, es: &ExternalSecret, condition: Condition, synced: Option<(DateTime<Utc>, String, bool)>) {
    let old = es.status.clone().unwrap_or_default();
    let mut status: ExternalSecretStatus = old.clone();
    set_condition(&mut status.conditions, condition, &super::now_rfc3339());
    if let Some((at, version, bound)) = synced {
        status.refresh_time = Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        status.synced_resource_version = Some(version);
        if bound {
            status.binding = Some(SecretBinding { name: es.target_name() });
        }
    }
    let unchanged = old.refresh_time == status.refresh_time
        && old.synced_resource_version == status.synced_resource_version
        && old.binding == status.binding
        && old.conditions.len() == status.conditions.len()
        && old.conditions.iter().zip(&status.conditions).all(|(a, b)| a.same_as(b));
    if unchanged {
        return;
    }
    let api: Api<ExternalSecret> = Api::namespaced(ctx.client.clone(), &es.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "status": status });
    if let Err(e) = api.patch_status(&es.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::warn!(externalsecret = %es.name_any(), error = %e, "could not write status");
    }
}

fn after_error(es: &ExternalSecret, error: &Error, ctx: &Context) -> Next {
    if error.is_permanent() {
        return Next::await_change();
    }
    if error.waits_for_refresh() {
        let interval = es.spec.refresh_interval.as_ref().and_then(|d| d.parse().ok());
        return match interval.unwrap_or(ctx.config.default_refresh_interval) {
            i if i.is_zero() || es.spec.refresh_policy.is_some_and(|p| p != RefreshPolicy::Periodic) => Next::await_change(),
            i => Next::requeue(i.max(ctx.config.min_refresh_interval)),
        };
    }
    Next::requeue(super::due::backoff(ctx.memory.failed(es), ctx.config.max_backoff))
}
