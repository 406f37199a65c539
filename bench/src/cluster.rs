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
