//! Events, published as kube's `Recorder` publishes them (events.k8s.io/v1; the same event about
//! the same object version again within six minutes becomes a series on the first one), but
//! remembering per repeat key only what a repeat needs: the first Event's name and namespace, the
//! count and when it was last seen. kube's recorder keeps a whole Event and its key per object
//! (about 2 kB: one per created Secret at a first sync) and collects them only when it publishes
//! again, so an idle controller kept them for ever; here a sweep drops them after their six minutes.
//!
//! Publishing only queues: as with client-go's broadcaster (what ESO records through), a sync
//! never waits for its Event. A few posters drain the queue, fewer than the reconcile workers, so
//! while a first sync writes thousands of Secrets the writes that make objects Ready go first and
//! their Events trail. A full queue drops the Event, as client-go's does, and says so in the log.
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};

/// How long a repeat still joins the first Event's series (kube's and client-go's value).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// How often expired series are dropped, publishing or not.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Events queued at most (a first sync of ten thousand objects queues one each, ≈ 0.5 kB apiece;
/// client-go's broadcaster holds 1,000).
const QUEUE: usize = 10_000;
/// Events being posted at once.
const POSTERS: usize = 2;

/// The first Event of a series, as much as a repeat needs to extend it.
struct Series {
    name: Box<str>,
    namespace: Box<str>,
    count: i32,
    last: Instant,
}

type Recent = Mutex<HashMap<u64, Series>>;

/// One Event to post, stamped when it happened rather than when it is posted.
struct Queued {
    ev: Event,
    regarding: ObjectReference,
    at: Timestamp,
}

pub struct Recorder {
    queue: mpsc::Sender<Queued>,
    dropped: AtomicU64,
}

/// Posts queued Events, joining repeats into series.
struct Poster {
    client: kube::Client,
    reporter: Reporter,
    recent: Arc<Recent>,
}

/// What makes two Events one series (kube's key: type, action, reason, reporter, the whole
/// reference, including its resourceVersion, and the related object; not the note). Hashed: a
/// collision would at worst count one Event as a repeat of another.
fn series_key(ev: &Event, reporter: &Reporter, regarding: &ObjectReference) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    matches!(ev.type_, EventType::Warning).hash(&mut h);
    (&ev.action, &ev.reason, &reporter.controller, &reporter.instance).hash(&mut h);
    for r in std::iter::once(regarding).chain(ev.secondary.as_ref()) {
        (&r.api_version, &r.kind, &r.namespace, &r.name, &r.uid, &r.resource_version, &r.field_path).hash(&mut h);
    }
    h.finish()
}

fn sweep(recent: &Recent, now: Instant) {
    let mut recent = recent.lock().expect("event series lock");
    recent.retain(|_, s| now.duration_since(s.last) < SERIES_WINDOW);
    // A first sync posts an Event per created Secret: the table it grew to goes once they expire.
    crate::fetch::release_spare(&mut recent);
}

impl Recorder {
    /// A recorder; within a Tokio runtime it also starts its posters and the sweep, which end
    /// with the recorder (the posters once the queue is drained).
    pub fn new(client: kube::Client, reporter: Reporter) -> Recorder {
        Recorder::with_capacity(client, reporter, QUEUE)
    }

    fn with_capacity(client: kube::Client, reporter: Reporter, capacity: usize) -> Recorder {
        let (queue, mut queued) = mpsc::channel::<Queued>(capacity);
        let poster = Arc::new(Poster { client, reporter, recent: Arc::new(Recent::default()) });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak: Weak<Recent> = Arc::downgrade(&poster.recent);
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(SWEEP_EVERY).await;
                    let Some(recent) = weak.upgrade() else { return };
                    sweep(&recent, Instant::now());
                }
            });
            let events = futures::stream::poll_fn(move |cx| queued.poll_recv(cx));
            runtime.spawn(events.for_each_concurrent(POSTERS, move |q| {
                let poster = poster.clone();
                async move {
                    if let Err(e) = poster.post(&q.ev, &q.regarding, q.at).await {
                        tracing::debug!(reason = %q.ev.reason, error = %e, "could not publish event");
                    }
                }
            }));
        }
        Recorder { queue, dropped: AtomicU64::new(0) }
    }

    /// Queue `ev` about `regarding`; it is posted shortly, or dropped if the queue is full.
    pub fn publish(&self, ev: &Event, regarding: &ObjectReference) {
        // kube's Event is not Clone.
        let ev = Event {
            type_: ev.type_,
            reason: ev.reason.clone(),
            note: ev.note.clone(),
            action: ev.action.clone(),
            secondary: ev.secondary.clone(),
        };
        let queued = Queued { ev, regarding: regarding.clone(), at: Timestamp::now() };
        if self.queue.try_send(queued).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "event queue full: events dropped so far");
            }
        }
    }

    /// Events dropped because the queue was full.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Poster {
    async fn post(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> Result<(), kube::Error> {
        let key = series_key(ev, &self.reporter, regarding);
        let repeat = {
            let mut recent = self.recent.lock().expect("event series lock");
            match recent.get_mut(&key) {
                Some(s) if s.last.elapsed() < SERIES_WINDOW => {
                    s.count += 1;
                    s.last = Instant::now();
                    Some((s.name.clone(), s.namespace.clone(), s.count))
                }
                _ => None,
            }
        };
        if let Some((name, namespace, count)) = repeat {
            let series = EventSeries { count, last_observed_time: MicroTime(now) };
            let patch = serde_json::json!({ "series": series });
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
            return Ok(());
        }
        let event = self.event(ev, regarding, now);
        let (name, namespace) = (event.metadata.name.clone().unwrap_or_default(), event.metadata.namespace.clone().unwrap_or_default());
        Api::<K8sEvent>::namespaced(self.client.clone(), &namespace).create(&PostParams::default(), &event).await?;
        let series = Series { name: name.into(), namespace: namespace.into(), count: 1, last: Instant::now() };
        self.recent.lock().expect("event series lock").insert(key, series);
        Ok(())
    }

    /// A new Event, named and filled in as kube's recorder does (an object without a namespace
    /// is reported in `default`).
    fn event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let controller = &self.reporter.controller;
        let name = format!("{}.{:x}", regarding.name.as_ref().unwrap_or(controller), now.as_nanosecond());
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: Some(regarding.namespace.clone().unwrap_or_else(|| "default".into())),
                name: Some(name),
                ..Default::default()
            },
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(self.reporter.instance.clone().unwrap_or_else(|| controller.clone())),
            type_: Some(match ev.type_ {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            related: ev.secondary.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str, rv: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("ExternalSecret".into()),
            namespace: Some("team-a".into()),
            name: Some(name.into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        }
    }

    fn created() -> Event {
        Event {
            type_: EventType::Normal,
            reason: "Created".into(),
            note: Some("secret created".into()),
            action: "Sync".into(),
            secondary: None,
        }
    }

    #[test]
    fn a_repeat_is_the_same_event_about_the_same_object_version_whatever_its_note() {
        let reporter = Reporter { controller: "sesame".into(), instance: Some("a".into()) };
        let key = series_key(&created(), &reporter, &reference("db", "1"));
        let other_note = Event { note: Some("other".into()), ..created() };
        assert_eq!(series_key(&other_note, &reporter, &reference("db", "1")), key);
        assert_ne!(series_key(&created(), &reporter, &reference("db", "2")), key, "another object version");
        assert_ne!(series_key(&created(), &reporter, &reference("api", "1")), key, "another object");
        let warning = Event { type_: EventType::Warning, ..created() };
        assert_ne!(series_key(&warning, &reporter, &reference("db", "1")), key, "another type");
    }

    #[test]
    fn a_sweep_drops_only_series_past_their_window() {
        let recent = Recent::default();
        let series = |last| Series { name: "e".into(), namespace: "ns".into(), count: 1, last };
        let now = Instant::now();
        recent.lock().unwrap().insert(1, series(now + SERIES_WINDOW));
        recent.lock().unwrap().insert(2, series(now));
        sweep(&recent, now + SERIES_WINDOW + Duration::from_secs(1));
        assert_eq!(recent.lock().unwrap().keys().collect::<Vec<_>>(), vec![&1]);
    }

    #[test]
    fn the_series_of_a_first_sync_give_their_table_back_once_expired() {
        let recent = Recent::default();
        let now = Instant::now();
        let burst: HashMap<u64, Series> =
            (0..10_000).map(|i| (i, Series { name: "e".into(), namespace: "ns".into(), count: 1, last: now })).collect();
        let grown = burst.capacity();
        *recent.lock().unwrap() = burst;
        sweep(&recent, now + SERIES_WINDOW + Duration::from_secs(1));
        let kept = recent.lock().unwrap().capacity();
        assert!(kept < grown / 100, "{kept} of {grown} buckets kept with no series left");
    }

    #[tokio::test]
    async fn publishing_never_waits_for_the_apiserver_and_a_full_queue_drops_what_does_not_fit() {
        // An apiserver that accepts connections and never answers: every post hangs.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                open.push(conn);
            }
        });
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let recorder = Recorder::with_capacity(client, Reporter { controller: "sesame".into(), instance: None }, 4);
        for i in 0..20 {
            recorder.publish(&created(), &reference(&format!("es-{i}"), "1"));
        }
        // Four fit in the queue and up to two posters may have taken one each.
        let dropped = recorder.dropped();
        assert!((14..=16).contains(&dropped), "dropped {dropped} of 20 with room for 4 (+2 being posted)");
        held.abort();
    }
}
