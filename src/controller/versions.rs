//! What a sync compares with what it last did: the object's version in ESO's format, and a
//! fingerprint of everything else it reads (stores, generators, template ConfigMaps).
use kube::{Resource, ResourceExt};
use sha2::Digest;

use super::target_meta::MetaView;
use super::{Context, store};
use crate::api::{ExternalSecret, SOURCES_ANNOTATION};
use crate::pipeline::synced_resource_version;

/// The current `syncedResourceVersion` of the object, in ESO's format (generation and the hash
/// of every label and annotation), so a status ESO wrote reads as up to date and the other way
/// round. Recorded by the watch from the untrimmed object.
pub(super) fn current_version(ctx: &Context, es: &ExternalSecret) -> String {
    ctx.memory.eso_version(es).unwrap_or_else(|| synced_resource_version(es.meta().generation, es.labels(), &es.annotations()))
}

/// What else a sync reads besides the ExternalSecret: the store's identity and generation and the
/// template ConfigMaps' versions, as a short hash. A change since the last sync is a reason to
/// sync (new credentials, new fake data, a new template). It is kept beside ESO's formats, not in
/// them: in this process's memory and in an annotation of the target Secret, so it survives a
/// restart; a Secret ESO wrote has none, which counts as unchanged.
pub(super) fn current_sources(ctx: &Context, es: &ExternalSecret) -> String {
    let mut sources = store::fingerprint(ctx, es);
    let namespace = es.namespace().unwrap_or_default();
    // An edited generator regenerates, unless the object keeps its first values (refreshInterval
    // 0, CreatedOnce, OnChange: those never follow their sources).
    if es.periodic_interval(ctx.config.default_refresh_interval).is_some() {
        for r in es.spec.generator_refs() {
            sources.push_str(&format!(" gen/{}/{}={}", r.kind, r.name, ctx.generators.fingerprint(&namespace, r)));
        }
    }
    for from in es.spec.target.template.iter().flat_map(|t| &t.template_from) {
        if let Some(cm) = &from.config_map {
            let rv = ctx.config_maps.get(&namespace, &cm.name);
            sources.push_str(&format!(" cm/{}={}", cm.name, rv.as_deref().map(|v| &**v).unwrap_or_default()));
        }
    }
    hex::encode(&sha2::Sha256::digest(sources.as_bytes())[..8])
}

/// Whether the target Secret was last written from other sources than `sources`; `None` when
/// its annotation does not say (not written by Sesame, or not cached).
pub(super) fn target_sources_differ(ctx: &Context, es: &ExternalSecret, sources: &str) -> Option<bool> {
    let namespace = es.namespace().unwrap_or_default();
    let meta = ctx.secrets.get(&namespace, &es.target_name())?;
    meta.annotation_is(SOURCES_ANNOTATION, sources).map(|same| !same)
}
