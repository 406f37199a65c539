//! CI's run of the benchmark at N = 500: only the exact properties are asserted, never timings.
//! Needs the servers of `tests/env/testenv up` and the debug `sesame` binary that
//! `cargo test --workspace` builds for the root package's tests.
use std::path::PathBuf;
use std::time::Duration;

use sesame_bench::{Options, controller, run, table};

const N: usize = 500;
const K: usize = 50;

fn sesame_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SESAME_BIN") {
        return PathBuf::from(path);
    }
    controller::sibling_binary("sesame")
        .unwrap_or_else(|| panic!("no sesame binary next to this test; run `cargo build -p sesame` (or set SESAME_BIN)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_n_500_first_syncs_read_each_remote_key_once_every_object_is_ready_and_a_restart_is_silent() {
    let mut opts = Options::new(N, sesame_binary());
    opts.k = K;
    opts.steady_window = Duration::from_secs(5);
    opts.quick = true;
    // Default flags (concurrency 16, coalescing window 10 ms): the first sync of N objects over K
    // keys is planned as one wave, read ahead in full batches (src/controller/wave.rs).
    assert!(opts.aws_args.is_empty(), "the AWS first sync runs at default flags");
    let report = run::run(&opts).await.expect("the benchmark runs to the end (every object Ready)");
    println!("{}", table::render(&report));

    let pre = report.controller_first_sync.expect("the first sync from the controller's side was measured");
    let status_writes = pre.requests.get("PATCH externalsecrets/status").copied().unwrap_or(0);
    assert!(status_writes >= N as u64, "each of the {N} prestarted objects had its status written: {:?}", pre.requests);

    let restart = report.quiet_restart.expect("the restart was measured");
    assert_eq!(restart.provider_calls, 0, "provider calls in the minute after a restart with nothing due");
    assert_eq!(restart.ready_seen, N, "the restarted controller looked at every object and found it Ready");

    let aws = report.aws.expect("the AWS first sync was measured");
    assert!(aws.all_ready, "every one of the {N} AWS objects Ready: {aws:?}");
    assert_eq!(aws.first_sync_single, 0, "no single GetSecretValue on a first sync of current values");
    assert_eq!(
        aws.first_sync_batch,
        K.div_ceil(20) as u64,
        "⌈K/20⌉ BatchGetSecretValue calls for {N} objects over K = {K} at default flags"
    );

    let bao = report.openbao.expect("the OpenBao first sync was measured");
    assert_eq!(bao.first_sync_reads, K as u64, "one read per distinct path for {N} objects over K = {K} paths at default flags: {bao:?}");
}
