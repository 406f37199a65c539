//! The first sync from the controller's side: N ExternalSecrets exist before `sesame` starts, so
//! the apiserver's create rate for custom resources is out of the timing. Timed from process start
//! to the last Ready seen on the watch; the apiserver's own counters over the same span say which
//! requests each sync made.
use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::Api;
use sesame::api::ExternalSecret;

use super::apiserver;
use crate::controller::Sesame;
use crate::run::say;
use crate::tracker::Tracker;
use crate::{ControllerFirstSync, Options, cluster, procstat};

pub async fn run(binary: &Path, opts: &Options) -> anyhow::Result<ControllerFirstSync> {
    let n = opts.n;
    let client = sesame_testsupport::kube_client().await;
    let ns = cluster::unique("bench-pre");
    let class = cluster::unique("bench");
    cluster::create_namespace(&client, &ns).await?;
    let outcome = measure(binary, opts, &client, &ns, &class).await;
    say(format!("the {n} prestarted objects' namespace is being deleted"));
    cluster::delete_namespace(&client, &ns).await;
    cluster::wait_namespace_gone(&client, &ns, Duration::from_secs(600)).await;
    outcome
}

async fn measure(binary: &Path, opts: &Options, client: &kube::Client, ns: &str, class: &str) -> anyhow::Result<ControllerFirstSync> {
    let n = opts.n;
    cluster::create_fake_stores(client, ns, class, n).await?;
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), ns);
    let created = Instant::now();
    cluster::create_batched(&api, "ExternalSecrets", n, opts.concurrency, |i| cluster::fake_external_secret(i, opts.long_interval)).await?;
    let create_secs = created.elapsed().as_secs_f64();
    // The watch's initial list is done before the clock starts: it is the harness's, not sesame's.
    let tracker = Tracker::start(client.clone(), ns);
    let timeout = Duration::from_secs(600 + n as u64 / 5);
    tracker.wait("the watch to list every ExternalSecret", timeout, |objs| objs.len() >= n).await?;
    let before = apiserver::requests(client).await?;
    let started = Instant::now();
    let mut sesame = Sesame::start(binary, ns, class, &[], &[])?;
    let outcome = async {
        let ready = sesame.wait_ready().await?;
        tracker.wait("every prestarted object Ready", timeout, |objs| objs.values().filter(|s| s.ready_at.is_some()).count() >= n).await?;
        let last = tracker.snapshot().values().filter_map(|s| s.ready_at).max().unwrap_or(started);
        let process = procstat::sample(sesame.pid())?;
        let requests = apiserver::delta(&before, &apiserver::requests(client).await?);
        Ok(ControllerFirstSync {
            n,
            secs: last.duration_since(started).as_secs_f64(),
            ready_secs: ready.duration_since(started).as_secs_f64(),
            create_secs,
            requests,
            peak_rss_bytes: process.hwm_bytes,
            cpu_secs: process.cpu.as_secs_f64(),
            harness_peak_rss_bytes: procstat::sample(std::process::id())?.hwm_bytes,
        })
    }
    .await;
    if outcome.is_err() {
        eprintln!("sesame log {}:\n{}", sesame.log.display(), sesame.tail());
    }
    sesame.stop();
    outcome
}

/// Requests of one `verb resource`: per synced object, or in all.
pub type Requests<T> = Vec<(String, T)>;

/// Requests per synced object by `verb resource` (those made at least once per hundred objects),
/// and the others as counts: the controller's start-up lists and watches, a handful in all.
pub fn per_sync(r: &ControllerFirstSync) -> (Requests<f64>, Requests<u64>) {
    let n = r.n.max(1) as u64;
    let (per, once): (Vec<_>, Vec<_>) = r.requests.iter().partition(|(_, v)| **v * 100 >= n);
    (per.into_iter().map(|(k, v)| (k.clone(), *v as f64 / n as f64)).collect(), once.into_iter().map(|(k, v)| (k.clone(), *v)).collect())
}
