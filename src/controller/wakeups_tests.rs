use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::{Next, Wakeups, Woken};

fn names(woken: &[Woken]) -> Vec<String> {
    let mut names: Vec<String> = woken.iter().map(ToString::to_string).collect();
    names.sort();
    names
}

fn due_by(wakeups: &Wakeups, after: Duration) -> Vec<String> {
    let mut out = Vec::new();
    wakeups.take_due(Instant::now() + after, &mut out);
    names(&out)
}

#[test]
fn an_object_wakes_once_when_its_time_comes_and_not_before() {
    let wakeups = Wakeups::default();
    wakeups.set("team-a", "db", Next::requeue(Duration::from_secs(60)));
    assert!(due_by(&wakeups, Duration::from_secs(59)).is_empty());
    assert_eq!(due_by(&wakeups, Duration::from_secs(61)), ["team-a/db"]);
    assert!(due_by(&wakeups, Duration::from_secs(3600)).is_empty(), "a wake-up is consumed as it fires");
    assert_eq!(wakeups.len(), 0);
}

#[test]
fn a_wake_up_never_fires_before_its_instant_even_within_its_tick() {
    let wakeups = Wakeups::default();
    wakeups.set("team-a", "db", Next::requeue(Duration::from_millis(250)));
    let tick = *wakeups.state.lock().unwrap().wheel.keys().next().expect("one wake-up");
    let at = wakeups.instant_of(tick);
    let mut out = Vec::new();
    for early in [Duration::from_millis(99), Duration::from_millis(50), Duration::from_millis(1)] {
        let next = wakeups.take_due(at - early, &mut out);
        assert!(out.is_empty(), "handed out {early:?} before its instant");
        assert_eq!(next, Some(at), "the loop sleeps until the instant");
    }
    wakeups.take_due(at, &mut out);
    assert_eq!(names(&out), ["team-a/db"]);
}

#[test]
fn the_last_decision_replaces_the_one_before_earlier_or_later() {
    let wakeups = Wakeups::default();
    wakeups.set("team-a", "db", Next::requeue(Duration::from_secs(60)));
    wakeups.set("team-a", "db", Next::requeue(Duration::from_secs(600)));
    assert!(due_by(&wakeups, Duration::from_secs(120)).is_empty(), "the later decision replaced the earlier wake-up");
    wakeups.set("team-a", "db", Next::requeue(Duration::from_secs(10)));
    assert_eq!(due_by(&wakeups, Duration::from_secs(11)), ["team-a/db"]);
    assert!(due_by(&wakeups, Duration::from_secs(3600)).is_empty(), "nothing left of the replaced ones");
}

#[test]
fn waiting_for_a_change_or_a_deletion_drops_the_wake_up() {
    let wakeups = Wakeups::default();
    wakeups.set("team-a", "db", Next::requeue(Duration::from_secs(60)));
    wakeups.set("team-a", "db", Next::await_change());
    wakeups.set("team-b", "db", Next::requeue(Duration::from_secs(60)));
    wakeups.forget("team-b", "db");
    assert!(due_by(&wakeups, Duration::from_secs(3600)).is_empty());
    assert_eq!(wakeups.len(), 0);
}

#[test]
fn objects_due_at_one_instant_wake_together_and_namespaces_stay_apart() {
    let wakeups = Wakeups::default();
    for ns in ["team-a", "team-b"] {
        wakeups.set(ns, "db", Next::requeue(Duration::from_secs(30)));
    }
    wakeups.set("team-a", "cache", Next::requeue(Duration::from_secs(90)));
    assert_eq!(due_by(&wakeups, Duration::from_secs(31)), ["team-a/db", "team-b/db"]);
    assert_eq!(due_by(&wakeups, Duration::from_secs(91)), ["team-a/cache"]);
}

#[test]
fn an_object_re_scheduled_without_end_leaves_a_bounded_number_of_entries() {
    // A tenant editing one object all day re-schedules it on every reconcile.
    let wakeups = Wakeups::default();
    for i in 0..20_000u64 {
        wakeups.set("team-a", "busy", Next::requeue(Duration::from_millis(3_600_000 + i * 100)));
    }
    let entries = wakeups.state.lock().unwrap().entries;
    // Compacted once the stale entries pass twice the live ones plus 1,024.
    assert!(entries <= 2 + 1024 + 1, "{entries} wheel entries for one object");
    assert_eq!(due_by(&wakeups, Duration::from_secs(10_000)), ["team-a/busy"], "and it still wakes, once");
}

#[tokio::test]
async fn the_stream_yields_objects_as_they_come_due_including_ones_set_while_it_waits() {
    let wakeups = Arc::new(Wakeups::default());
    wakeups.set("team-a", "later", Next::requeue(Duration::from_secs(3600)));
    let mut fired = Box::pin(wakeups.clone().fired());
    // The stream is asleep until the hour; an earlier wake-up set now must cut that short.
    let setter = {
        let wakeups = wakeups.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            wakeups.set("team-a", "soon", Next::requeue(Duration::from_millis(200)));
        })
    };
    let woken =
        tokio::time::timeout(Duration::from_secs(30), fired.next()).await.expect("woken within 30 s").expect("the stream never ends");
    setter.await.unwrap();
    assert_eq!(names(&[woken]), ["team-a/soon"]);
    assert_eq!(wakeups.len(), 1, "the hour's wake-up is still set");
}
