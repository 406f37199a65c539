//! The ExternalSecret cache's record: each object packed, unpacked for the pass that reads it.
//!
//! kube's reflector keeps every object whole: at N = 10,000 the decoded ExternalSecret was
//! ≈ 1.9 kB of each object's ≈ 3.4 kB (BENCHMARKS.md, *Memory, fourth cut*) — a 700-byte struct
//! of mostly empty options, a heap string per field, its status. Reconciles read one object at a
//! time, so the cache keeps the object's identity inline and the rest as JSON compressed
//! against a dictionary of what ExternalSecrets have in common (field names, defaults, the Ready
//! condition): a few hundred bytes. Unpacking is a decompression and a JSON decode, once per pass.
use std::sync::{Arc, LazyLock};

use kube::runtime::watcher;

use super::es_cache::EsRef;
use super::wave::RefreshRecorded;
use crate::api::ExternalSecret;

/// An ExternalSecret as the cache keeps it: its name and namespace (the namespace's text shared
/// by the cache with every object of it), a few flags decisions read without unpacking, and the
/// rest of the object packed. No `ObjectMeta`: kube's reflector needs one inline per record (360
/// bytes of mostly empty options), Sesame's own cache (`es_cache.rs`) does not.
#[derive(Clone, Debug)]
pub struct PackedExternalSecret {
    name: Box<str>,
    namespace: Arc<str>,
    /// lz4 (size-prefixed, against [`DICTIONARY`]) of the object's JSON without name and
    /// namespace.
    packed: Box<[u8]>,
    /// The hash of what deserves a sync (run.rs: spec generation, labels, annotations, uid).
    pub sync_relevant: u64,
    /// Its status records a refresh: not on its first sync (wave.rs walks by this).
    pub refreshed: bool,
    /// What the mappers ask before unpacking (free: they fill the struct's padding). A tenant who
    /// churns a ConfigMap, generator or unowned Secret of its namespace makes Sesame unpack only
    /// the objects that could name it, not every object of the namespace.
    pub uses: Uses,
}

/// Which kinds of other objects an ExternalSecret reads or writes by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uses {
    /// `target.template.templateFrom[].configMap`.
    pub template_config_maps: bool,
    /// `dataFrom[].sourceRef.generatorRef`.
    pub generators: bool,
    /// `target.manifest` (a generic target).
    pub manifest: bool,
    /// A target named otherwise than the object itself.
    pub renamed_target: bool,
}

impl Uses {
    fn of(es: &ExternalSecret) -> Self {
        let target = &es.spec.target;
        Uses {
            template_config_maps: target.template.iter().flat_map(|t| &t.template_from).any(|f| f.config_map.is_some()),
            generators: !es.spec.generator_refs().is_empty(),
            manifest: target.manifest.is_some(),
            renamed_target: es.target_name().as_str() != es.metadata.name.as_deref().unwrap_or_default(),
        }
    }
}

impl PackedExternalSecret {
    /// Packs `es`, whose sync-relevant fields hash to `sync_relevant`.
    pub fn pack(mut es: ExternalSecret, sync_relevant: u64) -> Self {
        let uses = Uses::of(&es);
        let name = es.metadata.name.take().unwrap_or_default().into();
        let namespace = es.metadata.namespace.take().unwrap_or_default().into();
        // Serializing these types cannot fail (string keys only); if it did, the record would
        // unpack to nothing and its reconcile say so, rather than the watch panic.
        let json = serde_json::to_vec(&es).unwrap_or_default();
        let packed = lz4_flex::block::compress_prepend_size_with_dict(&json, &DICTIONARY).into_boxed_slice();
        let refreshed = es.refresh_recorded();
        PackedExternalSecret { name, namespace, packed, sync_relevant, refreshed, uses }
    }

    /// The object as the watch delivered it (after trimming). `None` only if the record is
    /// corrupt — a bug: what was packed was an ExternalSecret this build serialized.
    pub fn unpack(&self) -> Option<ExternalSecret> {
        let json = lz4_flex::block::decompress_size_prepended_with_dict(&self.packed, &DICTIONARY).ok()?;
        let mut es: ExternalSecret = serde_json::from_slice(&json).ok()?;
        (es.metadata.name, es.metadata.namespace) = (Some(self.name.to_string()), Some(self.namespace.to_string()));
        Some(es)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Its namespace's text as the cache shares it.
    pub(super) fn namespace_arc(&self) -> &Arc<str> {
        &self.namespace
    }

    /// Shares `namespace` (the same text) instead of this record's own copy.
    pub(super) fn share_namespace(&mut self, namespace: Arc<str>) {
        debug_assert_eq!(*namespace, *self.namespace);
        self.namespace = namespace;
    }

    /// The reference the runner reconciles it by.
    pub fn reference(&self) -> EsRef {
        EsRef { namespace: self.namespace.clone(), name: self.name.clone() }
    }

    /// Bytes held beyond the struct (benchmarks, tests).
    pub fn packed_len(&self) -> usize {
        self.packed.len()
    }
}

impl super::memory::Named for PackedExternalSecret {
    fn namespace_and_name(&self) -> (String, String) {
        (self.namespace.to_string(), self.name.to_string())
    }
}

/// The reference the runner reconciles `es` by.
pub fn reference(es: &ExternalSecret) -> EsRef {
    EsRef {
        namespace: es.metadata.namespace.as_deref().unwrap_or_default().into(),
        name: es.metadata.name.as_deref().unwrap_or_default().into(),
    }
}

/// The watcher event of `es`'s packed record (`relevance` hashes what deserves a sync).
pub fn pack_event(
    event: watcher::Event<ExternalSecret>,
    relevance: impl Fn(&ExternalSecret) -> u64,
) -> watcher::Event<PackedExternalSecret> {
    let pack = |es: ExternalSecret| {
        let relevant = relevance(&es);
        PackedExternalSecret::pack(es, relevant)
    };
    match event {
        watcher::Event::Apply(es) => watcher::Event::Apply(pack(es)),
        watcher::Event::Delete(es) => watcher::Event::Delete(pack(es)),
        watcher::Event::InitApply(es) => watcher::Event::InitApply(pack(es)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// What the cache's records have in common, as this build serializes it: lz4 copies matches from
/// it instead of storing them. Built once from typical objects (a change here changes only the
/// compression ratio: records are never kept across processes).
static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut dictionary = Vec::new();
    for object in typical() {
        match serde_json::from_value::<ExternalSecret>(object) {
            Ok(es) => dictionary.extend(serde_json::to_vec(&es).unwrap_or_default()),
            // A sample this build cannot read only compresses worse: never a failure.
            Err(e) => tracing::debug!(error = %e, "ExternalSecret cache dictionary: sample skipped"),
        }
    }
    dictionary
});

/// The dictionary's samples.
fn typical() -> [serde_json::Value; 2] {
    [
        serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "app:external-secrets.io/ExternalSecret:ns/name"},
                "labels": {"app.kubernetes.io/instance": "app", "app.kubernetes.io/name": "app"},
                "creationTimestamp": "2026-01-01T00:00:00Z", "finalizers": []},
            "spec": {
                "refreshInterval": "1h0m0s", "refreshPolicy": "Periodic",
                "secretStoreRef": {"name": "secret-store", "kind": "SecretStore"},
                "target": {"name": "secret", "creationPolicy": "Owner", "deletionPolicy": "Retain",
                    "template": {"engineVersion": "v2", "mergePolicy": "Replace", "type": "Opaque",
                        "metadata": {"annotations": {}, "labels": {}}, "data": {"key": "{{ .key }}"}}},
                "data": [{"secretKey": "password", "remoteRef": {"key": "path/to/secret", "property": "password",
                    "conversionStrategy": "Default", "decodingStrategy": "None", "metadataPolicy": "None"}}],
                "dataFrom": [{"extract": {"key": "path/to/secret", "conversionStrategy": "Default",
                    "decodingStrategy": "None", "metadataPolicy": "None"}}],
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced",
                    "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                "refreshTime": "2026-01-01T00:00:00Z", "syncedResourceVersion": "1-0123456789abcdef0123456789abcdef",
                "binding": {"name": "secret"},
            },
        }),
        serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {},
            "spec": {"secretStoreRef": {"name": "cluster-store", "kind": "ClusterSecretStore"}, "target": {"name": "secret"},
                "data": [{"secretKey": "token", "remoteRef": {"key": "key", "version": "latest"}}]},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretSyncedError",
                "message": "could not get secret data from provider", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
        }),
    ]
}

#[cfg(test)]
#[path = "packed_tests.rs"]
mod tests;
