//! ClusterExternalSecret on the real apiserver: one ExternalSecret per selected namespace, owned
//! by the ClusterExternalSecret; a hand-written ExternalSecret is never overwritten; relabelled
//! namespaces gain or lose theirs at once; deleting the ClusterExternalSecret removes them.
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sesame::api::{ClusterExternalSecret, ExternalSecret};

use crate::harness::*;

#[tokio::test]
async fn a_cluster_external_secret_follows_its_namespaces_and_never_takes_a_foreign_external_secret() {
    let platform = Scene::new("ces").await;
    let client = platform.client.clone();
    let tenant = platform.ns.clone();
    let label = || BTreeMap::from([("sesame.test/ces".to_string(), tenant.clone())]);
    let (one, two, later, taken) = (format!("{tenant}-one"), format!("{tenant}-two"), format!("{tenant}-later"), format!("{tenant}-taken"));
    for ns in [&one, &two, &taken] {
        create_namespace(&client, ns, label()).await;
    }
    create_namespace(&client, &later, BTreeMap::new()).await;
    let store = format!("ces-{tenant}");
    apply(
        &client,
        "",
        "clustersecretstores",
        &store,
        fake_store_json(&store, None, &platform.class, &[("/db", "pw")], "ClusterSecretStore"),
    )
    .await;
    let es_spec = json!({"refreshInterval": "1h", "secretStoreRef": {"name": store, "kind": "ClusterSecretStore"},
                         "data": [{"secretKey": "password", "remoteRef": {"key": "/db"}}]});
    // Someone's own ExternalSecret of the same name in a selected namespace.
    let foreign = Scene { client: client.clone(), ns: taken.clone(), class: platform.class.clone() };
    foreign
        .external_secret(
            "db",
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": store, "kind": "ClusterSecretStore"},
                                        "data": [{"secretKey": "mine", "remoteRef": {"key": "/db"}}]}),
        )
        .await;

    let sesame = Sesame::start(&tenant, &["--controller-class", &platform.class]);
    let ces_name = format!("db-{tenant}");
    let ces = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret", "metadata": {"name": ces_name},
        "spec": {"externalSecretName": "db", "externalSecretMetadata": {"labels": {"stamped-by": "ces"}},
                 "namespaceSelectors": [{"matchLabels": {"sesame.test/ces": tenant}}], "externalSecretSpec": es_spec.clone()},
    });
    apply(&client, "", "clusterexternalsecrets", &ces_name, ces).await;
    let cess: Api<ClusterExternalSecret> = Api::all(client.clone());
    let es_in = |ns: &str| Api::<ExternalSecret>::namespaced(client.clone(), ns);

    for ns in [&one, &two] {
        let scene = Scene { client: client.clone(), ns: ns.clone(), class: platform.class.clone() };
        wait_secret_data(&scene, &sesame, "db", &map(&[("password", "pw")])).await;
        let es = es_in(ns).get("db").await.unwrap();
        assert_eq!(es.labels().get("stamped-by").map(String::as_str), Some("ces"));
        let owner = es.owner_references().iter().find(|o| o.controller == Some(true)).cloned().expect("a controller owner");
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("ClusterExternalSecret", ces_name.as_str()));
    }
    let status_is = |provisioned: Vec<String>, failed: Vec<String>| {
        let cess = cess.clone();
        let ces_name = ces_name.clone();
        async move {
            let status = cess.get(&ces_name).await.unwrap().status.unwrap_or_default();
            let failed_now: Vec<String> = status.failed_namespaces.iter().map(|f| f.namespace.clone()).collect();
            status.provisioned_namespaces == provisioned && failed_now == failed
        }
    };
    let mut expected = vec![one.clone(), two.clone()];
    expected.sort();
    assert!(
        eventually(Duration::from_secs(30), || status_is(expected.clone(), vec![taken.clone()])).await,
        "status: {:?}",
        cess.get(&ces_name).await.unwrap().status
    );
    let status = cess.get(&ces_name).await.unwrap().status.unwrap();
    let reason = status.failed_namespaces[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("already exists"), "{reason}");
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.message.as_deref()), ("False", Some("one or more namespaces failed")));
    let mine = es_in(&taken).get("db").await.unwrap();
    assert!(mine.owner_references().is_empty(), "the hand-written ExternalSecret was taken over");
    assert_eq!(mine.spec.data[0].secret_key, "mine");

    // Relabelling: `two` leaves, `later` joins; both at once (refreshTime is an hour).
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let unlabel = json!({"metadata": {"labels": {"sesame.test/ces": null}}});
    namespaces.patch(&two, &PatchParams::default(), &Patch::Merge(&unlabel)).await.unwrap();
    let relabel = json!({"metadata": {"labels": {"sesame.test/ces": tenant}}});
    namespaces.patch(&later, &PatchParams::default(), &Patch::Merge(&relabel)).await.unwrap();
    let mut expected = vec![one.clone(), later.clone()];
    expected.sort();
    assert!(
        eventually(Duration::from_secs(30), || status_is(expected.clone(), vec![taken.clone()])).await,
        "after relabelling: {:?}\n{}",
        cess.get(&ces_name).await.unwrap().status,
        tail(&sesame.logs())
    );
    assert!(
        eventually(Duration::from_secs(60), || async { es_in(&two).get_opt("db").await.unwrap().is_none() }).await,
        "the ExternalSecret stayed in a namespace that left: {:?}\n{}",
        es_in(&two).get_opt("db").await.unwrap().map(|es| (es.metadata.finalizers, es.metadata.deletion_timestamp)),
        tail(&sesame.logs())
    );
    assert!(es_in(&later).get_opt("db").await.unwrap().is_some());

    // A child the status does not list (a delete that failed, a second controller's write) in a
    // namespace that is not selected is found on the apiserver and removed all the same.
    let uid = cess.get(&ces_name).await.unwrap().uid().expect("a uid");
    let stray = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": two, "ownerReferences": [{"apiVersion": "external-secrets.io/v1",
                     "kind": "ClusterExternalSecret", "name": ces_name, "uid": uid, "controller": true}]},
        "spec": es_spec,
    });
    apply(&client, &two, "externalsecrets", "db", stray).await;
    assert!(
        eventually(Duration::from_secs(60), || async { es_in(&two).get_opt("db").await.unwrap().is_none() }).await,
        "an owned ExternalSecret outside the status stayed in an unselected namespace\n{}",
        tail(&sesame.logs())
    );

    // A deleted child comes back at once.
    es_in(&one).delete("db", &Default::default()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(30), || async {
            es_in(&one).get_opt("db").await.unwrap().is_some_and(|e| e.metadata.deletion_timestamp.is_none())
        })
        .await
    );

    let (_, metrics) = sesame.get("/metrics").await.expect("/metrics");
    assert!(metrics.contains("clusterexternalsecret_status_condition{"), "{metrics}");

    // Deleting the ClusterExternalSecret: the garbage collector removes what it owned, not the rest.
    cess.delete(&ces_name, &Default::default()).await.unwrap();
    for ns in [&one, &later] {
        assert!(
            eventually(Duration::from_secs(60), || async { es_in(ns).get_opt("db").await.unwrap().is_none() }).await,
            "{ns} kept its ExternalSecret"
        );
    }
    assert!(es_in(&taken).get_opt("db").await.unwrap().is_some(), "the hand-written ExternalSecret was deleted");
    let css: Api<sesame::api::ClusterSecretStore> = Api::all(client.clone());
    let _ = css.delete(&store, &Default::default()).await;
    for ns in [&one, &two, &later, &taken, &tenant] {
        let _ = namespaces.delete(ns, &Default::default()).await;
    }
}
