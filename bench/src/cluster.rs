//! Objects on the test apiserver: namespaces, CRDs, stores, ExternalSecrets, and writing many of
//! them with bounded concurrency.
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sesame::api::{ExternalSecret, SecretStore};

/// Fake store entries per store: keeps each store object far below etcd's 1.5 MiB request limit.
pub const KEYS_PER_FAKE_STORE: usize = 1000;
/// Size of each of the three values in every target Secret (floor and ExternalSecrets alike).
pub const VALUE_BYTES: usize = 32;

/// Run `make(i)` for i in 0..n with at most `concurrency` in flight; fails on the first error.
pub async fn for_each<F, Fut>(n: usize, concurrency: usize, make: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    stream::iter((0..n).map(make)).buffer_unordered(concurrency.max(1)).try_collect::<Vec<()>>().await?;
    Ok(())
}

/// Objects created per batch: progress is reported between batches, and a 30,000-object run
/// holds no more than one batch of futures.
pub const CREATE_BATCH: usize = 1000;
/// Attempts per create: a loaded apiserver answers 429 or times out now and then, and one lost
/// create must not fail a run that has spent many minutes creating.
const CREATE_ATTEMPTS: u32 = 5;

/// Create `n` objects in batches of [`CREATE_BATCH`], `concurrency` in flight, retrying transient
/// failures; `make(i)` builds object `i`. A retried create that had already succeeded (409) counts
/// as done.
pub async fn create_batched<K, F>(api: &Api<K>, what: &str, n: usize, concurrency: usize, make: F) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    F: Fn(usize) -> anyhow::Result<K>,
{
    let started = std::time::Instant::now();
    for first in (0..n).step_by(CREATE_BATCH) {
        let batch = CREATE_BATCH.min(n - first);
        for_each(batch, concurrency, |i| create_with_retries(api, make(first + i))).await?;
        if n > CREATE_BATCH {
            let done = first + batch;
            crate::run::say(format!("created {done}/{n} {what} ({:.0}/s)", done as f64 / started.elapsed().as_secs_f64().max(1e-9)));
        }
    }
    Ok(())
}

async fn create_with_retries<K>(api: &Api<K>, object: anyhow::Result<K>) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object = object?;
    for attempt in 1..=CREATE_ATTEMPTS {
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 && attempt > 1 => return Ok(()),
            Err(e) if attempt < CREATE_ATTEMPTS && transient(&e) => {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the last attempt returns")
}

/// Worth retrying: the apiserver shedding load or failing for a moment, or the connection.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Apply the CRDs generated from sesame's own types and wait until they are served.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in sesame::crdgen::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &PatchParams::apply("sesame-bench").force(), &Patch::Apply(&crd)).await?;
        for _ in 0..300 {
            let established = api
                .get(&name)
                .await?
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

pub async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"sesame-bench": "true"}}}))?;
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
    Ok(())
}

/// Delete a namespace's Secrets in one request first (the namespace controller would take them
/// one by one in the background, loading the apiserver during the next measurement), then the
/// namespace itself.
pub async fn delete_namespace(client: &Client, name: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), name);
    let _ = secrets.delete_collection(&DeleteParams::background(), &ListParams::default()).await;
    let _ = Api::<Namespace>::all(client.clone()).delete(name, &DeleteParams::background()).await;
}

/// Wait until a deleted namespace is gone (its objects deleted), so that the next measurement
/// does not share the apiserver with the namespace controller. Gives up after `timeout`.
pub async fn wait_namespace_gone(client: &Client, name: &str, timeout: Duration) {
    let api = Api::<Namespace>::all(client.clone());
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if matches!(api.get_opt(name).await, Ok(None)) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    crate::run::say(format!("namespace {name} still terminating after {timeout:?}; going on"));
}

/// Three values of the same size, as every target Secret holds.
pub fn values(i: usize) -> BTreeMap<String, String> {
    ["a", "b", "c"].iter().map(|k| (k.to_string(), format!("{k}{i:0>width$}", width = VALUE_BYTES - 1))).collect()
}

/// The floor's Secret: what an ExternalSecret's target looks like, written the way sesame writes.
pub fn floor_secret(i: usize) -> Secret {
    let data: BTreeMap<String, k8s_openapi::ByteString> =
        values(i).into_iter().map(|(k, v)| (k, k8s_openapi::ByteString(v.into_bytes()))).collect();
    Secret {
        metadata: kube::api::ObjectMeta { name: Some(format!("s-{i}")), ..Default::default() },
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// Fake store `fake-{s}` serving remote keys `es-{i}` (a JSON object of the three values) for the
/// ExternalSecrets `s*1000 .. (s+1)*1000`. Its call budget is lifted: the benchmark measures the
/// controller, not the per-store rate limit a real provider needs.
pub fn fake_store(namespace: &str, class: &str, s: usize, n: usize) -> anyhow::Result<SecretStore> {
    let first = s * KEYS_PER_FAKE_STORE;
    let data: Vec<Value> = (first..n.min(first + KEYS_PER_FAKE_STORE))
        .map(|i| json!({"key": format!("es-{i}"), "value": serde_json::to_string(&values(i)).unwrap_or_default()}))
        .collect();
    Ok(serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": format!("fake-{s}"), "namespace": namespace, "annotations": {
            "sesame.external-secrets.io/rate-limit-qps": "100000",
            "sesame.external-secrets.io/rate-limit-burst": "100000",
        }},
        "spec": {"controller": class, "provider": {"fake": {"data": data}}},
    }))?)
}

/// The fake stores `n` ExternalSecrets of the fake population read from.
pub async fn create_fake_stores(client: &Client, namespace: &str, class: &str, n: usize) -> anyhow::Result<()> {
    let stores: Api<SecretStore> = Api::namespaced(client.clone(), namespace);
    for s in 0..n.div_ceil(KEYS_PER_FAKE_STORE) {
        stores.create(&PostParams::default(), &fake_store(namespace, class, s, n)?).await?;
    }
    Ok(())
}

/// ExternalSecret `{prefix}-{i}`: three keys, all properties of one remote key (one provider read).
pub fn external_secret(name: &str, store: &str, remote_key: &str, interval: Duration) -> anyhow::Result<ExternalSecret> {
    let data: Vec<Value> =
        ["a", "b", "c"].iter().map(|p| json!({"secretKey": p, "remoteRef": {"key": remote_key, "property": p}})).collect();
    Ok(serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name},
        "spec": {
            "refreshInterval": format!("{}s", interval.as_secs()),
            "secretStoreRef": {"name": store, "kind": "SecretStore"},
            "target": {"name": name},
            "data": data,
        },
    }))?)
}

/// The fake population's ExternalSecret number `i`.
pub fn fake_external_secret(i: usize, interval: Duration) -> anyhow::Result<ExternalSecret> {
    external_secret(&format!("es-{i}"), &format!("fake-{}", i / KEYS_PER_FAKE_STORE), &format!("es-{i}"), interval)
}

pub async fn create_es(api: &Api<ExternalSecret>, es: &ExternalSecret) -> anyhow::Result<()> {
    api.create(&PostParams::default(), es).await?;
    Ok(())
}

/// Set every ExternalSecret's refreshInterval (a spec change: each syncs once more at once).
pub async fn set_interval(api: &Api<ExternalSecret>, names: &[String], interval: Duration, concurrency: usize) -> anyhow::Result<()> {
    let patch = json!({"spec": {"refreshInterval": format!("{}s", interval.as_secs())}});
    for_each(names.len(), concurrency, |i| {
        let patch = patch.clone();
        async move {
            api.patch(&names[i], &PatchParams::default(), &Patch::Merge(&patch)).await?;
            Ok(())
        }
    })
    .await
}

/// A namespace name no other run uses (other agents share the apiserver).
pub fn unique(prefix: &str) -> String {
    sesame_testsupport::unique_name(prefix)
}
