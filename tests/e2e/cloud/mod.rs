//! The real binary syncing from the protocol-faithful GCP and Azure fakes (the same fake servers
//! the provider crates test against, compiled in by `#[path]`). Only endpoints differ from
//! production, and they reach the binary the way an operator would set them: environment
//! variables. Workload identity uses ServiceAccount tokens minted by the real kube-apiserver; the
//! fakes trust its issuer and `/openid/v1/jwks` as Google and Entra ID trust a cluster's.
mod azure;
mod gcp;

use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::harness::*;

/// A ServiceAccount in the scene's namespace, for workload identity.
async fn service_account(scene: &Scene, name: &str, annotations: &[(&str, &str)]) {
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(scene.client.clone(), &scene.ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("create the ServiceAccount");
}

/// The apiserver's `/openid/v1/jwks`: the keys its ServiceAccount tokens verify with.
async fn apiserver_jwks(scene: &Scene) -> Value {
    let request = http::Request::get("/openid/v1/jwks").body(Vec::new()).unwrap();
    let text = scene.client.request_text(request).await.expect("the apiserver serves /openid/v1/jwks");
    serde_json::from_str(&text).expect("the JWKS is JSON")
}

/// Ask for an immediate refresh, as `kubectl annotate … force-sync=$(date)` does.
async fn force_sync(scene: &Scene, name: &str, stamp: &str) {
    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": stamp}}});
    scene.externalsecrets().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
}

/// Env pairs as the harness takes them.
fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Secret values and credentials must never reach the controller's log.
fn assert_not_logged(sesame: &Sesame, values: &[&str]) {
    let logs = sesame.logs();
    assert!(!logs.is_empty(), "the sesame log {} is empty", sesame.log.display());
    for (i, value) in values.iter().enumerate() {
        // Name the value by position only: the assertion message must not leak it either.
        assert!(!logs.contains(value), "secret value #{i} appears in the sesame log {}", sesame.log.display());
    }
}

/// The remote secret is gone: Ready=False with the cause, a Warning Event, and the Secret keeps
/// the data of the last good sync (deletionPolicy Retain, the default).
async fn assert_failure_reported_and_secret_kept(
    scene: &Scene,
    sesame: &Sesame,
    name: &str,
    kept: &std::collections::BTreeMap<String, String>,
    cause: &str,
) {
    let es = scene.wait_ready(sesame, name, "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains(cause), "the Ready message names the cause {cause:?}: {message}");
    let warned = eventually(Duration::from_secs(15), || async {
        events_for(&scene.client, &scene.ns, name).await.iter().any(|(t, r, _)| t == "Warning" && r == "UpdateFailed")
    })
    .await;
    assert!(warned, "no Warning UpdateFailed Event for {name}: {:?}", events_for(&scene.client, &scene.ns, name).await);
    assert_eq!(scene.secret_data(name).await.as_ref(), Some(kept), "the Secret keeps its last synced data");
}
