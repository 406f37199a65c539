//! Sesame's scale benchmark (issue #10): the real `sesame` binary against the real apiserver and
//! moto and OpenBao from `tests/env/testenv`. `run` measures; `table` prints; the smoke test asserts only the
//! exact properties (call counts, restart silence, readiness), never timings.
#![forbid(unsafe_code)]
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub mod cluster;
pub mod controller;
pub mod procstat;
pub mod prom;
pub mod run;
pub mod scenarios;
pub mod table;
pub mod tracker;

/// What to measure and for how long.
#[derive(Debug, Clone)]
pub struct Options {
    /// ExternalSecrets per population (fake and AWS).
    pub n: usize,
    /// Distinct remote keys the AWS population (Secrets Manager keys) and the OpenBao population
    /// (KV v2 paths) read.
    pub k: usize,
    /// Parallel writes of the bare client and of the harness; sesame's `--concurrency` default.
    pub concurrency: usize,
    /// refreshInterval of the first sync, the idle steady state and the quiet restart.
    pub long_interval: Duration,
    /// refreshInterval of the refresh phases (storm, new objects, apiserver cycle).
    pub short_interval: Duration,
    /// refreshInterval of the AWS population (one cycle is waited for).
    pub aws_interval: Duration,
    /// refreshInterval the OpenBao population is switched to for its refresh cycle.
    pub openbao_interval: Duration,
    pub steady_window: Duration,
    /// How long after a restart provider calls must stay at zero.
    pub restart_window: Duration,
    pub new_objects: usize,
    /// Extra `sesame run` flags for the AWS population (default: none, as an operator runs it).
    pub aws_args: Vec<String>,
    /// Skip the phases under a short interval (storm, new objects, apiserver cycle): the smoke run.
    pub quick: bool,
    /// Only idle RSS, the fake first sync and the steady window (`--memory-only`).
    pub memory_only: bool,
    /// Only the floor and the controller-side first sync (a growth run at N = 30,000).
    pub first_sync_only: bool,
    /// Only the OpenBao row (`--openbao-only`).
    pub openbao_only: bool,
    /// Only the AWS row (first sync and one refresh cycle on moto).
    pub aws_only: bool,
    /// The `sesame` binary to run.
    pub sesame: PathBuf,
    /// The commit that binary was built from, for the report (default: this checkout's HEAD).
    pub commit: Option<String>,
}

impl Options {
    pub fn new(n: usize, sesame: PathBuf) -> Options {
        Options {
            n,
            k: 100.min(n.max(1)),
            concurrency: 16,
            long_interval: Duration::from_secs(3600),
            short_interval: Duration::from_secs(240),
            aws_interval: Duration::from_secs(120),
            openbao_interval: Duration::from_secs(120),
            steady_window: Duration::from_secs(300),
            restart_window: Duration::from_secs(60),
            new_objects: 200,
            aws_args: Vec::new(),
            quick: false,
            memory_only: false,
            first_sync_only: false,
            openbao_only: false,
            aws_only: false,
            sesame,
            commit: None,
        }
    }
}

/// `sesame run` flags under which every first-sync read of `n` objects is pending at once, so
/// coalescing alone decides the call count: as many reconciles as objects, and a window longer
/// than it takes them all to start.
pub fn all_reads_concurrent(n: usize) -> Vec<String> {
    vec!["--concurrency".into(), n.clamp(16, u16::MAX as usize).to_string(), "--coalesce-window".into(), "2s".into()]
}

/// Everything one run measured; `None` where a phase was skipped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub n: usize,
    pub k: usize,
    pub commit: String,
    pub floor_secs: f64,
    /// A bare client writing N ExternalSecrets' Ready status (after the controller-side first sync).
    pub status_floor_secs: f64,
    pub first_sync_secs: f64,
    /// Of which the harness spent this long creating the ExternalSecrets.
    pub first_sync_create_secs: f64,
    /// apiserver requests (sesame's resources) during the first sync, per verb and resource.
    pub first_sync_requests: std::collections::BTreeMap<String, u64>,
    /// The first sync with every ExternalSecret created before the controller started.
    pub controller_first_sync: Option<ControllerFirstSync>,
    pub idle_rss_bytes: u64,
    /// File-backed part of the idle RSS.
    pub idle_rss_file_bytes: u64,
    pub steady: Option<Steady>,
    pub aws: Option<AwsCalls>,
    pub openbao: Option<OpenBaoCalls>,
    pub quiet_restart: Option<QuietRestart>,
    pub storm: Option<Storm>,
    pub new_objects: Option<NewObjects>,
    pub apiserver: Option<ApiserverCycle>,
    /// Load average (1 min) when the run started and ended: the machine is shared.
    pub load_before: f64,
    pub load_after: f64,
}

/// N ExternalSecrets created before `sesame` starts, timed from process start: the controller's
/// own first sync, without the apiserver's create rate for custom resources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControllerFirstSync {
    pub n: usize,
    /// Process start to the last Ready seen on the watch.
    pub secs: f64,
    /// Process start to `/readyz` (every cache listed).
    pub ready_secs: f64,
    /// The harness creating the N objects beforehand (not part of `secs`).
    pub create_secs: f64,
    /// apiserver requests (sesame's resources) from process start to the last Ready.
    pub requests: std::collections::BTreeMap<String, u64>,
    /// sesame's `VmHWM` and CPU time (user + system) when the last object was Ready.
    pub peak_rss_bytes: u64,
    pub cpu_secs: f64,
    /// The harness's own `VmHWM` then: it keeps tens of bytes per object, whatever N.
    pub harness_peak_rss_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Steady {
    pub window_secs: f64,
    pub rss_bytes: u64,
    /// File-backed part of the RSS at the end of the window (the binary's mapped code).
    pub rss_file_bytes: u64,
    pub hwm_bytes: u64,
    pub cpu_percent: f64,
    pub bytes_per_external_secret: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AwsCalls {
    /// The extra flags sesame ran with.
    pub args: Vec<String>,
    pub n: usize,
    pub k: usize,
    pub expected_first_sync: u64,
    pub first_sync_batch: u64,
    pub first_sync_single: u64,
    pub all_ready: bool,
    pub cycle_batch: u64,
    pub cycle_single: u64,
    pub cycle_secs: f64,
}

/// N ExternalSecrets over K KV v2 paths on one OpenBao store, created before sesame starts, at
/// default flags: reads charged to the store (`sesame_store_provider_calls_total`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenBaoCalls {
    pub n: usize,
    pub k: usize,
    /// Process start to the last Ready seen on the watch.
    pub secs: f64,
    /// Process start to `/readyz`.
    pub ready_secs: f64,
    pub first_sync_reads: u64,
    /// sesame's `VmHWM` and CPU time when the last object was Ready.
    pub peak_rss_bytes: u64,
    pub cpu_secs: f64,
    /// Reads of the re-sync every object makes when its refreshInterval changes (0 if skipped).
    pub resync_reads: u64,
    /// Reads until every object refreshed once more at `interval_secs` (0 if skipped).
    pub cycle_reads: u64,
    pub cycle_secs: f64,
    pub interval_secs: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct QuietRestart {
    pub window_secs: f64,
    pub provider_calls: u64,
    /// Objects the new process reported Ready without fetching (it did look at all of them).
    pub ready_seen: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Storm {
    pub interval_secs: f64,
    pub first_minute_calls: u64,
    pub calls_per_minute: Vec<u64>,
    pub storm_factor: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NewObjects {
    pub count: usize,
    pub p50_secs: f64,
    pub p100_secs: f64,
    pub all_ready_secs: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiserverCycle {
    pub interval_secs: f64,
    /// `verb resource[/subresource]` → requests during one refresh interval.
    pub requests: std::collections::BTreeMap<String, u64>,
}
