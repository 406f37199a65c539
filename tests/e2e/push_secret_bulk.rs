//! The rest of PushSecret on the real apiserver with the fake store, every pushed key read back
//! by an ExternalSecret: `dataTo` with a regexp and a rewrite over label-selected Secrets (a
//! newly labelled Secret is pushed at once), `conversionStrategy: ReverseUnicode`, and a
//! `template` with `templateFrom` whose output joins the Secret's own keys, bundled by `dataTo`
//! with `remoteKey` and pushed again as soon as its ConfigMap is edited; two entries writing one
//! remote key are refused.
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sesame::api::PushSecret;

use crate::cluster_push_secret::apply_v1alpha1;
use crate::harness::*;

async fn labelled_secret(scene: &Scene, name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        string_data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    };
    scene.secrets().create(&PostParams::default(), &secret).await.expect("create secret");
}

async fn push(scene: &Scene, name: &str, spec: Value) {
    let body = json!({"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
                      "metadata": {"name": name, "namespace": scene.ns}, "spec": spec});
    apply_v1alpha1(&scene.client, &scene.ns, "pushsecrets", body).await;
}

/// Waits until the PushSecret is Ready=True with exactly these keys recorded for the store.
async fn synced(scene: &Scene, sesame: &Sesame, name: &str, keys: &[&str]) {
    let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    let ok = eventually(Duration::from_secs(60), || async {
        let status = api.get(name).await.unwrap().status.unwrap_or_default();
        let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        ready && status.synced_push_secrets.get("SecretStore/store").is_some_and(|s| s.keys().eq(keys.iter()))
    })
    .await;
    assert!(ok, "PushSecret {name} never synced {keys:?}: {:?}\n{}", api.get(name).await.unwrap().status, tail(&sesame.logs()));
}

fn readback(entries: &[(&str, &str, Option<&str>)]) -> Value {
    let data: Vec<Value> = entries
        .iter()
        .map(|(secret_key, key, property)| json!({"secretKey": secret_key, "remoteRef": {"key": key, "property": property}}))
        .collect();
    json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "data": data})
}

#[tokio::test]
async fn data_to_label_selection_reverse_unicode_and_templates_push_what_eso_pushes() {
    let scene = Scene::new("push-bulk").await;
    scene.fake_store("store", &[]).await;
    let app = [("push", "yes")];
    labelled_secret(&scene, "app-a", &app, &[("db-user", "u"), ("db-pass", "p"), ("api_U002e_key", "k")]).await;
    labelled_secret(&scene, "app-b", &app, &[("db-host", "h")]).await;
    labelled_secret(&scene, "other", &[], &[("db-other", "o")]).await;
    let sesame = scene.sesame();

    // dataTo: every `db-` key of every labelled Secret, renamed.
    push(
        &scene,
        "bulk",
        json!({"refreshInterval": "1h", "secretStoreRefs": [{"name": "store"}],
               "selector": {"secret": {"selector": {"matchLabels": {"push": "yes"}}}},
               "dataTo": [{"storeRef": {"name": "store"}, "match": {"regexp": "^db-"},
                           "rewrite": [{"regexp": {"source": "^db-", "target": "bulk/"}}]}]}),
    )
    .await;
    synced(&scene, &sesame, "bulk", &["bulk/host", "bulk/pass", "bulk/user"]).await;
    scene.external_secret("bulk", readback(&[("user", "bulk/user", None), ("pass", "bulk/pass", None), ("host", "bulk/host", None)])).await;
    wait_secret_data(&scene, &sesame, "bulk", &map(&[("user", "u"), ("pass", "p"), ("host", "h")])).await;
    // A Secret labelled later is pushed at once (the refresh interval is an hour).
    labelled_secret(&scene, "app-c", &app, &[("db-port", "5432")]).await;
    synced(&scene, &sesame, "bulk", &["bulk/host", "bulk/pass", "bulk/port", "bulk/user"]).await;

    // ReverseUnicode: the key an ExternalSecret escaped (`api.key` → `api_U002e_key`) is named as it was.
    push(
        &scene,
        "unicode",
        json!({"refreshInterval": "1h", "secretStoreRefs": [{"name": "store"}], "selector": {"secret": {"name": "app-a"}},
               "data": [{"conversionStrategy": "ReverseUnicode", "match": {"secretKey": "api.key", "remoteRef": {"remoteKey": "unicode"}}}]}),
    )
    .await;
    synced(&scene, &sesame, "unicode", &["unicode"]).await;
    scene.external_secret("unicode", readback(&[("v", "unicode", None)])).await;
    wait_secret_data(&scene, &sesame, "unicode", &map(&[("v", "k")])).await;

    // A template (data from a ConfigMap through templateFrom, and a literal) over the Secret's own keys.
    let cm = ConfigMap {
        metadata: ObjectMeta { name: Some("tpl".into()), ..Default::default() },
        data: Some([("dsn".to_string(), "{{ .user }}:{{ .pass }}@db".to_string())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(scene.client.clone(), &scene.ns).create(&PostParams::default(), &cm).await.unwrap();
    labelled_secret(&scene, "creds", &[], &[("user", "u"), ("pass", "p")]).await;
    push(
        &scene,
        "shaped",
        json!({"refreshInterval": "1h", "secretStoreRefs": [{"name": "store"}], "selector": {"secret": {"name": "creds"}},
               "template": {"templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "dsn"}]}},
                                             {"literal": "greeting: hi-{{ .user }}"}]},
               "data": [{"match": {"secretKey": "dsn", "remoteRef": {"remoteKey": "shaped/dsn"}}}],
               "dataTo": [{"storeRef": {"name": "store"}, "remoteKey": "shaped/bundle", "match": {"regexp": "^(dsn|greeting|user)$"}}]}),
    )
    .await;
    synced(&scene, &sesame, "shaped", &["shaped/bundle", "shaped/dsn"]).await;
    scene
        .external_secret(
            "shaped",
            readback(&[
                ("dsn", "shaped/dsn", None),
                ("greeting", "shaped/bundle", Some("greeting")),
                ("user", "shaped/bundle", Some("user")),
            ]),
        )
        .await;
    wait_secret_data(&scene, &sesame, "shaped", &map(&[("dsn", "u:p@db"), ("greeting", "hi-u"), ("user", "u")])).await;
    // A bundle holds every matched key (as ESO, an explicit entry only overrides dataTo's per-key
    // entries), template output and the Secret's own keys alike.
    scene.external_secret("bundle", readback(&[("all", "shaped/bundle", None)])).await;
    wait_secret_data(&scene, &sesame, "bundle", &map(&[("all", r#"{"dsn":"u:p@db","greeting":"hi-u","user":"u"}"#)])).await;

    // An edit of a template ConfigMap is pushed at once, not at the next refresh (1h away).
    let edit = json!({"data": {"dsn": "{{ .user }}@replica"}});
    Api::<ConfigMap>::namespaced(scene.client.clone(), &scene.ns)
        .patch("tpl", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let reread = json!({"refreshInterval": "2s", "secretStoreRef": {"name": "store"},
                        "data": [{"secretKey": "dsn", "remoteRef": {"key": "shaped/dsn"}}]});
    scene.external_secret("reshaped", reread).await;
    wait_secret_data(&scene, &sesame, "reshaped", &map(&[("dsn", "u@replica")])).await;

    // ESO's conflict rule: two entries writing one remote key are refused, nothing else happens.
    push(
        &scene,
        "clash",
        json!({"refreshInterval": "1h", "secretStoreRefs": [{"name": "store"}], "selector": {"secret": {"name": "creds"}},
               "dataTo": [{"storeRef": {"name": "store"}, "match": {"regexp": "^user$"}}],
               "data": [{"match": {"secretKey": "pass", "remoteRef": {"remoteKey": "user"}}}]}),
    )
    .await;
    let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    let refused = eventually(Duration::from_secs(60), || async {
        let status = api.get("clash").await.unwrap().status.unwrap_or_default();
        status.conditions.iter().any(|c| c.status == "False" && c.message.as_deref().is_some_and(|m| m.contains("duplicate remote key")))
    })
    .await;
    assert!(refused, "{:?}", api.get("clash").await.unwrap().status);

    let (_, metrics) = sesame.get("/metrics").await.expect("/metrics");
    let ns = &scene.ns;
    for series in [
        format!(r#"pushsecret_status_condition{{name="bulk",namespace="{ns}",condition="Ready",status="True"}} 1"#),
        format!(r#"pushsecret_status_condition{{name="clash",namespace="{ns}",condition="Ready",status="False"}} 1"#),
    ] {
        assert!(metrics.contains(&series), "{series} missing:\n{metrics}");
    }
    let pushes = sample(&metrics, "sesame_store_push_calls_total{", &[&format!(r#"namespace="{ns}""#), r#"call="push""#]);
    assert!(pushes >= 8.0, "pushes counted: {pushes}\n{metrics}");
    let log = sesame.logs();
    assert!(!log.contains("u:p@db") && !log.contains("hi-u"), "a value reached the log");
    scene.delete_namespace().await;
}
