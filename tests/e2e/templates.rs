//! Templated Secrets on the real apiserver: type, metadata, data, and templateFrom a ConfigMap
//! that re-renders when the ConfigMap changes.
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
