//! `cargo run -p sesame-bench --release -- --n 1000`: builds the release `sesame`, runs every
//! measurement against the servers of `tests/env/testenv up`, prints the table.
#![forbid(unsafe_code)]
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use sesame_bench::{Options, controller, run, table};

#[derive(Parser, Debug)]
#[command(about = "Sesame at scale on the real test apiserver (issue #10)")]
struct Args {
    /// ExternalSecrets per population.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Distinct remote keys for the provider-call measurements (AWS keys, OpenBao paths).
    #[arg(long, default_value_t = 100)]
    k: usize,
    /// Steady-state window.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    steady_window: Duration,
    /// Refresh interval of the refresh phases (restart storm, new objects, apiserver cycle).
    #[arg(long, default_value = "4m", value_parser = humantime::parse_duration)]
    short_interval: Duration,
    /// Refresh interval of the AWS population (one cycle is measured).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    aws_interval: Duration,
    /// Refresh interval the OpenBao population is switched to (one cycle is measured).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    openbao_interval: Duration,
    /// New ExternalSecrets created while N refresh.
    #[arg(long, default_value_t = 200)]
    new_objects: usize,
    /// Run the AWS population with every read concurrent (`--concurrency N --coalesce-window 2s`):
    /// the condition under which the first sync costs exactly ⌈K/20⌉ calls.
    #[arg(long)]
    aws_concurrent: bool,
    /// Only first sync, steady state, quiet restart and the AWS and OpenBao first syncs (the CI
    /// smoke's set).
    #[arg(long)]
    quick: bool,
    /// Only memory: idle RSS, the fake first sync and the steady window (no floor, no refresh
    /// phases, no AWS). With a `heap-profile` build and SESAME_HEAP_PROFILE set, sesame writes its
    /// heap profile when the harness stops it right after the window.
    #[arg(long)]
    memory_only: bool,
    /// Only the floor and the first sync from the controller's side (N objects created before
    /// sesame starts): how time and memory grow with N, e.g. `--n 30000`.
    #[arg(long)]
    first_sync_only: bool,
    /// Only the OpenBao row: N ExternalSecrets over K paths on one store at default flags, first
    /// sync and one refresh cycle (e.g. `--n 10000`).
    #[arg(long)]
    openbao_only: bool,
    /// Only the AWS row: N ExternalSecrets over K Secrets Manager keys on moto at default flags,
    /// first sync and one refresh cycle (e.g. `--n 10000`).
    #[arg(long)]
    aws_only: bool,
    /// The sesame binary (default: build target/release/sesame).
    #[arg(long)]
    sesame: Option<PathBuf>,
    /// The commit `--sesame` was built from, for the report (default: this checkout's HEAD).
    #[arg(long)]
    commit: Option<String>,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sesame = match args.sesame {
        Some(path) => path,
        None => controller::build_release()?,
    };
    let mut opts = Options::new(args.n, sesame);
    opts.k = args.k.min(args.n.max(1));
    opts.steady_window = args.steady_window;
    opts.short_interval = args.short_interval;
    opts.aws_interval = args.aws_interval;
    opts.openbao_interval = args.openbao_interval;
    opts.new_objects = args.new_objects;
    opts.quick = args.quick;
    opts.memory_only = args.memory_only;
    opts.first_sync_only = args.first_sync_only;
    opts.openbao_only = args.openbao_only;
    opts.aws_only = args.aws_only;
    opts.commit = args.commit;
    if args.aws_concurrent {
        opts.aws_args = sesame_bench::all_reads_concurrent(opts.n);
    }
    let report = run::run(&opts).await?;
    println!("{}", table::render(&report));
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
