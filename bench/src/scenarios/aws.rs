//! Provider calls: N ExternalSecrets over K distinct AWS Secrets Manager keys on moto, counted by
//! sesame's own `externalsecret_provider_api_calls_count`, on the first sync and over one cycle.
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;
use sesame::api::{ExternalSecret, SecretStore};

use crate::controller::Sesame;
use crate::tracker::Tracker;
use crate::{AwsCalls, Options, cluster, prom};

fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    let env = sesame_testsupport::env();
    let creds = Credentials::new(sesame_testsupport::AWS_ACCESS_KEY_ID, sesame_testsupport::AWS_SECRET_ACCESS_KEY, None, None, "bench");
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(env.aws_region.clone()))
        .endpoint_url(&env.aws_endpoint)
        .credentials_provider(creds)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

fn calls(metrics: &str, call: &str) -> u64 {
    prom::sum(metrics, "externalsecret_provider_api_calls_count", &[("provider", "AWS/SecretsManager"), ("call", call)]) as u64
}

pub async fn run(binary: &Path, opts: &Options) -> anyhow::Result<AwsCalls> {
    let (n, k) = (opts.n, opts.k.max(1));
    let client = sesame_testsupport::kube_client().await;
    let ns = cluster::unique("bench-aws");
    let class = cluster::unique("bench");
    cluster::create_namespace(&client, &ns).await?;
    let sm = secrets_manager();
    let keys: Vec<String> = (0..k).map(|i| format!("{ns}/k{i}")).collect();
    cluster::for_each(k, opts.concurrency, |i| {
        let (sm, key) = (sm.clone(), keys[i].clone());
        async move {
            let value = serde_json::to_string(&cluster::values(i))?;
            sm.create_secret().name(key).secret_string(value).send().await.map_err(|e| {
                anyhow::anyhow!(
                    "moto at {} (tests/env/testenv up): {}",
                    sesame_testsupport::env().aws_endpoint,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
            Ok(())
        }
    })
    .await?;
    let creds: Secret = serde_json::from_value(json!({"metadata": {"name": "aws-creds"}, "stringData": {
        "id": sesame_testsupport::AWS_ACCESS_KEY_ID, "secret": sesame_testsupport::AWS_SECRET_ACCESS_KEY}}))?;
    Api::<Secret>::namespaced(client.clone(), &ns).create(&PostParams::default(), &creds).await?;
    let store: SecretStore = serde_json::from_value(json!({
        "metadata": {"name": "aws"},
        "spec": {"controller": class, "provider": {"aws": {
            "service": "SecretsManager",
            "region": sesame_testsupport::env().aws_region,
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"},
            }},
        }}},
    }))?;
    Api::<SecretStore>::namespaced(client.clone(), &ns).create(&PostParams::default(), &store).await?;
    // Every object exists before the controller starts: the first sync sees all N at once.
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), &ns);
    cluster::for_each(n, opts.concurrency, |i| {
        let api = api.clone();
        let key = keys[i % k].clone();
        async move { cluster::create_es(&api, &cluster::external_secret(&format!("es-{i}"), "aws", &key, opts.aws_interval)?).await }
    })
    .await?;
    let tracker = Tracker::start(client.clone(), &ns);
    let vars = [("AWS_ENDPOINT_URL", sesame_testsupport::env().aws_endpoint.clone()), ("AWS_EC2_METADATA_DISABLED", "true".into())];
    let mut sesame = Sesame::start(binary, &ns, &class, &opts.aws_args, &vars)?;
    sesame.wait_ready().await?;
    let cycle = (!opts.quick).then_some(opts.aws_interval);
    let outcome = measure(&sesame, &tracker, n, k, cycle).await.map(|o| AwsCalls { args: opts.aws_args.clone(), ..o });
    sesame.stop();
    drop(tracker);
    cluster::delete_namespace(&client, &ns).await;
    for key in &keys {
        let _ = sm.delete_secret().secret_id(key).force_delete_without_recovery(true).send().await;
    }
    // The OpenBao row comes next: the namespace controller must not share its timing.
    cluster::wait_namespace_gone(&client, &ns, Duration::from_secs(600)).await;
    outcome
}

/// The first sync's calls; with `cycle`, also the calls of one refresh cycle.
async fn measure(sesame: &Sesame, tracker: &Tracker, n: usize, k: usize, cycle: Option<Duration>) -> anyhow::Result<AwsCalls> {
    let timeout = Duration::from_secs(600 + n as u64 / 5);
    // Not `?`: a first sync that never completes is reported as `all_ready: false` with the
    // calls made so far, and the smoke test asserts on it.
    let waited = tracker.wait("AWS first sync", timeout, |objs| objs.values().filter(|s| s.ready_at.is_some()).count() >= n).await;
    if let Err(e) = &waited {
        eprintln!("bench: {e}");
    }
    let first = sesame.metrics().await?;
    let ready = tracker.ready_count(|name| name.starts_with("es-"));
    let mut out = AwsCalls {
        n,
        k,
        expected_first_sync: k.div_ceil(20) as u64,
        first_sync_batch: calls(&first, "BatchGetSecretValue"),
        first_sync_single: calls(&first, "GetSecretValue"),
        all_ready: waited.is_ok() && ready == n,
        ..Default::default()
    };
    let Some(interval) = cycle.filter(|_| out.all_ready) else {
        return Ok(out);
    };
    let started = Instant::now();
    // One cycle: every object has refreshed once (nothing changed on moto).
    tracker.wait("one AWS refresh cycle", interval * 2 + timeout, |objs| objs.values().filter(|s| s.refreshes >= 1).count() >= n).await?;
    let cycle = sesame.metrics().await?;
    out.cycle_batch = calls(&cycle, "BatchGetSecretValue") - out.first_sync_batch;
    out.cycle_single = calls(&cycle, "GetSecretValue") - out.first_sync_single;
    out.cycle_secs = started.elapsed().as_secs_f64();
    Ok(out)
}
