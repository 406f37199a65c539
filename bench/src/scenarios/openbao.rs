//! Vault reads at default flags (issue #20): N ExternalSecrets over K distinct KV v2 paths on the
//! test OpenBao, one SecretStore with token auth, every object created before sesame starts.
//! sesame's own `sesame_store_provider_calls_total` for that store counts the reads of the first
//! sync, of the re-sync an interval change causes, and of one refresh cycle; the target is one
//! read per distinct path each time.
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use sesame::api::{ExternalSecret, SecretStore};

use crate::controller::Sesame;
use crate::run::say;
use crate::tracker::Tracker;
use crate::{OpenBaoCalls, Options, cluster, procstat, prom};

const STORE: &str = "bao";

/// An administrator's call to the test OpenBao (plain HTTP/1.0: the answer is never chunked).
async fn bao(method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = sesame_testsupport::env();
    let host = env.vault_addr.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("the test OpenBao speaks plain http"))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} /v1/{path} HTTP/1.0\r\nHost: {host}\r\nX-Vault-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        env.vault_token,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| anyhow::anyhow!("OpenBao at {} (tests/env/testenv up): {e}", env.vault_addr))?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

/// Reads sesame charged to the benchmark's store.
fn reads(metrics: &str, ns: &str) -> u64 {
    prom::sum(metrics, "sesame_store_provider_calls_total", &[("namespace", ns), ("store", STORE)]) as u64
}

pub async fn run(binary: &Path, opts: &Options) -> anyhow::Result<OpenBaoCalls> {
    let k = opts.k.max(1);
    let client = sesame_testsupport::kube_client().await;
    let ns = cluster::unique("bench-bao");
    let class = cluster::unique("bench");
    cluster::create_namespace(&client, &ns).await?;
    // `secret/<ns>/k<i>`: the namespace keeps runs on a shared OpenBao apart.
    let keys: Vec<String> = (0..k).map(|i| format!("{ns}/k{i}")).collect();
    let outcome = async {
        cluster::for_each(k, opts.concurrency, |i| {
            let key = &keys[i];
            async move {
                let (status, answer) = bao("POST", &format!("secret/data/{key}"), Some(&json!({"data": cluster::values(i)}))).await?;
                anyhow::ensure!((200..300).contains(&status), "OpenBao writing {key} answered {status}: {answer}");
                Ok(())
            }
        })
        .await?;
        measure(binary, opts, &client, &ns, &class, &keys).await
    }
    .await;
    cluster::delete_namespace(&client, &ns).await;
    cluster::for_each(k, opts.concurrency, |i| {
        let key = &keys[i];
        async move {
            let _ = bao("DELETE", &format!("secret/metadata/{key}"), None).await;
            Ok(())
        }
    })
    .await?;
    outcome
}

async fn measure(
    binary: &Path,
    opts: &Options,
    client: &kube::Client,
    ns: &str,
    class: &str,
    keys: &[String],
) -> anyhow::Result<OpenBaoCalls> {
    let n = opts.n;
    let env = sesame_testsupport::env();
    let token: Secret = serde_json::from_value(json!({"metadata": {"name": "bao-token"}, "stringData": {"token": env.vault_token}}))?;
    Api::<Secret>::namespaced(client.clone(), ns).create(&PostParams::default(), &token).await?;
    // No budget annotation: the store runs at sesame's defaults, as a new user's would.
    let store: SecretStore = serde_json::from_value(json!({
        "metadata": {"name": STORE},
        "spec": {"controller": class, "provider": {"vault": {
            "server": env.vault_addr, "path": "secret", "version": "v2",
            "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}},
        }}},
    }))?;
    Api::<SecretStore>::namespaced(client.clone(), ns).create(&PostParams::default(), &store).await?;
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), ns);
    cluster::create_batched(&api, "ExternalSecrets", n, opts.concurrency, |i| {
        cluster::external_secret(&format!("es-{i}"), STORE, &keys[i % keys.len()], opts.long_interval)
    })
    .await?;
    // The watch's initial list is done before the clock starts, as in the prestarted row.
    let tracker = Tracker::start(client.clone(), ns);
    let timeout = Duration::from_secs(600 + n as u64 / 5);
    tracker.wait("the watch to list every ExternalSecret", timeout, |objs| objs.len() >= n).await?;
    let started = Instant::now();
    let mut sesame = Sesame::start(binary, ns, class, &[], &[])?;
    let outcome = async {
        let ready = sesame.wait_ready().await?;
        tracker.wait("every OpenBao object Ready", timeout, |objs| objs.values().filter(|s| s.ready_at.is_some()).count() >= n).await?;
        let last = tracker.snapshot().values().filter_map(|s| s.ready_at).max().unwrap_or(started);
        let process = procstat::sample(sesame.pid())?;
        let mut out = OpenBaoCalls {
            n,
            k: keys.len(),
            secs: last.duration_since(started).as_secs_f64(),
            ready_secs: ready.duration_since(started).as_secs_f64(),
            first_sync_reads: reads(&sesame.metrics().await?, ns),
            peak_rss_bytes: process.hwm_bytes,
            cpu_secs: process.cpu.as_secs_f64(),
            ..Default::default()
        };
        say(format!("OpenBao first sync {:.1}s, {} reads over K = {}", out.secs, out.first_sync_reads, out.k));
        if !opts.quick {
            refresh_cycle(&sesame, &tracker, &api, opts, ns, &mut out).await?;
        }
        Ok(out)
    }
    .await;
    if outcome.is_err() {
        eprintln!("sesame log {}:\n{}", sesame.log.display(), sesame.tail());
    }
    sesame.stop();
    outcome
}

/// Patch every object to `opts.openbao_interval` (a spec change: each syncs once more at once),
/// then wait until each has refreshed once on its own; the reads of both, apart.
async fn refresh_cycle(
    sesame: &Sesame,
    tracker: &Tracker,
    api: &Api<ExternalSecret>,
    opts: &Options,
    ns: &str,
    out: &mut OpenBaoCalls,
) -> anyhow::Result<()> {
    let interval = opts.openbao_interval;
    let names: Vec<String> = (0..opts.n).map(|i| format!("es-{i}")).collect();
    // refreshTime has one-second resolution: a re-sync within the same second would not show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: HashMap<String, u32> = tracker.snapshot().into_iter().map(|(k, s)| (k, s.refreshes)).collect();
    let moved = |objs: &HashMap<String, crate::tracker::Seen>, times: u32| {
        names.iter().all(|n| objs.get(n).is_some_and(|s| s.refreshes >= before.get(n).copied().unwrap_or(0) + times))
    };
    cluster::set_interval(api, &names, interval, opts.concurrency).await?;
    let timeout = Duration::from_secs(600 + opts.n as u64 / 5);
    tracker.wait("the re-sync after the interval change", timeout, |objs| moved(objs, 1)).await?;
    out.resync_reads = reads(&sesame.metrics().await?, ns) - out.first_sync_reads;
    say(format!("OpenBao re-sync after the interval change: {} reads; now one {interval:?} cycle", out.resync_reads));
    let started = Instant::now();
    tracker.wait("one OpenBao refresh cycle", interval * 2 + timeout, |objs| moved(objs, 2)).await?;
    out.cycle_reads = reads(&sesame.metrics().await?, ns) - out.first_sync_reads - out.resync_reads;
    out.cycle_secs = started.elapsed().as_secs_f64();
    out.interval_secs = interval.as_secs_f64();
    Ok(())
}
