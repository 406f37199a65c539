//! What this process remembers about each ExternalSecret between reconciles. It is a cache of
//! facts the apiserver also holds (or that only pace retries), so losing it costs at most one
//! extra read; it is forgotten when the ExternalSecret is deleted, so it does not grow with churn.
//!
//! One record per object, under its namespace's one map: the namespace is stored once, not once
//! per object and per fact (at 10,000 objects each duplicated key cost about 100 bytes).
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kube::{Resource, ResourceExt};

use crate::api::ExternalSecret;
use crate::by_namespace::ByNamespace;

/// What one successful sync used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub at: String,
    pub version: String,
    pub sources: String,
}

impl Synced {
    /// Whether this process's own last sync is at least as new as a status that records a
    /// refresh at `refresh_time` (a cached status may lag behind the write). Times are to the
    /// second, so a write in the same second counts as ours: two syncs a second apart (a
    /// force-sync right after the first sync) would otherwise read the older status and sync
    /// again.
    pub fn supersedes(&self, refresh_time: Option<&str>) -> bool {
        refresh_time.is_none_or(|t| t <= self.at.as_str())
    }
}

/// A [`Synced`] as kept: the time as seconds, the strings without spare capacity, inline (every
/// synced object has one).
struct Kept {
    at: i64,
    /// Most often the very text of the object's ESO version below: shared, not copied.
    version: Arc<str>,
    sources: Box<str>,
}

impl Kept {
    /// `None` for a time not in the RFC 3339 form `Synced::at` is written in (kept as is, the
    /// record would not read back the same).
    fn of(synced: Synced, known: Option<&Arc<str>>) -> Option<Kept> {
        let at = chrono::DateTime::parse_from_rfc3339(&synced.at).ok()?.timestamp();
        let version = known.filter(|v| ***v == *synced.version).cloned().unwrap_or_else(|| synced.version.into());
        let kept = Kept { at, version, sources: synced.sources.into() };
        (kept.at_rfc3339().as_deref() == Some(synced.at.as_str())).then_some(kept)
    }

    fn at_rfc3339(&self) -> Option<String> {
        let at = chrono::DateTime::from_timestamp(self.at, 0)?;
        Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    fn synced(&self) -> Option<Synced> {
        Some(Synced { at: self.at_rfc3339()?, version: self.version.to_string(), sources: self.sources.to_string() })
    }
}

/// Everything remembered about one ExternalSecret.
#[derive(Default)]
struct Facts {
    /// Consecutive failures, for backoff (0: the last attempt succeeded).
    failures: u32,
    /// The Ready status this process last wrote.
    ready: Option<bool>,
    /// The last successful sync by this process: `refreshTime` and `syncedResourceVersion` for
    /// the moment before its status write reaches the cache, and the fingerprint of what else it
    /// read (store generation, template ConfigMaps), whose change is a reason to sync again.
    synced: Option<Kept>,
    /// ESO's `syncedResourceVersion` at a resourceVersion, computed from the whole object before
    /// the cache trims annotations (ESO hashes kubectl's last-applied copy). Set for every
    /// object the watch delivered, so kept inline.
    eso_version: Option<(Box<str>, Arc<str>)>,
    /// The generation whose too-short refreshInterval was last reported in an Event.
    raised_interval: Option<Option<i64>>,
    /// A hash of what, when it changes, asks for a sync (uid, generation, labels, annotations).
    sync_relevant: Option<u64>,
}

impl Facts {
    fn is_empty(&self) -> bool {
        self.failures == 0
            && self.ready.is_none()
            && self.synced.is_none()
            && self.eso_version.is_none()
            && self.raised_interval.is_none()
            && self.sync_relevant.is_none()
    }
}

/// What names an ExternalSecret here: the object, or its packed record in the cache.
pub trait Named {
    fn namespace_and_name(&self) -> (String, String);
}

impl<K: Resource> Named for K {
    fn namespace_and_name(&self) -> (String, String) {
        (self.namespace().unwrap_or_default(), self.name_any())
    }
}

/// An ExternalSecret's (namespace, name).
pub(super) fn key(es: &impl Named) -> (String, String) {
    es.namespace_and_name()
}

#[derive(Default)]
pub struct Memory {
    facts: Mutex<ByNamespace<Facts>>,
    /// The resourceVersion of each target Secret as last written or verified.
    verified: Mutex<ByNamespace<Box<str>>>,
    /// When the watch delivered a change that asks for a sync (spec, labels, annotations), until
    /// the next reconcile takes it: empty between bursts.
    asked: Mutex<ByNamespace<Instant>>,
}

impl Memory {
    fn read<T>(&self, es: &impl Named, read: impl FnOnce(&Facts) -> Option<T>) -> Option<T> {
        let (ns, name) = key(es);
        self.facts.lock().expect("memory lock").get(&ns, &name).and_then(read)
    }

    fn write<T>(&self, es: &impl Named, write: impl FnOnce(&mut Facts) -> T) -> T {
        let (ns, name) = key(es);
        let mut out = None;
        self.facts.lock().expect("memory lock").update(&ns, &name, |f| out = Some(write(f)), |f| !f.is_empty());
        out.expect("the update ran")
    }

    /// Counts one more consecutive failure; returns the count.
    pub fn failed(&self, es: &impl Named) -> u32 {
        self.write(es, |f| {
            f.failures = f.failures.saturating_add(1);
            f.failures
        })
    }

    /// Whether the last attempt failed (and no success came since).
    pub fn failing(&self, es: &impl Named) -> bool {
        self.read(es, |f| Some(f.failures > 0)).unwrap_or(false)
    }

    pub fn succeeded(&self, es: &impl Named) {
        self.write(es, |f| f.failures = 0);
    }

    pub fn known_version(&self, namespace: &str, name: &str) -> Option<String> {
        self.verified.lock().expect("verified lock").get(namespace, name).map(|rv| rv.to_string())
    }

    pub fn remember_version(&self, namespace: &str, name: &str, rv: Option<String>) {
        let mut map = self.verified.lock().expect("verified lock");
        match rv {
            Some(rv) => *map.entry(namespace, name) = rv.into(),
            None => map.remove(namespace, name),
        };
    }

    pub fn last_sync(&self, es: &impl Named) -> Option<Synced> {
        self.read(es, |f| f.synced.as_ref().and_then(Kept::synced))
    }

    pub fn remember_sync(&self, es: &impl Named, synced: Synced) {
        self.write(es, |f| f.synced = Kept::of(synced, f.eso_version.as_ref().map(|v| &v.1)));
    }

    /// Records ESO's resource version of the object as the watch delivered it (before trimming).
    pub fn remember_eso_version(&self, es: &ExternalSecret) {
        let version = crate::pipeline::synced_resource_version(es.metadata.generation, es.labels(), &es.annotations());
        let rv = es.resource_version().unwrap_or_default();
        self.write(es, |f| {
            // Each watch event (our status writes' echoes too) recomputes it: the text already
            // held, the last sync's or the last event's, is shared.
            let held = f.eso_version.as_ref().map(|v| &v.1).into_iter().chain(f.synced.as_ref().map(|k| &k.version));
            let version = held.into_iter().find(|v| ***v == *version).cloned().unwrap_or_else(|| version.into());
            f.eso_version = Some((rv.into(), version));
        });
    }

    /// ESO's resource version of `es` as recorded for its resourceVersion, if it was.
    pub fn eso_version(&self, es: &impl Resource) -> Option<String> {
        let rv = es.resource_version()?;
        self.read(es, |f| f.eso_version.as_ref().filter(|v| *v.0 == *rv).map(|v| v.1.to_string()))
    }

    pub fn last_ready(&self, es: &impl Named) -> Option<bool> {
        self.read(es, |f| f.ready)
    }

    pub fn remember_ready(&self, es: &impl Named, ready: bool) {
        self.write(es, |f| f.ready = Some(ready));
    }

    /// True the first time per generation that this object's refreshInterval was raised to the
    /// minimum: the Event says so once per spec change, not once per refresh.
    pub fn first_raised_interval(&self, es: &impl Resource) -> bool {
        let generation = es.meta().generation;
        self.write(es, |f| f.raised_interval.replace(generation) != Some(generation))
    }

    /// Whether the watch's `es`, whose sync-relevant fields hash to `hash`, differs from the last
    /// one seen: status writes (ours included) come back from the watch and are not a reason to
    /// sync. The first sight of an object is a change.
    pub fn changed_for_sync(&self, es: &impl Named, hash: u64) -> bool {
        self.write(es, |f| f.sync_relevant.replace(hash) != Some(hash))
    }

    /// The watch delivered a change of `es` that asks for a sync, at `at`.
    pub fn remember_asked(&self, es: &impl Named, at: Instant) {
        let (ns, name) = key(es);
        self.asked.lock().expect("asked lock").insert(&ns, &name, at);
    }

    /// When the last change of `es` not yet taken by a reconcile was delivered, if one was.
    pub fn take_asked(&self, es: &impl Named) -> Option<Instant> {
        let (ns, name) = key(es);
        let mut asked = self.asked.lock().expect("asked lock");
        let at = asked.get(&ns, &name).copied();
        asked.remove(&ns, &name);
        at
    }

    /// Drops everything about a deleted ExternalSecret, including its target's version.
    pub fn forget(&self, es: &ExternalSecret) {
        let (ns, name) = key(es);
        self.facts.lock().expect("memory lock").remove(&ns, &name);
        self.asked.lock().expect("asked lock").remove(&ns, &name);
        self.remember_version(&ns, &es.target_name(), None);
    }

    /// How many ExternalSecrets anything is remembered for (tests, debugging).
    pub fn len(&self) -> usize {
        let facts = self.facts.lock().expect("memory lock").len();
        let asked = self.asked.lock().expect("asked lock").len();
        facts.max(self.verified.lock().expect("verified lock").len()).max(asked)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(name: &str) -> ExternalSecret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": "team-a"},
            "spec": {"secretStoreRef": {"name": "store"}, "target": {"name": format!("{name}-target")}},
        }))
        .expect("valid ExternalSecret")
    }

    #[test]
    fn a_deleted_external_secret_leaves_nothing_behind() {
        let memory = Memory::default();
        let (gone, kept) = (es("gone"), es("kept"));
        for e in [&gone, &kept] {
            memory.failed(e);
            memory.remember_ready(e, true);
            memory.remember_sync(e, Synced { at: "2026-11-26T00:00:00Z".into(), version: "1".into(), sources: "s".into() });
            memory.remember_eso_version(e);
            memory.remember_version("team-a", &e.target_name(), Some("42".into()));
            memory.remember_asked(e, Instant::now());
        }
        memory.forget(&gone);
        assert_eq!(memory.len(), 1);
        assert_eq!(memory.known_version("team-a", "gone-target"), None);
        assert_eq!(memory.known_version("team-a", "kept-target").as_deref(), Some("42"));
        assert_eq!(memory.last_ready(&kept), Some(true));
        assert_eq!(memory.failed(&kept), 2, "the other object's failure count is kept");
        assert!(memory.take_asked(&gone).is_none());
        assert!(memory.take_asked(&kept).is_some());
    }

    #[test]
    fn a_change_asks_once_and_the_later_change_wins() {
        let memory = Memory::default();
        let edited = es("edited");
        let (first, second) = (Instant::now(), Instant::now() + std::time::Duration::from_secs(1));
        memory.remember_asked(&edited, first);
        memory.remember_asked(&edited, second);
        assert_eq!(memory.take_asked(&edited), Some(second), "the sync must see the last change");
        assert_eq!(memory.take_asked(&edited), None, "a reconcile takes it: nothing is kept between bursts");
        assert!(memory.is_empty());
    }

    #[test]
    fn a_sync_remembered_in_the_same_second_as_the_cached_status_wins_over_it() {
        let ours = Synced { at: "2026-12-04T10:00:05Z".into(), version: "2-abc".into(), sources: "s".into() };
        assert!(ours.supersedes(None), "a status that never recorded a refresh");
        assert!(ours.supersedes(Some("2026-12-04T10:00:04Z")), "an older status");
        assert!(ours.supersedes(Some("2026-12-04T10:00:05Z")), "the same second: the cache may still hold the previous write");
        assert!(!ours.supersedes(Some("2026-12-04T10:00:06Z")), "a later write by someone else");
    }

    #[test]
    fn a_recovered_object_with_nothing_else_to_remember_takes_no_space() {
        let memory = Memory::default();
        let flaky = es("flaky");
        assert_eq!(memory.failed(&flaky), 1);
        assert!(memory.failing(&flaky));
        memory.succeeded(&flaky);
        assert!(!memory.failing(&flaky));
        assert!(memory.is_empty(), "no record is kept for a count of zero");
    }

    #[test]
    fn only_a_change_of_what_asks_for_a_sync_passes_and_a_deleted_object_starts_over() {
        let memory = Memory::default();
        let db = es("db");
        assert!(memory.changed_for_sync(&db, 1), "the first sight of an object is a change");
        assert!(!memory.changed_for_sync(&db, 1), "a status write comes back with the same hash");
        assert!(memory.changed_for_sync(&db, 2));
        memory.forget(&db);
        assert!(memory.is_empty());
        assert!(memory.changed_for_sync(&db, 2), "re-created under the same name");
    }

    #[test]
    fn a_remembered_sync_reads_back_as_it_was_written() {
        let memory = Memory::default();
        let db = es("db");
        let synced = Synced { at: "2026-12-04T10:00:05Z".into(), version: "2-abc".into(), sources: "0123456789abcdef".into() };
        memory.remember_sync(&db, synced.clone());
        assert_eq!(memory.last_sync(&db), Some(synced));
    }

    #[test]
    fn the_synced_version_shares_the_text_of_the_objects_eso_version_and_keeps_its_own_value() {
        let memory = Memory::default();
        let mut db = es("db");
        db.metadata.resource_version = Some("7".into());
        memory.remember_eso_version(&db);
        let version = memory.eso_version(&db).expect("recorded for resourceVersion 7");
        let synced = Synced { at: "2026-12-04T10:00:05Z".into(), version: version.clone(), sources: "s".into() };
        memory.remember_sync(&db, synced.clone());
        let shared = |m: &Memory| {
            let facts = m.facts.lock().unwrap();
            let f = facts.get("team-a", "db").unwrap();
            Arc::ptr_eq(&f.eso_version.as_ref().unwrap().1, &f.synced.as_ref().unwrap().version)
        };
        assert!(shared(&memory), "one text for both");
        // Our status write comes back from the watch: same labels, a new resourceVersion.
        db.metadata.resource_version = Some("8".into());
        memory.remember_eso_version(&db);
        assert!(shared(&memory), "still one text");
        // A force-sync annotation changes the object's version; the last sync's stays what it was.
        db.metadata.annotations = Some([("force-sync".to_string(), "1".to_string())].into());
        db.metadata.resource_version = Some("9".into());
        memory.remember_eso_version(&db);
        assert_ne!(memory.eso_version(&db), Some(version));
        assert_eq!(memory.last_sync(&db), Some(synced));
    }
}
