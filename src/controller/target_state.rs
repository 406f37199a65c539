//! What the target Secret looks like from here, before a sync decides anything: whether it is
//! still as this process left it (from the managed-Secret cache, or one GET), and the Secret a
//! renamed target left behind.
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use super::target_meta::MetaView;
use super::{Context, Error, TargetMeta, target};
use crate::api::{CREATED_BY_LABEL, CreationPolicy, ExternalSecret};
use crate::pipeline;

/// The cached metadata of the target when its resourceVersion is the one this process last
/// wrote or verified: the Secret is then exactly as we left it.
pub(super) fn verified_target(ctx: &Context, es: &ExternalSecret) -> Option<Arc<TargetMeta>> {
    let namespace = es.namespace().unwrap_or_default();
    let name = es.target_name();
    let meta = ctx.secrets.get(&namespace, &name)?;
    as_left(&meta, ctx.known_version(&namespace, &name).as_deref()).then_some(meta)
}

/// Whether the cached record shows `known`, the resourceVersion this process last wrote or
/// verified.
fn as_left(meta: &TargetMeta, known: Option<&str>) -> bool {
    meta.resource_version.is_some() && meta.resource_version.as_deref() == known
}

/// What the cache alone says about the target, before any read.
#[derive(Debug, PartialEq, Eq)]
enum CacheSays {
    /// As this process left it: nothing to read.
    Intact,
    /// Not as we left it, or not listed yet: one GET of the Secret decides.
    AskApiserver,
    /// Not managed (or absent) and nothing of ours to look for: intact only as the answer says.
    Absent(bool),
}

/// `cached`: `None` when the managed-Secret cache does not list the target, else whether its
/// record shows the resourceVersion we last wrote or verified; `written`: whether we remember such
/// a version at all; `reported_missing`: whether the status already says SecretMissing.
fn cache_says(policy: CreationPolicy, cached: Option<bool>, written: bool, reported_missing: bool) -> CacheSays {
    match cached {
        Some(true) => CacheSays::Intact,
        Some(false) => CacheSays::AskApiserver,
        // Written by this process and not in the cache yet: its watch lags behind our write (a
        // store's status write re-queues every object right after a first sync). The apiserver
        // answers that, not a provider read.
        None if policy != CreationPolicy::Merge && written => CacheSays::AskApiserver,
        // Not labelled as managed (or absent). Merge targets that are absent are reported, not repaired.
        None => CacheSays::Absent(policy == CreationPolicy::Merge && reported_missing),
    }
}

/// Whether the target Secret still holds what this ExternalSecret last wrote. Reads the Secret
/// only when its resourceVersion differs from the one we wrote or checked last.
pub(super) async fn target_intact(ctx: &Context, es: &ExternalSecret) -> Result<bool, Error> {
    let policy = es.spec.target.creation_policy;
    if policy == CreationPolicy::None {
        return Ok(true);
    }
    let namespace = es.namespace().unwrap_or_default();
    let name = es.target_name();
    let known = ctx.known_version(&namespace, &name);
    let cached = ctx.secrets.get(&namespace, &name).map(|meta| as_left(&meta, known.as_deref()));
    let written = known.is_some();
    let reported_missing = es.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.reason.as_deref() == Some("SecretMissing")));
    match cache_says(policy, cached, written, reported_missing) {
        CacheSays::Intact => return Ok(true),
        CacheSays::Absent(intact) => return Ok(intact),
        CacheSays::AskApiserver => {}
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(secret) = api.get_opt(&name).await? else { return Ok(false) };
    let intact = target::is_intact(&secret);
    if intact {
        ctx.remember_version(&namespace, &name, secret.resource_version());
    }
    Ok(intact)
}

/// ESO's cleanup after a target rename: the Secret this Owner ExternalSecret created under its
/// previous name (the one `status.binding` still names, if the managed-Secret cache shows it with
/// this ExternalSecret's created-by label) is deleted. A lookup by name, not a scan of every
/// Secret per sync as ESO's label list does, so it stays O(1) at any scale.
pub(super) async fn delete_renamed_targets(ctx: &Context, es: &ExternalSecret) -> Result<(), Error> {
    let namespace = es.namespace().unwrap_or_default();
    let Some(previous) = es.status.as_ref().and_then(|s| s.binding.as_ref()).map(|b| b.name.clone()) else { return Ok(()) };
    if previous.is_empty() || previous == es.target_name() {
        return Ok(());
    }
    let Some(old) = ctx.secrets.get(&namespace, &previous) else { return Ok(()) };
    if old.label_is(CREATED_BY_LABEL, &pipeline::created_by(&namespace, &es.name_any())) != Some(true) {
        return Ok(());
    }
    // Only the object we saw: a Secret re-created under that name since is not ours to delete.
    let params = DeleteParams {
        preconditions: Some(Preconditions { uid: old.uid.as_deref().map(str::to_string), resource_version: None }),
        ..Default::default()
    };
    match Api::<Secret>::namespaced(ctx.client.clone(), &namespace).delete(&previous, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    ctx.forget_version(&namespace, &previous);
    let note = Some("secret deleted because it was orphaned".to_string());
    let event = Event { type_: EventType::Normal, reason: "Deleted".into(), note, action: "Sync".into(), secondary: None };
    ctx.publish(&event, &es.object_ref(&()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CacheSays, cache_says};
    use crate::api::CreationPolicy::{Merge, Orphan, Owner};

    #[test]
    fn a_target_cached_as_we_left_it_is_not_read() {
        assert_eq!(cache_says(Owner, Some(true), true, false), CacheSays::Intact);
    }

    #[test]
    fn a_target_changed_since_our_write_is_read_from_the_apiserver() {
        assert_eq!(cache_says(Owner, Some(false), true, false), CacheSays::AskApiserver);
        assert_eq!(cache_says(Merge, Some(false), true, false), CacheSays::AskApiserver);
    }

    #[test]
    fn a_target_we_wrote_that_the_cache_does_not_list_yet_is_read_from_the_apiserver_not_resynced() {
        // The managed-Secret watch has not delivered our own create: a GET answers, where
        // "absent" would sync again and read the provider a second time.
        for policy in [Owner, Orphan] {
            assert_eq!(cache_says(policy, None, true, false), CacheSays::AskApiserver, "{policy:?}");
        }
    }

    #[test]
    fn a_target_never_written_here_and_not_cached_is_absent() {
        assert_eq!(cache_says(Owner, None, false, false), CacheSays::Absent(false));
        // A Merge target that is missing was reported, not created: nothing more to do until it appears.
        assert_eq!(cache_says(Merge, None, true, true), CacheSays::Absent(true));
        assert_eq!(cache_says(Merge, None, true, false), CacheSays::Absent(false));
    }
}
