use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};

use super::*;

/// A runner over keys `u32`, each pass held until the test releases it.
struct Probe {
    asks: mpsc::UnboundedSender<u32>,
    ready: Option<oneshot::Sender<()>>,
    stop: Option<oneshot::Sender<()>>,
    started: Arc<Mutex<Vec<u32>>>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
    run: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// `known`: the keys the cache holds.
    fn start(concurrency: usize, known: &[u32]) -> Probe {
        let (asks, requests) = mpsc::unbounded();
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (started, running, peak) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let known: HashMap<u32, ()> = known.iter().map(|k| (*k, ())).collect();
        let (s, r, p, g) = (Arc::clone(&started), running.clone(), peak.clone(), gate.clone());
        let run = tokio::spawn(run(
            requests,
            ready_rx.map(|_| ()),
            stop_rx.map(|_| ()),
            concurrency,
            move |k: &u32| known.get(k).copied(),
            move |k: &u32, ()| {
                let (k, s, r, p, g) = (*k, s.clone(), r.clone(), p.clone(), g.clone());
                async move {
                    s.lock().unwrap().push(k);
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    g.acquire().await.expect("gate open").forget();
                    r.fetch_sub(1, Ordering::SeqCst);
                }
            },
        ));
        Probe { asks, ready: Some(ready_tx), stop: Some(stop_tx), started, running, peak, gate, run }
    }

    fn ask(&self, keys: &[u32]) {
        for k in keys {
            self.asks.unbounded_send(*k).expect("runner listening");
        }
    }

    fn ready(&mut self) {
        let _ = self.ready.take().expect("once").send(());
    }

    fn started(&self) -> Vec<u32> {
        self.started.lock().unwrap().clone()
    }

    /// Waits until `n` passes have started.
    async fn until_started(&self, n: usize) {
        until(|| self.started.lock().unwrap().len() >= n).await
    }

    /// Waits until no pass runs.
    async fn until_idle(&self) {
        until(|| self.running.load(Ordering::SeqCst) == 0).await
    }
}

async fn until(condition: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition reached in time");
}

/// Lets every task run until it waits (the runner has taken what it can).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn nothing_runs_before_the_cache_is_listed_and_each_object_is_queued_once() {
    let mut probe = Probe::start(4, &[1, 2, 3]);
    probe.ask(&[1, 2, 1, 3, 2, 1]);
    settle().await;
    assert!(probe.started().is_empty(), "requests wait for the cache");
    probe.ready();
    probe.until_started(3).await;
    probe.gate.add_permits(3);
    probe.until_idle().await;
    settle().await;
    assert_eq!(probe.started(), [1, 2, 3], "in the order first asked, once each");
}

#[tokio::test]
async fn at_most_concurrency_passes_run_at_once() {
    let mut probe = Probe::start(2, &[1, 2, 3, 4, 5]);
    probe.ready();
    probe.ask(&[1, 2, 3, 4, 5]);
    probe.until_started(2).await;
    settle().await;
    assert_eq!(probe.started().len(), 2);
    probe.gate.add_permits(5);
    probe.until_started(5).await;
    probe.until_idle().await;
    assert_eq!(probe.peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_object_asked_for_while_it_runs_runs_again_after_and_never_twice_at_once() {
    let mut probe = Probe::start(4, &[7]);
    probe.ready();
    probe.ask(&[7]);
    probe.until_started(1).await;
    probe.ask(&[7, 7, 7]);
    settle().await;
    assert_eq!(probe.started(), [7], "not while it runs");
    probe.gate.add_permits(1);
    probe.until_started(2).await;
    probe.gate.add_permits(1);
    probe.until_idle().await;
    settle().await;
    assert_eq!(probe.started(), [7, 7], "once more for all the asks during the pass");
    assert_eq!(probe.peak.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_object_the_cache_no_longer_holds_is_not_run() {
    let mut probe = Probe::start(4, &[1]);
    probe.ready();
    probe.ask(&[9, 1]);
    probe.until_started(1).await;
    probe.gate.add_permits(1);
    probe.until_idle().await;
    settle().await;
    assert_eq!(probe.started(), [1]);
}

#[tokio::test]
async fn a_shutdown_starts_nothing_new_and_waits_for_the_passes_under_way() {
    let mut probe = Probe::start(1, &[1, 2]);
    probe.ready();
    probe.ask(&[1, 2]);
    probe.until_started(1).await;
    let _ = probe.stop.take().expect("once").send(());
    settle().await;
    assert!(!probe.run.is_finished(), "the pass under way is waited for");
    probe.gate.add_permits(2);
    tokio::time::timeout(Duration::from_secs(10), &mut probe.run).await.expect("ends").expect("no panic");
    assert_eq!(probe.started(), [1], "the queued object is left for the next process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_that_blocks_its_thread_holds_up_neither_requests_nor_other_passes() {
    // A render runs in `block_in_place`: here pass 1 blocks until pass 2 has run.
    let (asks, requests) = mpsc::unbounded();
    let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (release, done) = (released.clone(), Arc::new(AtomicUsize::new(0)));
    let finished = done.clone();
    let (_stop, stop_rx) = oneshot::channel::<()>();
    tokio::spawn(run(
        requests,
        async {},
        stop_rx.map(|_| ()),
        2,
        |k: &u32| Some(*k),
        move |k: &u32, _| {
            let (k, release, finished) = (*k, release.clone(), finished.clone());
            async move {
                if k == 1 {
                    finished.fetch_add(10, Ordering::SeqCst);
                    // Bounded, so that a runner that fails this fails the test instead of hanging it.
                    let since = std::time::Instant::now();
                    tokio::task::block_in_place(|| {
                        while !release.load(Ordering::SeqCst) && since.elapsed() < Duration::from_secs(20) {
                            std::thread::yield_now();
                        }
                    });
                } else {
                    release.store(true, Ordering::SeqCst);
                }
                finished.fetch_add(1, Ordering::SeqCst);
            }
        },
    ));
    asks.unbounded_send(1).expect("runner listening");
    // Pass 1 counts 10 as it starts blocking, then 1 for each pass that ends.
    until(|| done.load(Ordering::SeqCst) == 10).await;
    asks.unbounded_send(2).expect("runner listening");
    until(|| done.load(Ordering::SeqCst) == 12).await;
}
