//! One watch on a namespace's ExternalSecrets: when each became Ready and each refresh it made.
//! Waiting on it costs the apiserver one WATCH, not a GET per object per poll.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use sesame::api::ExternalSecret;
use tokio::sync::Notify;

#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// When the watch first showed Ready=True.
    pub ready_at: Option<Instant>,
    pub refresh_time: Option<String>,
    /// How many times `status.refreshTime` moved after the first sync.
    pub refreshes: u32,
}

#[derive(Default)]
struct State {
    objects: HashMap<String, Seen>,
    /// Every observed refresh (a refreshTime that moved), for per-minute counts.
    refreshes: Vec<Instant>,
}

pub struct Tracker {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    pub fn start(client: Client, namespace: &str) -> Tracker {
        let state = Arc::new(Mutex::new(State::default()));
        let changed = Arc::new(Notify::new());
        let api: Api<ExternalSecret> = Api::namespaced(client, namespace);
        let (s, c) = (state.clone(), changed.clone());
        let task = tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default()).default_backoff().applied_objects().boxed();
            while let Some(event) = events.next().await {
                let Ok(es) = event else { continue };
                observe(&mut s.lock().expect("tracker lock"), &es);
                c.notify_waiters();
            }
        });
        Tracker { state, changed, task }
    }

    /// Wait until `done` holds for the observed objects; errors after `timeout`.
    pub async fn wait<F>(&self, what: &str, timeout: Duration, mut done: F) -> anyhow::Result<()>
    where
        F: FnMut(&HashMap<String, Seen>) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if done(&self.state.lock().expect("tracker lock").objects) {
                return Ok(());
            }
            // A periodic re-check as well: a notification between the check and the await is lost.
            if tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + Duration::from_secs(1)), notified).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                let ready = self.ready_count(|_| true);
                anyhow::bail!("timed out after {timeout:?} waiting for {what} ({ready} Ready)");
            }
        }
    }

    pub fn ready_count(&self, filter: impl Fn(&str) -> bool) -> usize {
        let st = self.state.lock().expect("tracker lock");
        st.objects.iter().filter(|(n, s)| filter(n) && s.ready_at.is_some()).count()
    }

    pub fn snapshot(&self) -> HashMap<String, Seen> {
        self.state.lock().expect("tracker lock").objects.clone()
    }

    /// Refreshes observed in [from, to).
    pub fn refreshes_between(&self, from: Instant, to: Instant) -> usize {
        self.state.lock().expect("tracker lock").refreshes.iter().filter(|t| **t >= from && **t < to).count()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn observe(st: &mut State, es: &ExternalSecret) {
    let status = es.status.clone().unwrap_or_default();
    let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let now = Instant::now();
    let seen = st.objects.entry(es.name_any()).or_default();
    if ready && seen.ready_at.is_none() {
        seen.ready_at = Some(now);
    }
    if status.refresh_time.is_some() && status.refresh_time != seen.refresh_time {
        let moved = seen.refresh_time.is_some();
        seen.refresh_time = status.refresh_time;
        if moved {
            seen.refreshes += 1;
            st.refreshes.push(now);
        }
    }
}
