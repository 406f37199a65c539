//! The status floor: a bare kube-rs client writing the Ready status of N ExternalSecrets, as a
//! sync writes it (a merge patch of the status subresource: condition, refreshTime,
//! syncedResourceVersion, binding), the same concurrency, one watch on them as the harness keeps.
//! A sync writes this and the target Secret, so floor + status floor is what N syncs cost this
//! apiserver before sesame does anything.
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sesame::api::ExternalSecret;

use crate::cluster;
use crate::tracker::Tracker;

/// Seconds to write the Ready status of `n` ExternalSecrets with `concurrency` in flight (their
/// creation is not timed).
pub async fn run(n: usize, concurrency: usize, interval: Duration) -> anyhow::Result<f64> {
    let client = sesame_testsupport::kube_client().await;
    let ns = cluster::unique("bench-status");
    cluster::create_namespace(&client, &ns).await?;
    let outcome = measure(&client, &ns, n, concurrency, interval).await;
    cluster::delete_namespace(&client, &ns).await;
    cluster::wait_namespace_gone(&client, &ns, Duration::from_secs(600)).await;
    outcome
}

async fn measure(client: &kube::Client, ns: &str, n: usize, concurrency: usize, interval: Duration) -> anyhow::Result<f64> {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), ns);
    // No store: nothing reconciles these objects, only the timed writes touch their status.
    cluster::create_batched(&api, "ExternalSecrets", n, concurrency, |i| cluster::fake_external_secret(i, interval)).await?;
    let tracker = Tracker::start(client.clone(), ns);
    tracker.wait("the watch to list every ExternalSecret", Duration::from_secs(600), |objs| objs.len() >= n).await?;
    let started = Instant::now();
    cluster::for_each(n, concurrency, |i| {
        let api = api.clone();
        async move {
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            let status = json!({"status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced", "lastTransitionTime": now}],
                "refreshTime": now,
                "syncedResourceVersion": format!("1-{i:032x}"),
                "binding": {"name": format!("es-{i}")},
            }});
            api.patch_status(&format!("es-{i}"), &PatchParams::default(), &Patch::Merge(&status)).await?;
            Ok(())
        }
    })
    .await?;
    Ok(started.elapsed().as_secs_f64())
}
