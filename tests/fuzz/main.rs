//! Bad input, fuzzed: property-based tests (proptest) of every function that reads text a user or a
//! provider controls. Properties: no panic, bounded time per input, and where an oracle exists it
//! holds (round trips, invariants the controller relies on, no secret value in any error or in
//! `render` output).
//!
//! A bounded smoke run by default (a few thousand inputs, well under a minute in a debug build).
//! Longer runs: `SESAME_FUZZ_SCALE=50 cargo test --release --test fuzz -- --nocapture` multiplies
//! every case count. cargo-fuzz (libFuzzer, coverage-guided) needs a nightly toolchain, which the
//! project's machines cannot install; proptest runs on stable.
//!
//! Each property prints `fuzz <name>: N inputs` (see it with `--nocapture`); a failure prints the
//! shrunk input that broke it. Inputs are random per run (no regression files are written into the
//! tree): rerun with the printed input to reproduce.
#![forbid(unsafe_code)]
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

mod duration;
mod inputs;
mod keys;
mod pipeline;
mod property;
mod schedule;
mod spec;
mod template;

/// The most one call on one input may take. Real inputs take microseconds; the margin is for a
/// debug build on a busy two-core machine.
pub const CALL_LIMIT: Duration = Duration::from_secs(2);

fn scale() -> u32 {
    std::env::var("SESAME_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(1)
}

/// Run `test` on `cases` inputs drawn from `strategy` (times `SESAME_FUZZ_SCALE`).
pub fn fuzz<S>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
{
    let config = Config {
        cases: cases * scale(),
        failure_persistence: None,
        max_shrink_time: 60_000,
        // Invalid inputs are the point: never give up because most inputs are rejected.
        max_global_rejects: 1_000_000,
        ..Config::default()
    };
    let tried = std::sync::atomic::AtomicU64::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |input| {
        tried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        test(input)
    });
    println!("fuzz {name}: {} inputs", tried.into_inner());
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

/// Run `f`, failing the case when it takes longer than [`CALL_LIMIT`].
pub fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    if took > CALL_LIMIT {
        return Err(TestCaseError::fail(format!("{what} took {took:?} (limit {CALL_LIMIT:?})")));
    }
    Ok(out)
}

/// One current-thread runtime per property, for the async pipeline.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}
