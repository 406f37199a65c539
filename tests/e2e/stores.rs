//! Store resolution: missing, not ready, wrong namespace, ClusterSecretStore conditions.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

fn es_spec(store: &str, kind: &str) -> serde_json::Value {
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": store, "kind": kind},
        "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
    })
}

#[tokio::test]
async fn a_missing_store_is_reported_and_the_secret_is_created_once_it_appears() {
    let scene = Scene::new("store-missing").await;
    let sesame = scene.sesame();
    scene.external_secret("es", es_spec("later", "SecretStore")).await;
    let es = scene.wait_ready(&sesame, "es", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("SecretStore later not found"), "{:?}", ready_condition(&es));
    let ok = eventually(Duration::from_secs(10), || async {
        events_for(&scene.client, &scene.ns, "es").await.iter().any(|(t, r, _)| t == "Warning" && r == "UpdateFailed")
    })
    .await;
    assert!(ok, "no Warning event for the failure");
    assert!(scene.secret("es").await.is_none());

    // The store appears and turns Ready: the ExternalSecret is re-queued at once, not after backoff.
    scene.fake_store("later", &[("/k", "v")]).await;
    wait_secret_data(&scene, &sesame, "es", &map(&[("k", "v")])).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_store_that_fails_validation_is_not_ready_and_its_secrets_are_untouched() {
    let scene = Scene::new("store-invalid").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    scene.external_secret("es", es_spec("store", "SecretStore")).await;
    wait_secret_data(&scene, &sesame, "es", &map(&[("k", "v")])).await;

    let mut broken = fake_store_json("store", Some(&scene.ns), &scene.class, &[("/k", "v")], "SecretStore");
    broken["spec"]["provider"]["fake"]["validationResult"] = 2.into();
    apply(&scene.client, &scene.ns, "secretstores", "store", broken).await;
    let ok = eventually(Duration::from_secs(20), || async {
        let store = scene.stores().get("store").await.unwrap();
        store
            .status
            .is_some_and(|s| s.conditions.iter().any(|c| c.status == "False" && c.reason.as_deref() == Some("InvalidProviderConfig")))
    })
    .await;
    assert!(ok, "the store never reported InvalidProviderConfig (ESO's reason)\n{}", tail(&sesame.logs()));
    // The next fetch (forced here) meets the store that is not Ready.
    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("es", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    let es = scene.wait_ready(&sesame, "es", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("is not ready"));
    assert_eq!(scene.secret_data("es").await, Some(map(&[("k", "v")])), "the last good Secret is kept");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_secretstore_in_another_namespace_cannot_be_used() {
    let owner = Scene::new("store-owner").await;
    owner.fake_store("private", &[("/k", "theirs")]).await;
    let attacker = Scene { client: owner.client.clone(), ns: format!("{}-x", owner.ns), class: owner.class.clone() };
    create_namespace(&owner.client, &attacker.ns, BTreeMap::new()).await;
    let sesame = Sesame::start(&owner.ns, &["--controller-class", &owner.class]);
    attacker.external_secret("steal", es_spec("private", "SecretStore")).await;
    let es = attacker.wait_ready(&sesame, "steal", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("not found"));
    assert!(attacker.secret("steal").await.is_none());
    owner.delete_namespace().await;
    attacker.delete_namespace().await;
}

#[tokio::test]
async fn cluster_secret_store_conditions_decide_which_namespaces_may_use_it() {
    let allowed = Scene::new("css-allowed").await;
    let client = allowed.client.clone();
    let class = allowed.class.clone();
    let labelled = format!("{}-lbl", allowed.ns);
    let denied = format!("{}-deny", allowed.ns);
    create_namespace(&client, &labelled, [("team".to_string(), "blue".to_string())].into()).await;
    create_namespace(&client, &denied, BTreeMap::new()).await;
    let css_name = format!("css-{}", allowed.ns);
    let mut css = fake_store_json(&css_name, None, &class, &[("/k", "shared")], "ClusterSecretStore");
    css["spec"]["conditions"] = json!([
        {"namespaces": [allowed.ns]},
        {"namespaceSelector": {"matchLabels": {"team": "blue"}}},
    ]);
    apply(&client, "", "clustersecretstores", &css_name, css).await;
    let sesame = Sesame::start(&allowed.ns, &["--controller-class", &class]);

    let scenes: Vec<Scene> = [&allowed.ns, &labelled, &denied]
        .into_iter()
        .map(|ns| Scene { client: client.clone(), ns: ns.clone(), class: class.clone() })
        .collect();
    for s in &scenes {
        s.external_secret("es", es_spec(&css_name, "ClusterSecretStore")).await;
    }
    wait_secret_data(&scenes[0], &sesame, "es", &map(&[("k", "shared")])).await;
    wait_secret_data(&scenes[1], &sesame, "es", &map(&[("k", "shared")])).await;
    let es = scenes[2].wait_ready(&sesame, "es", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("not allowed"), "{:?}", ready_condition(&es));
    assert!(scenes[2].secret("es").await.is_none());

    let css_api: kube::Api<sesame::api::ClusterSecretStore> = kube::Api::all(client.clone());
    let _ = css_api.delete(&css_name, &Default::default()).await;
    for s in &scenes {
        s.delete_namespace().await;
    }
}
