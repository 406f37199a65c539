//! The floor: a bare kube-rs client writing N target-sized Secrets, as sesame writes them
//! (server-side apply, forced, one field manager per object, the same concurrency). Nothing can
//! sync N ExternalSecrets faster on this apiserver than this.
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};

use crate::cluster;

/// Seconds to write `n` Secrets with `concurrency` requests in flight.
pub async fn run(n: usize, concurrency: usize) -> anyhow::Result<f64> {
    // Default client settings, as `sesame run` builds its client (Client::try_default).
    let client = sesame_testsupport::kube_client().await;
    let ns = cluster::unique("bench-floor");
    cluster::create_namespace(&client, &ns).await?;
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    let written = cluster::for_each(n, concurrency, |i| {
        let api = api.clone();
        async move {
            let secret = cluster::floor_secret(i);
            let name = format!("s-{i}");
            api.patch(&name, &PatchParams::apply(&format!("floor-{i}")).force(), &Patch::Apply(&secret)).await?;
            Ok(())
        }
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    cluster::delete_namespace(&client, &ns).await;
    written?;
    Ok(secs)
}
