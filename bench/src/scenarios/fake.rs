//! The fake-provider population: N ExternalSecrets (three keys each, one remote key each) synced
//! by one sesame process, then watched idle, then restarted while nothing is due.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::Api;
use sesame::api::ExternalSecret;

use crate::controller::Sesame;
use crate::tracker::Tracker;
use crate::{QuietRestart, Steady, cluster, procstat, prom};

pub struct Population {
    pub client: Client,
    pub ns: String,
    pub class: String,
    pub api: Api<ExternalSecret>,
    pub tracker: Tracker,
    pub sesame: Sesame,
    pub names: Vec<String>,
    pub idle_rss_bytes: u64,
    pub idle_rss_file_bytes: u64,
    binary: PathBuf,
}

/// Provider calls sesame charged to this namespace's stores (every provider, fake included).
pub fn provider_calls(metrics: &str, ns: &str) -> u64 {
    prom::sum(metrics, "sesame_store_provider_calls_total", &[("namespace", ns)]) as u64
}

impl Population {
    /// Stores first, sesame started on the empty namespace (the idle baseline), then nothing else.
    pub async fn prepare(binary: &Path, n: usize) -> anyhow::Result<Population> {
        let client = sesame_testsupport::kube_client().await;
        let ns = cluster::unique("bench-fake");
        let class = cluster::unique("bench");
        cluster::create_namespace(&client, &ns).await?;
        cluster::create_fake_stores(&client, &ns, &class, n).await?;
        let mut sesame = Sesame::start(binary, &ns, &class, &[], &[])?;
        sesame.wait_ready().await?;
        // Let start-up allocations settle before the baseline.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let idle = procstat::sample(sesame.pid())?;
        let (idle_rss_bytes, idle_rss_file_bytes) = (idle.rss_bytes, idle.rss_file_bytes);
        let api = Api::namespaced(client.clone(), &ns);
        let tracker = Tracker::start(client.clone(), &ns);
        let names = (0..n).map(|i| format!("es-{i}")).collect();
        Ok(Population { client, ns, class, api, tracker, sesame, names, idle_rss_bytes, idle_rss_file_bytes, binary: binary.to_path_buf() })
    }

    /// Seconds from the first create to every object Ready (seen on the watch), and of those the
    /// seconds the creates took.
    pub async fn first_sync(&self, interval: Duration, concurrency: usize) -> anyhow::Result<(f64, f64)> {
        let started = Instant::now();
        cluster::for_each(self.names.len(), concurrency, |i| async move {
            cluster::create_es(&self.api, &cluster::fake_external_secret(i, interval)?).await
        })
        .await?;
        let created = started.elapsed().as_secs_f64();
        let n = self.names.len();
        self.tracker
            .wait("first sync", Duration::from_secs(600 + n as u64 / 5), |objs| objs.values().filter(|s| s.ready_at.is_some()).count() >= n)
            .await?;
        let last = self.tracker.snapshot().values().filter_map(|s| s.ready_at).max().unwrap_or(started);
        Ok((last.duration_since(started).as_secs_f64(), created))
    }

    /// RSS and CPU of sesame over `window` with every object synced and none due.
    pub async fn steady(&self, window: Duration) -> anyhow::Result<Steady> {
        let (rss, hwm, cpu) = procstat::observe(self.sesame.pid(), window, Duration::from_secs(5)).await?;
        let per_es = (rss as f64 - self.idle_rss_bytes as f64) / self.names.len().max(1) as f64;
        Ok(Steady {
            window_secs: window.as_secs_f64(),
            rss_bytes: rss,
            rss_file_bytes: procstat::sample(self.sesame.pid())?.rss_file_bytes,
            hwm_bytes: hwm,
            cpu_percent: cpu,
            bytes_per_external_secret: per_es,
        })
    }

    /// Stop sesame and start a new process; returns when the new one is ready.
    pub async fn restart(&mut self) -> anyhow::Result<Instant> {
        self.sesame.stop();
        self.sesame = Sesame::start(&self.binary, &self.ns, &self.class, &[], &[])?;
        self.sesame.wait_ready().await
    }

    /// Restart while nothing is due: the new process must look at every object (it reports each
    /// Ready) and call no provider during `window`.
    pub async fn quiet_restart(&mut self, window: Duration) -> anyhow::Result<QuietRestart> {
        let ready = self.restart().await?;
        tokio::time::sleep_until((ready + window).into()).await;
        let metrics = self.sesame.metrics().await?;
        let ready_seen = prom::count_equal(
            &metrics,
            "externalsecret_status_condition",
            &[("namespace", &self.ns), ("condition", "Ready"), ("status", "True")],
            1.0,
        );
        Ok(QuietRestart { window_secs: window.as_secs_f64(), provider_calls: provider_calls(&metrics, &self.ns), ready_seen })
    }

    pub async fn cleanup(self) {
        drop(self.tracker);
        let Population { client, ns, mut sesame, .. } = self;
        sesame.stop();
        cluster::delete_namespace(&client, &ns).await;
    }
}
