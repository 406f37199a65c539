//! ESO's CRDs kept (their schema lets through values Sesame's types did not know, and values no
//! type knows): on a private apiserver whose CRDs are as permissive as ESO's, ESO 2.9 values
//! (`CreateOrMerge`, a lowercase `templateFrom[].target`, `aws.service: CertificateManager`, a
//! secret ref without `name`) work or are reported on their object, and objects that do not
//! decode at all get Ready=False naming the field, while every other object syncs, readiness
//! comes, no value reaches the log, and SIGTERM ends the process.
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, PostParams};

use super::private_apiserver::PrivateCluster;
use super::*;
use crate::harness::apply;

const GOOD: &str = "fake-good-value-3b8e";
const SERVICE_LEAK: &str = "service-leak-6c2f";
const CSS_LEAK: &str = "css-data-leak-91d0";
const ES_LEAK: &str = "policy-leak-77aa";
const PS_LEAK: &str = "update-policy-leak-5e1f";

/// A CRD shaped as loosely as ESO's for what this test needs: any spec, a status subresource.
fn permissive_crd(plural: &str, kind: &str, scope: &str, version: &str) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.external-secrets.io")},
        "spec": {
            "group": "external-secrets.io", "scope": scope,
            "names": {"plural": plural, "kind": kind, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{
                "name": version, "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    }))
    .unwrap()
}

async fn install_permissive_crds(client: &kube::Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (plural, kind, scope) in [
        ("externalsecrets", "ExternalSecret", "Namespaced"),
        ("secretstores", "SecretStore", "Namespaced"),
        ("clustersecretstores", "ClusterSecretStore", "Cluster"),
        ("pushsecrets", "PushSecret", "Namespaced"),
    ] {
        let crd = permissive_crd(plural, kind, scope, version_of(kind));
        let name = crd.name_any();
        api.patch(&name, &kube::api::PatchParams::apply("sesame-e2e").force(), &kube::api::Patch::Apply(&crd))
            .await
            .expect("replace a CRD");
        let permissive = eventually(Duration::from_secs(30), || async {
            let Ok(c) = api.get(&name).await else { return false };
            let schema = c.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
            let established =
                c.status.and_then(|s| s.conditions).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            established && schema.is_some_and(|s| s.x_kubernetes_preserve_unknown_fields == Some(true))
        });
        assert!(permissive.await, "CRD {name} never served the permissive schema");
    }
}

/// ESO serves PushSecrets in v1alpha1, everything else here in v1.
fn version_of(kind: &str) -> &'static str {
    if kind == "PushSecret" { "v1alpha1" } else { "v1" }
}

/// The Ready condition (status, reason, message) of any external-secrets.io object, read without
/// Sesame's types (they cannot decode the objects under test).
async fn ready(client: &kube::Client, ns: Option<&str>, plural: &str, kind: &str, name: &str) -> Option<(String, String, String)> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("external-secrets.io", version_of(kind), kind), plural);
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let object = api.get(name).await.ok()?;
    let conditions = object.data["status"]["conditions"].as_array()?.clone();
    let c = conditions.iter().find(|c| c["type"] == "Ready")?;
    let text = |f: &str| c[f].as_str().unwrap_or_default().to_string();
    Some((text("status"), text("reason"), text("message")))
}

#[tokio::test]
async fn objects_sesame_cannot_decode_are_reported_and_stall_nothing() {
    let cluster = PrivateCluster::start("flt-decode").await;
    let client = cluster.client().await;
    install_permissive_crds(&client).await;
    let scene = Scene { client: client.clone(), ns: "flt-decode".into(), class: format!("class-{}", std::process::id()) };
    create_namespace(&client, &scene.ns, Default::default()).await;
    let (ns, class) = (scene.ns.as_str(), scene.class.as_str());
    let store = |name: &str, provider: serde_json::Value| {
        json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name, "namespace": ns},
               "spec": {"controller": class, "provider": provider}})
    };
    let es = |name: &str, spec: serde_json::Value| json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": name, "namespace": ns}, "spec": spec});
    let plain = |target: &str, creation: &str| {
        json!({"secretStoreRef": {"name": "good"}, "target": {"name": target, "creationPolicy": creation},
               "data": [{"secretKey": "a", "remoteRef": {"key": "/a"}}]})
    };
    let existing = k8s_openapi::api::core::v1::Secret {
        metadata: ObjectMeta { name: Some("existing".into()), ..Default::default() },
        string_data: Some([("theirs".to_string(), "x".to_string())].into()),
        ..Default::default()
    };
    scene.secrets().create(&PostParams::default(), &existing).await.unwrap();

    // ESO 2.9 values.
    scene.fake_store("good", &[("/a", GOOD)]).await;
    let keys = json!({"accessKeyIDSecretRef": {"name": "aws", "key": "id"}, "secretAccessKeySecretRef": {"name": "aws", "key": "secret"}});
    let acm = json!({"aws": {"service": "CertificateManager", "region": "us-east-1", "auth": {"secretRef": keys}}});
    apply(&client, ns, "secretstores", "acm", store("acm", acm)).await;
    let nameless = json!({"accessKeyIDSecretRef": {"key": "id"}, "secretAccessKeySecretRef": {"key": "secret"}});
    let nameless = json!({"aws": {"service": "SecretsManager", "region": "us-east-1", "auth": {"secretRef": nameless}}});
    apply(&client, ns, "secretstores", "nameless", store("nameless", nameless)).await;
    apply(&client, ns, "externalsecrets", "plain", es("plain", plain("plain", "Owner"))).await;
    apply(&client, ns, "externalsecrets", "com", es("com", plain("existing", "CreateOrMerge"))).await;
    let mut lower = plain("lowercase", "Owner");
    lower["target"]["template"] = json!({"templateFrom": [
        {"literal": "greeting: hello-{{ .a }}", "target": "data"},
        {"literal": "team: blue", "target": "labels"},
    ]});
    apply(&client, ns, "externalsecrets", "lower", es("lower", lower)).await;
    // Values no Sesame type accepts, each beside a value that must never be shown.
    apply(&client, ns, "secretstores", "future", store("future", json!({"aws": {"service": SERVICE_LEAK, "region": "us-east-1"}}))).await;
    let css = format!("bad-{class}");
    let body = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": css},
                      "spec": {"controller": class, "provider": {"fake": {"data": CSS_LEAK}}}});
    apply(&client, "", "clustersecretstores", &css, body).await;
    let mut typo = plain("typo", "Owner");
    typo["refreshPolicy"] = ES_LEAK.into();
    apply(&client, ns, "externalsecrets", "typo", es("typo", typo)).await;
    // PushSecrets decode one by one too: a bad one beside a good one that pushes.
    let push = |name: &str, policy: &str| {
        json!({"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": name, "namespace": ns},
               "spec": {"updatePolicy": policy, "secretStoreRefs": [{"name": "good"}], "selector": {"secret": {"name": "existing"}},
                        "data": [{"match": {"secretKey": "theirs", "remoteRef": {"remoteKey": "/pushed"}}}]}})
    };
    crate::cluster_push_secret::apply_v1alpha1(&client, ns, "pushsecrets", push("bad-push", PS_LEAK)).await;
    crate::cluster_push_secret::apply_v1alpha1(&client, ns, "pushsecrets", push("good-push", "Replace")).await;

    // Admin on the private apiserver: the shipped RBAC is not installed there (the shared one's
    // tests run under it; the harness wants that identity set up even when it is not used).
    crate::harness::install_crds().await;
    let vars = [("KUBECONFIG", cluster.kubeconfig.to_str().unwrap())];
    let mut sesame = Sesame::start_with_env("flt-decode", &["--namespace", ns, "--controller-class", class], &vars);
    sesame.wait_ready().await;
    wait_secret_data(&scene, &sesame, "plain", &map(&[("a", GOOD)])).await;
    let merged = wait_secret_data(&scene, &sesame, "existing", &map(&[("a", GOOD), ("theirs", "x")])).await;
    assert!(merged.owner_references().is_empty(), "CreateOrMerge sets no ownerReference");
    let templated = wait_secret_data(&scene, &sesame, "lowercase", &map(&[("greeting", &format!("hello-{GOOD}"))])).await;
    assert_eq!(templated.labels().get("team").map(String::as_str), Some("blue"), "target: labels");

    // (object, plural, kind, namespace, reason, the message names)
    let reports = [
        ("acm", "secretstores", "SecretStore", Some(ns), "InvalidProviderConfig", "CertificateManager is not supported"),
        ("nameless", "secretstores", "SecretStore", Some(ns), "InvalidProviderConfig", "names no secret"),
        ("future", "secretstores", "SecretStore", Some(ns), "InvalidProviderConfig", "field spec.provider.aws.service"),
        (css.as_str(), "clustersecretstores", "ClusterSecretStore", None, "InvalidProviderConfig", "field spec.provider.fake.data"),
        ("typo", "externalsecrets", "ExternalSecret", Some(ns), "SecretSyncedError", "field spec.refreshPolicy"),
        ("bad-push", "pushsecrets", "PushSecret", Some(ns), "Errored", "field spec.updatePolicy"),
    ];
    let mut texts = Vec::new();
    for (name, plural, kind, namespace, reason, needle) in reports {
        let reported = eventually(Duration::from_secs(60), || async {
            ready(&client, namespace, plural, kind, name).await.is_some_and(|(s, r, m)| s == "False" && r == reason && m.contains(needle))
        });
        let got = ready(&client, namespace, plural, kind, name).await;
        assert!(reported.await, "{kind} {name}: want Ready=False/{reason} naming {needle:?}, got {got:?}\n{}", tail(&sesame.logs()));
        let named = |(t, _, note): &(String, String, String)| t == "Warning" && note.contains(needle);
        let events = events_with(&client, namespace.unwrap_or("default"), name, named).await;
        assert!(events.iter().any(named), "{kind} {name}: no Warning Event naming {needle:?}: {events:?}");
        texts.push(got.unwrap().2);
        texts.extend(events.into_iter().map(|e| e.2));
    }
    let pushed = eventually(Duration::from_secs(60), || async {
        ready(&client, Some(ns), "pushsecrets", "PushSecret", "good-push").await.is_some_and(|(s, r, _)| s == "True" && r == "Synced")
    });
    assert!(pushed.await, "the good PushSecret beside an undecodable one never pushed\n{}", tail(&sesame.logs()));

    let exit = sesame.terminate();
    let log = sesame.logs();
    let leaks: Vec<&str> = [GOOD, SERVICE_LEAK, CSS_LEAK, ES_LEAK, PS_LEAK]
        .into_iter()
        .filter(|v| log.contains(v) || texts.iter().any(|t| t.contains(v)))
        .collect();
    println!(
        "faults undecodable: 4 objects undecodable, 2 stores refused, 3 ESO 2.9 ExternalSecrets synced, {} texts checked, leaks {leaks:?}, exit {exit:?}",
        texts.len()
    );
    assert!(leaks.is_empty(), "values in the log, a status or an Event: {leaks:?}\n{}", tail(&log));
    assert_eq!(exit, Some(0), "SIGTERM did not end sesame cleanly\n{}", tail(&log));
    assert!(log.contains("shut down cleanly") && !log.contains("did not stop in time"), "{}", tail(&log));
}
