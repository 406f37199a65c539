//! Beyond ESO: workloads named by `sesame.external-secrets.io/rollout-restart` restart (a new
//! `kubectl.kubernetes.io/restartedAt` on the pod template) once per change of the Secret's
//! data, never on a refresh that changed nothing.
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::*;

async fn restarted_at(deployments: &Api<Deployment>) -> Option<String> {
    let d = deployments.get("api").await.unwrap();
    d.spec?.template.metadata?.annotations?.get("kubectl.kubernetes.io/restartedAt").cloned()
}

/// RolloutRestarted Events of the ExternalSecret, counting the repeats an Event series records.
async fn restarts(scene: &Scene) -> i32 {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(scene.client.clone(), &scene.ns);
    let list = events.list(&Default::default()).await.unwrap().items;
    list.iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("app") && e.reason.as_deref() == Some("RolloutRestarted"))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

#[tokio::test]
async fn a_changed_secret_restarts_its_consumers_once_and_a_quiet_refresh_does_not() {
    let scene = Scene::new("rollout").await;
    let deployments: Api<Deployment> = Api::namespaced(scene.client.clone(), &scene.ns);
    let deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "api"}]}}},
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &deployment).await.unwrap();
    scene.fake_store("store", &[("/k", "v1")]).await;
    let sesame = scene.sesame();
    let es = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": scene.ns, "annotations": {"sesame.external-secrets.io/rollout-restart": "deployment/api"}},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]},
    });
    apply(&scene.client, &scene.ns, "externalsecrets", "app", es).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v1")])).await;
    assert_eq!(restarted_at(&deployments).await, None, "a new Secret has no running consumer to restart");

    scene.fake_store("store", &[("/k", "v2")]).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v2")])).await;
    assert!(
        eventually(Duration::from_secs(30), || async { restarted_at(&deployments).await.is_some() }).await,
        "no restart after a change"
    );
    let first = restarted_at(&deployments).await;
    assert!(eventually(Duration::from_secs(30), || async { restarts(&scene).await == 1 }).await);

    // A force-sync that fetches the same data: a sync, no restart.
    let before = scene.es("app").await.status.and_then(|s| s.synced_resource_version);
    let force = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("app", &PatchParams::default(), &Patch::Merge(&force)).await.unwrap();
    let synced = eventually(Duration::from_secs(30), || async {
        let now = scene.es("app").await.status.and_then(|s| s.synced_resource_version);
        now.is_some() && now != before
    })
    .await;
    assert!(synced, "the force-sync never completed\n{}", tail(&sesame.logs()));
    assert_eq!(restarted_at(&deployments).await, first, "a refresh that changed nothing restarted the workload");
    assert_eq!(restarts(&scene).await, 1);

    scene.fake_store("store", &[("/k", "v3")]).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("k", "v3")])).await;
    assert!(
        eventually(Duration::from_secs(30), || async { restarted_at(&deployments).await != first }).await,
        "no restart after the second change"
    );
    assert!(eventually(Duration::from_secs(30), || async { restarts(&scene).await == 2 }).await);
    scene.delete_namespace().await;
}
