//! The whole benchmark in order. Each measurement has its own namespace(s), deleted afterwards;
//! measurements run one at a time so none loads the apiserver while another is timed.
use std::time::{Duration, Instant};

use crate::scenarios::fake::Population;
use crate::scenarios::{apiserver, aws, floor, openbao, prestarted, refresh, status_floor};
use crate::{Options, Report, cluster, procstat};

/// Progress on stderr: a long run should say where it is.
pub fn say(msg: impl AsRef<str>) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs();
    eprintln!("[bench {:>3}:{:02}] {}", t / 60, t % 60, msg.as_ref());
}

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = sesame_testsupport::kube_client().await;
    cluster::install_crds(&client).await?;
    let mut report = Report {
        n: opts.n,
        k: opts.k,
        commit: opts.commit.clone().unwrap_or_else(commit),
        load_before: procstat::load_average(),
        ..Default::default()
    };

    if opts.memory_only {
        return memory_only(opts, report).await;
    }
    if opts.aws_only {
        report.aws = Some(aws::run(&opts.sesame, opts).await?);
        report.load_after = procstat::load_average();
        return Ok(report);
    }
    if opts.openbao_only {
        report.openbao = Some(openbao_row(opts).await?);
        report.load_after = procstat::load_average();
        return Ok(report);
    }
    say(format!("floor: a bare client writes {} Secrets", opts.n));
    report.floor_secs = floor::run(opts.n, opts.concurrency).await?;
    say(format!("floor {:.1}s; the floor's namespace is being deleted", report.floor_secs));
    // Its deletion must not overlap the next timing.
    tokio::time::sleep(Duration::from_secs(5)).await;

    say(format!("first sync from the controller's side: {} ExternalSecrets created before sesame starts", opts.n));
    let pre = prestarted::run(&opts.sesame, opts).await?;
    say(format!("controller-side first sync {:.1}s ({:.2} × floor)", pre.secs, pre.secs / report.floor_secs.max(1e-9)));
    report.controller_first_sync = Some(pre);
    say(format!("status floor: a bare client writes the Ready status of {} ExternalSecrets", opts.n));
    report.status_floor_secs = status_floor::run(opts.n, opts.concurrency, opts.long_interval).await?;
    say(format!("status floor {:.1}s", report.status_floor_secs));
    if opts.first_sync_only {
        report.load_after = procstat::load_average();
        return Ok(report);
    }

    let mut pop = Population::prepare(&opts.sesame, opts.n).await?;
    report.idle_rss_bytes = pop.idle_rss_bytes;
    report.idle_rss_file_bytes = pop.idle_rss_file_bytes;
    let outcome = fake_phases(&mut pop, opts, &mut report).await;
    if outcome.is_err() {
        eprintln!("sesame log {}:\n{}", pop.sesame.log.display(), pop.sesame.tail());
    }
    pop.cleanup().await;
    outcome?;

    say(format!("AWS: {} ExternalSecrets over {} keys on moto", opts.n, opts.k));
    report.aws = Some(aws::run(&opts.sesame, opts).await?);
    report.openbao = Some(openbao_row(opts).await?);
    report.load_after = procstat::load_average();
    say("done");
    Ok(report)
}

async fn openbao_row(opts: &Options) -> anyhow::Result<crate::OpenBaoCalls> {
    say(format!("OpenBao: {} ExternalSecrets over {} KV v2 paths on one store, created before sesame starts", opts.n, opts.k));
    openbao::run(&opts.sesame, opts).await
}

/// Idle RSS, first sync, steady window; stopping sesame afterwards writes its heap profile when
/// it is a `heap-profile` build asked for one.
async fn memory_only(opts: &Options, mut report: Report) -> anyhow::Result<Report> {
    let pop = Population::prepare(&opts.sesame, opts.n).await?;
    report.idle_rss_bytes = pop.idle_rss_bytes;
    report.idle_rss_file_bytes = pop.idle_rss_file_bytes;
    say(format!("first sync: {} ExternalSecrets; then steady state for {:?}", opts.n, opts.steady_window));
    let outcome = async {
        (report.first_sync_secs, report.first_sync_create_secs) = pop.first_sync(opts.long_interval, opts.concurrency).await?;
        report.steady = Some(pop.steady(opts.steady_window).await?);
        anyhow::Ok(())
    }
    .await;
    if outcome.is_err() {
        eprintln!("sesame log {}:\n{}", pop.sesame.log.display(), pop.sesame.tail());
    }
    pop.cleanup().await;
    outcome?;
    report.load_after = procstat::load_average();
    say("done");
    Ok(report)
}

async fn fake_phases(pop: &mut Population, opts: &Options, report: &mut Report) -> anyhow::Result<()> {
    say(format!("first sync: {} ExternalSecrets (fake provider, refreshInterval {:?})", opts.n, opts.long_interval));
    let before = apiserver::requests(&pop.client).await?;
    (report.first_sync_secs, report.first_sync_create_secs) = pop.first_sync(opts.long_interval, opts.concurrency).await?;
    report.first_sync_requests = apiserver::delta(&before, &apiserver::requests(&pop.client).await?);
    say(format!("first sync {:.1}s; steady state for {:?}", report.first_sync_secs, opts.steady_window));
    report.steady = Some(pop.steady(opts.steady_window).await?);

    say("quiet restart: nothing is due for half an interval");
    report.quiet_restart = Some(pop.quiet_restart(opts.restart_window).await?);
    if opts.quick {
        return Ok(());
    }

    let r = opts.short_interval;
    say(format!("switching every object to refreshInterval {r:?}"));
    let synced = refresh::switch_interval(pop, r, opts.concurrency).await?;
    // Half an interval after the change the first refreshes arrive: create the new objects then.
    tokio::time::sleep_until((synced + r / 2).into()).await;
    say(format!("{} new objects while {} refresh", opts.new_objects, opts.n));
    report.new_objects = Some(refresh::new_objects(pop, opts.new_objects, r, opts.concurrency).await?);
    // After one interval every object refreshes on its own slot.
    tokio::time::sleep_until((synced + r).into()).await;
    say("apiserver requests over one idle refresh cycle");
    let (cycle, refreshed) = refresh::apiserver_cycle(pop, r).await?;
    say(format!("{refreshed} refreshes seen in that cycle"));
    report.apiserver = Some(cycle);
    say("restart under refresh: provider calls per minute over one interval");
    report.storm = Some(refresh::storm(pop, r).await?);
    Ok(())
}

fn commit() -> String {
    let out = std::process::Command::new("git")
        .args(["-C", &sesame_testsupport::workspace_root().to_string_lossy(), "rev-parse", "--short", "HEAD"])
        .output();
    out.ok().and_then(|o| String::from_utf8(o.stdout).ok()).map(|s| s.trim().to_string()).unwrap_or_default()
}
