//! ClusterPushSecret on the real apiserver: one PushSecret per selected namespace, owned by the
//! ClusterPushSecret, each pushing its own namespace's Secret (read back by an ExternalSecret);
//! a hand-written PushSecret is never overwritten; relabelled namespaces gain or lose theirs at
//! once; deleting the ClusterPushSecret removes them. ESO's metric names are exported.
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use sesame::api::{ClusterPushSecret, PushSecret};

use crate::harness::*;

/// Server-side apply of a `v1alpha1` object (PushSecret, ClusterPushSecret).
pub async fn apply_v1alpha1(client: &kube::Client, ns: &str, plural: &str, body: Value) {
    let kind = body["kind"].as_str().unwrap().to_string();
    let gvk = kube::api::GroupVersionKind::gvk("external-secrets.io", "v1alpha1", &kind);
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<kube::api::DynamicObject> =
        if plural.starts_with("cluster") { Api::all_with(client.clone(), &ar) } else { Api::namespaced_with(client.clone(), ns, &ar) };
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
}

fn push_spec(remote_key: &str) -> Value {
    json!({"refreshInterval": "1h", "deletionPolicy": "Delete", "secretStoreRefs": [{"name": "store"}],
           "selector": {"secret": {"name": "source"}},
           "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": remote_key}}}]})
}

/// A namespace with the label (or none), its own fake store and source Secret.
async fn tenant(client: &kube::Client, ns: &str, class: &str, labels: BTreeMap<String, String>) -> Scene {
    create_namespace(client, ns, labels).await;
    let scene = Scene { client: client.clone(), ns: ns.to_string(), class: class.to_string() };
    scene.fake_store("store", &[]).await;
    scene.plain_secret("source", &[("password", &format!("pw-{ns}"))]).await;
    scene
}

#[tokio::test]
async fn a_cluster_push_secret_follows_its_namespaces_and_never_takes_a_foreign_push_secret() {
    let platform = Scene::new("cps").await;
    let client = platform.client.clone();
    let id = platform.ns.clone();
    let label = || BTreeMap::from([("sesame.test/cps".to_string(), id.clone())]);
    let (one, two, later, taken) = (format!("{id}-one"), format!("{id}-two"), format!("{id}-later"), format!("{id}-taken"));
    let mut scenes = BTreeMap::new();
    for ns in [&one, &two, &taken] {
        scenes.insert(ns.clone(), tenant(&client, ns, &platform.class, label()).await);
    }
    scenes.insert(later.clone(), tenant(&client, &later, &platform.class, BTreeMap::new()).await);
    // Someone's own PushSecret of the same name in a selected namespace.
    let foreign = json!({"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
                         "metadata": {"name": "push", "namespace": taken}, "spec": push_spec("/mine")});
    apply_v1alpha1(&client, &taken, "pushsecrets", foreign).await;

    let sesame = Sesame::start(&id, &["--controller-class", &platform.class]);
    let cps_name = format!("push-{id}");
    let cps = json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "ClusterPushSecret", "metadata": {"name": cps_name},
        "spec": {"pushSecretName": "push", "pushSecretMetadata": {"labels": {"stamped-by": "cps"}}, "refreshTime": "1h",
                 "namespaceSelectors": [{"matchLabels": {"sesame.test/cps": id}}], "pushSecretSpec": push_spec("/cps/db")},
    });
    apply_v1alpha1(&client, "", "clusterpushsecrets", cps).await;
    let cpss: Api<ClusterPushSecret> = Api::all(client.clone());
    let ps_in = |ns: &str| Api::<PushSecret>::namespaced(client.clone(), ns);

    // Each namespace pushes its own Secret, readable back through its own store.
    let readback = json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"},
                          "data": [{"secretKey": "v", "remoteRef": {"key": "/cps/db"}}]});
    for ns in [&one, &two] {
        scenes[ns].external_secret("readback", readback.clone()).await;
        wait_secret_data(&scenes[ns], &sesame, "readback", &map(&[("v", &format!("pw-{ns}"))])).await;
        let ps = ps_in(ns).get("push").await.unwrap();
        assert_eq!(ps.labels().get("stamped-by").map(String::as_str), Some("cps"));
        let owner = ps.owner_references().iter().find(|o| o.controller == Some(true)).cloned().expect("a controller owner");
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("ClusterPushSecret", cps_name.as_str()));
    }
    let status_is = |provisioned: Vec<String>, failed: Vec<String>| {
        let (cpss, cps_name) = (cpss.clone(), cps_name.clone());
        async move {
            let status = cpss.get(&cps_name).await.unwrap().status.unwrap_or_default();
            let failed_now: Vec<String> = status.failed_namespaces.iter().map(|f| f.namespace.clone()).collect();
            status.provisioned_namespaces == provisioned && failed_now == failed
        }
    };
    let mut expected = vec![one.clone(), two.clone()];
    expected.sort();
    assert!(
        eventually(Duration::from_secs(60), || status_is(expected.clone(), vec![taken.clone()])).await,
        "status: {:?}\n{}",
        cpss.get(&cps_name).await.unwrap().status,
        tail(&sesame.logs())
    );
    let status = cpss.get(&cps_name).await.unwrap().status.unwrap();
    assert_eq!(status.failed_namespaces[0].reason.as_deref(), Some("push secret already exists in namespace"));
    assert_eq!(status.push_secret_name.as_deref(), Some("push"));
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.message.as_deref()), ("False", Some("one or more namespaces failed")));
    let mine = ps_in(&taken).get("push").await.unwrap();
    assert!(mine.owner_references().is_empty(), "the hand-written PushSecret was taken over");
    assert_eq!(mine.spec.data[0].r#match.remote_ref.remote_key, "/mine");

    // Relabelling: `two` leaves, `later` joins; both at once (refreshTime is an hour).
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let unlabel = json!({"metadata": {"labels": {"sesame.test/cps": null}}});
    namespaces.patch(&two, &PatchParams::default(), &Patch::Merge(&unlabel)).await.unwrap();
    let relabel = json!({"metadata": {"labels": {"sesame.test/cps": id}}});
    namespaces.patch(&later, &PatchParams::default(), &Patch::Merge(&relabel)).await.unwrap();
    let mut expected = vec![one.clone(), later.clone()];
    expected.sort();
    assert!(
        eventually(Duration::from_secs(60), || status_is(expected.clone(), vec![taken.clone()])).await,
        "after relabelling: {:?}\n{}",
        cpss.get(&cps_name).await.unwrap().status,
        tail(&sesame.logs())
    );
    assert!(
        eventually(Duration::from_secs(60), || async { ps_in(&two).get_opt("push").await.unwrap().is_none() }).await,
        "the PushSecret stayed in a namespace that left: {:?}\n{}",
        ps_in(&two).get_opt("push").await.unwrap().map(|ps| (ps.metadata.finalizers, ps.status)),
        tail(&sesame.logs())
    );
    scenes[&later].external_secret("readback", readback.clone()).await;
    wait_secret_data(&scenes[&later], &sesame, "readback", &map(&[("v", &format!("pw-{later}"))])).await;

    // A namespace named outright (Sesame's `namespaces`) is chosen whatever its labels.
    let by_name = json!({"spec": {"namespaces": [two]}});
    cpss.patch(&cps_name, &PatchParams::default(), &Patch::Merge(&by_name)).await.unwrap();
    let mut expected = vec![one.clone(), later.clone(), two.clone()];
    expected.sort();
    assert!(
        eventually(Duration::from_secs(60), || status_is(expected.clone(), vec![taken.clone()])).await,
        "after naming {two}: {:?}\n{}",
        cpss.get(&cps_name).await.unwrap().status,
        tail(&sesame.logs())
    );

    // ESO's series for both kinds, and Sesame's per-store write counters.
    let (_, metrics) = sesame.get("/metrics").await.expect("/metrics");
    let cps_ready = format!(r#"clusterpushsecret_status_condition{{name="{cps_name}",namespace="",condition="Ready",status="False"}} 1"#);
    assert!(metrics.contains(&cps_ready), "{cps_ready} missing:\n{metrics}");
    assert!(metrics.contains(&format!(r#"clusterpushsecret_reconcile_duration{{name="{cps_name}""#)), "{metrics}");
    let ps_ready = format!(r#"pushsecret_status_condition{{name="push",namespace="{one}",condition="Ready",status="True"}} 1"#);
    assert!(metrics.contains(&ps_ready), "{ps_ready} missing:\n{metrics}");
    assert!(metrics.contains(&format!(r#"pushsecret_reconcile_duration{{name="push",namespace="{one}"}}"#)), "{metrics}");
    let writes =
        sample(&metrics, "sesame_store_push_calls_total{", &[&format!(r#"namespace="{one}""#), r#"call="push""#, r#"status="success""#]);
    assert!(writes >= 1.0, "no push counted for {one}:\n{metrics}");

    // Deleting the ClusterPushSecret: the garbage collector removes what it owned, whose
    // finalizers (deletionPolicy Delete) first delete what they pushed; the foreign one stays.
    cpss.delete(&cps_name, &Default::default()).await.unwrap();
    for ns in [&one, &later] {
        assert!(
            eventually(Duration::from_secs(90), || async { ps_in(ns).get_opt("push").await.unwrap().is_none() }).await,
            "{ns} kept its PushSecret\n{}",
            tail(&sesame.logs())
        );
    }
    assert!(ps_in(&taken).get_opt("push").await.unwrap().is_some(), "the hand-written PushSecret was deleted");
    assert!(!sesame.logs().contains(&format!("pw-{one}")), "a value reached the log");
    for ns in [&one, &two, &later, &taken, &id] {
        let _ = namespaces.delete(ns, &Default::default()).await;
    }
}
