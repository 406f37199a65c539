//! Templated Secrets on the real apiserver: type, metadata, data, and templateFrom a ConfigMap
//! that re-renders when the ConfigMap changes.
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_templated_secret_follows_its_configmap() {
    let scene = Scene::new("tpl").await;
    scene.fake_store("store", &[("/db", r#"{"user":"app","password":"s3cret"}"#)]).await;
    let cms: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.ns);
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta { name: Some("tpl".into()), ..Default::default() },
        data: Some([("config.yaml".to_string(), "user: {{ .user }}\npassword: {{ .password | b64enc }}\n".to_string())].into()),
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let sesame = scene.sesame();
    scene
        .external_secret(
            "app",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "store"},
                "dataFrom": [{"extract": {"key": "/db"}}],
                "target": {"template": {
                    "type": "kubernetes.io/basic-auth",
                    "metadata": {"labels": {"team": "{{ .user | upper }}"}},
                    "data": {"username": "{{ .user }}", "password": "{{ .password }}"},
                    "templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "config.yaml"}]}}],
                }},
            }),
        )
        .await;
    let want = map(&[("config.yaml", "user: app\npassword: czNjcmV0\n"), ("password", "s3cret"), ("username", "app")]);
    let secret = wait_secret_data(&scene, &sesame, "app", &want).await;
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(secret.labels().get("team").map(String::as_str), Some("APP"));

    let patch = json!({"data": {"config.yaml": "login={{ .user }}\n"}});
    cms.patch("tpl", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let want = map(&[("config.yaml", "login=app\n"), ("password", "s3cret"), ("username", "app")]);
    wait_secret_data(&scene, &sesame, "app", &want).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_bad_template_is_reported_with_its_position_and_the_secret_is_kept() {
    let scene = Scene::new("tpl-bad").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    let spec = |body: &str| {
        json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
               "target": {"template": {"data": {"out": body}}}})
    };
    scene.external_secret("app", spec("[{{ .k }}]")).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("out", "[v]")])).await;
    scene.external_secret("app", spec("{{ .k ")).await;
    let es = scene.wait_ready(&sesame, "app", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(message.contains("template") && message.contains("1:"), "{message}");
    assert_eq!(scene.secret_data("app").await, Some(map(&[("out", "[v]")])));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn template_and_apiserver_failures_show_no_value_derived_from_a_secret() {
    let scene = Scene::new("tpl-leak").await;
    // A value that cannot be a Secret key nor a label value, and its base64, which `fail` would show.
    let password = "LEAK pw/5e1d!";
    let encoded = "TEVBSyBwdy81ZTFkIQ==";
    scene.fake_store("store", &[("/pw", password)]).await;
    let sesame = scene.sesame();
    let with_template = |template: serde_json::Value| {
        json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "password", "remoteRef": {"key": "/pw"}}],
               "target": {"template": template}})
    };
    // (name, template, what the Ready message says instead)
    let cases = [
        ("fail", json!({"data": {"out": "{{ fail (b64enc .password) }}"}}), "template.data[out]: template execution error"),
        ("rendered-key", json!({"templateFrom": [{"literal": "{{ .password | quote }}: x"}]}), "a rendered secret key is invalid"),
        ("label", json!({"metadata": {"labels": {"team": "{{ .password }}"}}}), "Invalid (422)"),
    ];
    for (name, template, _) in &cases {
        scene.external_secret(name, with_template(template.clone())).await;
    }
    let mut texts = Vec::new();
    for (name, _, needle) in &cases {
        // A first pass may fail on the store's first verdict: wait for this failure's own message.
        let failed = eventually(Duration::from_secs(30), || async {
            ready_condition(&scene.es(name).await).is_some_and(|(s, r, m)| s == "False" && r == "SecretSyncedError" && m.contains(needle))
        })
        .await;
        let got = ready_condition(&scene.es(name).await);
        assert!(failed, "{name}: want Ready=False saying {needle:?}, got {got:?}\n{}", tail(&sesame.logs()));
        let message = ready_condition(&scene.es(name).await).unwrap().2;
        let warned = eventually(Duration::from_secs(15), || async {
            events_for(&scene.client, &scene.ns, name)
                .await
                .iter()
                .any(|(t, r, n)| t == "Warning" && r == "UpdateFailed" && n.contains(needle))
        });
        assert!(warned.await, "{name}: no Warning UpdateFailed Event");
        texts.push(message);
        texts.extend(events_for(&scene.client, &scene.ns, name).await.into_iter().map(|e| e.2));
    }
    let logs = sesame.logs();
    let leaks: Vec<&String> = texts.iter().filter(|t| t.contains("LEAK") || t.contains(encoded) || t.contains("5e1d")).collect();
    assert!(leaks.is_empty(), "a value reached a condition or Event: {leaks:?}");
    assert!(!logs.contains("LEAK") && !logs.contains(encoded) && !logs.contains("5e1d"), "a value reached the log:\n{}", tail(&logs));
    assert!(texts.len() >= 6, "conditions and Events were read: {texts:?}");
    scene.delete_namespace().await;
}
