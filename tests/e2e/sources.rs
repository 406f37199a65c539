//! Per-entry sources: `data[].sourceRef.storeRef` and `dataFrom[].sourceRef.storeRef` read an entry
//! from its own store, under the same tenancy and ClusterSecretStore condition checks as
//! `spec.secretStoreRef`; a change of any of those stores re-syncs the ExternalSecret.
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn each_entry_reads_from_the_store_it_names_and_follows_that_store() {
    let scene = Scene::new("e2e-src").await;
    scene.fake_store("one", &[("/a", "from-one")]).await;
    scene.fake_store("two", &[("/b", "from-two"), ("/json", r#"{"x":"from-two-json"}"#)]).await;
    let sesame = scene.sesame();
    scene
        .external_secret(
            "mixed",
            json!({
                "secretStoreRef": {"name": "one"},
                "refreshInterval": "1h",
                "data": [
                    {"secretKey": "a", "remoteRef": {"key": "/a"}},
                    {"secretKey": "b", "remoteRef": {"key": "/b"}, "sourceRef": {"storeRef": {"name": "two", "kind": "SecretStore"}}},
                ],
                "dataFrom": [{"extract": {"key": "/json"}, "sourceRef": {"storeRef": {"name": "two"}}}],
            }),
        )
        .await;
    let want = map(&[("a", "from-one"), ("b", "from-two"), ("x", "from-two-json")]);
    wait_secret_data(&scene, &sesame, "mixed", &want).await;

    // No spec.secretStoreRef at all: every entry names its own store (as ESO allows).
    scene
        .external_secret(
            "own-stores",
            json!({"data": [
                {"secretKey": "a", "remoteRef": {"key": "/a"}, "sourceRef": {"storeRef": {"name": "one"}}},
                {"secretKey": "b", "remoteRef": {"key": "/b"}, "sourceRef": {"storeRef": {"name": "two"}}},
            ]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "own-stores", &map(&[("a", "from-one"), ("b", "from-two")])).await;

    // A change of a store named only by a sourceRef re-syncs at once (the interval is an hour).
    scene.fake_store("two", &[("/b", "two-edited"), ("/json", r#"{"x":"json-edited"}"#)]).await;
    wait_secret_data(&scene, &sesame, "mixed", &map(&[("a", "from-one"), ("b", "two-edited"), ("x", "json-edited")])).await;
    wait_secret_data(&scene, &sesame, "own-stores", &map(&[("a", "from-one"), ("b", "two-edited")])).await;

    // An entry without a source of its own needs spec.secretStoreRef.
    scene.external_secret("no-store", json!({"data": [{"secretKey": "a", "remoteRef": {"key": "/a"}}]})).await;
    let es = scene.wait_ready(&sesame, "no-store", "False", "SecretSyncedError").await;
    let (_, _, message) = ready_condition(&es).unwrap();
    assert!(message.contains("spec.secretStoreRef is required"), "{message}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_source_ref_obeys_tenancy_and_cluster_store_conditions() {
    let scene = Scene::new("e2e-srct").await;
    let other = Scene { client: scene.client.clone(), ns: format!("{}-o", scene.ns), class: scene.class.clone() };
    create_namespace(&scene.client, &other.ns, Default::default()).await;
    scene.fake_store("mine", &[("/a", "mine")]).await;
    // A SecretStore of another namespace, holding what this namespace must not read.
    other.fake_store("theirs", &[("/secret", "theirs")]).await;
    // A ClusterSecretStore that admits the other namespace only.
    let css_name = format!("{}-css", scene.ns);
    let mut css = fake_store_json(&css_name, None, &scene.class, &[("/secret", "cluster")], "ClusterSecretStore");
    css["spec"]["conditions"] = json!([{"namespaces": [other.ns]}]);
    apply(&scene.client, "", "clustersecretstores", &css_name, css).await;
    let sesame = Sesame::start(&scene.ns, &["--controller-class", &scene.class]);

    let entry = |store: serde_json::Value| {
        json!({"secretStoreRef": {"name": "mine"}, "data": [
            {"secretKey": "a", "remoteRef": {"key": "/a"}},
            {"secretKey": "s", "remoteRef": {"key": "/secret"}, "sourceRef": {"storeRef": store}},
        ]})
    };
    scene.external_secret("cross-ns", entry(json!({"name": "theirs", "kind": "SecretStore"}))).await;
    scene.external_secret("not-admitted", entry(json!({"name": css_name, "kind": "ClusterSecretStore"}))).await;
    let es = scene.wait_ready(&sesame, "cross-ns", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(
        message.contains("SecretStore theirs not found"),
        "a SecretStore is looked up in the ExternalSecret's namespace only: {message}"
    );
    let es = scene.wait_ready(&sesame, "not-admitted", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(message.contains(&format!("ClusterSecretStore {css_name}")) && message.contains("not allowed"), "{message}");
    // Nothing was written from the entries that could be read either: one refused source fails the sync.
    for name in ["cross-ns", "not-admitted"] {
        assert!(scene.secret(name).await.is_none(), "{name} wrote a Secret despite a refused source");
        let warned = eventually(Duration::from_secs(30), || async {
            events_for(&scene.client, &scene.ns, name).await.iter().any(|(t, r, _)| t == "Warning" && r == "UpdateFailed")
        })
        .await;
        assert!(warned, "{name}: no UpdateFailed Event: {:?}", events_for(&scene.client, &scene.ns, name).await);
    }
    // The other namespace, admitted by the ClusterSecretStore, reads it through a sourceRef.
    other
        .external_secret(
            "admitted",
            json!({"data": [{"secretKey": "s", "remoteRef": {"key": "/secret"}, "sourceRef": {"storeRef": {"name": css_name, "kind": "ClusterSecretStore"}}}]}),
        )
        .await;
    let ok = eventually(Duration::from_secs(30), || async { other.secret_data("admitted").await == Some(map(&[("s", "cluster")])) }).await;
    assert!(ok, "the admitted namespace never read the ClusterSecretStore: {}", tail(&sesame.logs()));
    let _ = kube::Api::<sesame::api::ClusterSecretStore>::all(scene.client.clone()).delete(&css_name, &Default::default()).await;
    other.delete_namespace().await;
    scene.delete_namespace().await;
}
