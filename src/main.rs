#![forbid(unsafe_code)]
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use clap::Parser;
use sesame::cli::{Cli, Command, LogFormat, RunArgs};
use sesame::controller::{self, Config};
use sesame::duration::parse_go_duration;
use sesame::{crdgen, http, leader, metrics, render};

/// kube_client logs a whole response body at WARN when it cannot decode it, and a body can hold
/// secret values (a fake store's data, a Secret). Its other WARN lines are watch timeouts, which
/// the watchers retry anyway; its errors still reach our own logs, without the body.
const NEVER_LOG_BODIES: &str = "kube_client::client=error";

// bench/ only (`--features heap-profile`): every allocation goes through dhat, which records it
// only while a profile is running (SESAME_HEAP_PROFILE set); otherwise it is the system allocator.
#[cfg(feature = "heap-profile")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[cfg(all(feature = "jemalloc", not(feature = "heap-profile")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The heap profile of this process, written when a shutdown begins: what is live then is the
/// steady state the caller measured, before anything is torn down.
#[cfg(feature = "heap-profile")]
mod heap_profile {
    static PROFILER: std::sync::Mutex<Option<dhat::Profiler>> = std::sync::Mutex::new(None);

    pub fn start() {
        if let Some(file) = std::env::var_os("SESAME_HEAP_PROFILE") {
            // Deep frames: the interesting caller of a deserializer is far from the allocation.
            let profiler = dhat::Profiler::builder().file_name(file).trim_backtraces(Some(40)).build();
            *PROFILER.lock().expect("profiler lock") = Some(profiler);
        }
    }

    pub fn write() {
        drop(PROFILER.lock().expect("profiler lock").take());
    }
}

fn init_logging(cli: &Cli) {
    let level = if tracing_subscriber::EnvFilter::try_new(&cli.log_level).is_ok() { cli.log_level.as_str() } else { "info" };
    let filter = tracing_subscriber::EnvFilter::new(format!("{level},{NEVER_LOG_BODIES}"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() {
    #[cfg(feature = "heap-profile")]
    heap_profile::start();
    // Return freed pages to the system in the background (jemalloc's decay), not only on the
    // next allocation: the steady state after a first sync's peak.
    #[cfg(all(feature = "jemalloc", not(feature = "heap-profile")))]
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = runtime.block_on(dispatch(cli)) {
        eprintln!("sesame: {e:#}");
        std::process::exit(1);
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cli.command {
        Command::Crds { out_dir, check } => crdgen::write_or_check(&out_dir, check),
        Command::Render { files, reveal } => {
            let manifests = render::load(&files)?;
            if manifests.is_empty() {
                anyhow::bail!(
                    "no ExternalSecret, PushSecret, ClusterExternalSecret or ClusterPushSecret found in {}",
                    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
                );
            }
            let (out, errors) = render::render(&manifests, reveal).await;
            print!("{out}");
            if !errors.is_empty() {
                anyhow::bail!("{}", errors.join("\n"));
            }
            Ok(())
        }
        Command::Template { template, values, keys_and_values } => {
            let body = std::fs::read_to_string(&template).with_context(|| format!("reading {}", template.display()))?;
            let text = std::fs::read_to_string(&values).with_context(|| format!("reading {}", values.display()))?;
            let values: std::collections::BTreeMap<String, serde_json::Value> =
                serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a map of values: {e}", values.display()))?;
            let data: std::collections::BTreeMap<String, Vec<u8>> = values
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        match v {
                            serde_json::Value::String(s) => s.into_bytes(),
                            other => other.to_string().into_bytes(),
                        },
                    )
                })
                .collect();
            if keys_and_values {
                for (k, v) in sesame_template::render_keys_and_values(&body, &data)? {
                    println!("{k}: {}", String::from_utf8_lossy(&v));
                }
            } else {
                use std::io::Write;
                std::io::stdout().write_all(&sesame_template::render(&body, &data)?)?;
            }
            Ok(())
        }
        Command::Run(args) => run(*args).await,
    }
}

fn duration(flag: &str, value: &str) -> anyhow::Result<std::time::Duration> {
    parse_go_duration(value).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = Config {
        controller_class: args.controller_class.clone(),
        default_refresh_interval: duration("default-refresh-interval", &args.default_refresh_interval)?,
        store_requeue_interval: duration("store-requeue-interval", &args.store_requeue_interval)?,
        max_backoff: duration("max-backoff", &args.max_backoff)?,
        templates: controller::RenderConfig::from_flags(&args.templates)?,
        min_refresh_interval: duration("min-refresh-interval", &args.min_refresh_interval)?,
        find_limits: sesame_provider_core::FindLimits { max_matches: args.find_max_matches, max_bytes: args.find_max_bytes },
        generator_gc_grace_period: duration("generator-gc-grace-period", &args.generator_gc_grace_period)?,
        allow_generic_targets: args.unsafe_allow_generic_targets,
    };
    #[cfg(feature = "infisical")]
    sesame_provider_infisical::allow_gcp_key_dir(args.infisical_gcp_key_dir.clone());
    let coalesce_window = duration("coalesce-window", &args.coalesce_window)?;
    let lease_duration = duration("leader-election-lease-duration", &args.leader_election_lease_duration)?;
    let client = sesame::apiserver_client::connect().await.context("connecting to the Kubernetes API")?;
    let metrics = Arc::new(metrics::Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn(http::serve(args.metrics_addr, http::router(metrics.clone(), ready.clone())));
    let instance =
        std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| format!("sesame-{}", std::process::id()));
    let instance = format!("{instance}-{}", std::process::id());

    let lease = args.enable_leader_election.then(|| {
        let ns = args
            .leader_election_namespace
            .clone()
            .or_else(|| std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok())
            .unwrap_or_else(|| "default".into());
        leader::LeaseLock::new(client.clone(), ns.trim(), &args.leader_election_id, &instance, lease_duration)
    });
    if let Some(lease) = &lease {
        // A standby is healthy and ready: it serves probes and waits for the lease.
        ready.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::select! {
            _ = lease.acquire() => {}
            _ = shutdown_signal() => return Ok(()),
        }
        ready.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let opts = controller::run::RunOptions {
        namespace: args.namespace.clone(),
        concurrency: args.concurrency,
        config,
        coalesce_window,
        budget: sesame::fetch::BudgetLimits { qps: args.store_qps, burst: args.store_burst },
        instance,
        refuse_secretstore_controller_identity: args.refuse_secretstore_controller_identity,
        namespace_share: args.namespace_concurrency,
    };
    let mut controllers = tokio::spawn(controller::run(client.clone(), opts, metrics, ready, async move {
        let _ = stop_rx.await;
    }));
    let lost = async {
        match &lease {
            Some(l) => l.hold().await,
            None => std::future::pending().await,
        }
    };
    let lost_leadership = tokio::select! {
        _ = shutdown_signal() => false,
        _ = lost => true,
        r = server => { r??; false }
        // The controllers never end on their own: if they do (a panic), stop serving probes
        // that say all is well and exit so the pod restarts.
        r = &mut controllers => {
            anyhow::bail!("the controllers stopped unexpectedly: {}", r.err().map(|e| e.to_string()).unwrap_or_default());
        }
    };
    #[cfg(feature = "heap-profile")]
    heap_profile::write();
    let _ = stop_tx.send(());
    // Running reconciles finish first; a controller that cannot stop must not hold the pod past
    // its grace period.
    if tokio::time::timeout(SHUTDOWN_GRACE, controllers).await.is_err() {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "controllers did not stop in time; exiting anyway");
    }
    if let Some(l) = &lease
        && !lost_leadership
    {
        l.release().await;
    }
    if lost_leadership {
        anyhow::bail!("lost leadership; exiting so a fresh process can stand by");
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// How long a shutdown waits for the controllers (Kubernetes' default grace period is 30 s).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown signal received");
}
