//! `refreshPolicy: OnChange` and `CreatedOnce` follow only the ExternalSecret itself (ESO compares
//! its generation, labels and annotations): a store edit, such as rotated store credentials or new
//! fake data, costs them no provider call, while a `Periodic` object re-syncs at once.
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_store_edit_resyncs_periodic_objects_but_not_on_change_or_created_once() {
    let scene = Scene::new("onchange").await;
    scene.fake_store("store", &[("/k", "v1")]).await;
    let sesame = scene.sesame();
    let es = |policy: &str| {
        json!({"refreshInterval": "1h", "refreshPolicy": policy, "secretStoreRef": {"name": "store"},
               "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]})
    };
    for (name, policy) in [("periodic", "Periodic"), ("on-change", "OnChange"), ("once", "CreatedOnce")] {
        scene.external_secret(name, es(policy)).await;
        wait_secret_data(&scene, &sesame, name, &map(&[("k", "v1")])).await;
    }
    scene.fake_store("store", &[("/k", "v2")]).await;
    // The Periodic object shows the store edit was seen and handled.
    wait_secret_data(&scene, &sesame, "periodic", &map(&[("k", "v2")])).await;
    for name in ["on-change", "once"] {
        assert_eq!(scene.secret_data(name).await, Some(map(&[("k", "v1")])), "{name} re-synced on a store edit");
    }
    // OnChange follows its own change.
    let label = json!({"metadata": {"labels": {"bump": "1"}}});
    scene.externalsecrets().patch("on-change", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&label)).await.unwrap();
    wait_secret_data(&scene, &sesame, "on-change", &map(&[("k", "v2")])).await;
    assert_eq!(scene.secret_data("once").await, Some(map(&[("k", "v1")])), "CreatedOnce never fetches again");
    scene.delete_namespace().await;
}
