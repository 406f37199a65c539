//! ESO 2.9 ExternalSecret fields on the real apiserver (issue #18): nullBytePolicy,
//! rewrite merge, template finalizers, valuesDecodingStrategy and syncWindows.
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::harness::*;
use crate::providers::{aws_sesame, aws_store, secrets_manager};

#[tokio::test]
async fn null_byte_policy_fail_refuses_a_nul_without_showing_it_and_keeps_the_secret() {
    let scene = Scene::new("es-nul").await;
    // "AExFQUs=" is base64 of "\0LEAK": the NUL appears only after decoding, where ESO checks.
    scene.fake_store("store", &[("/txt", "hello"), ("/bin", "AExFQUs="), ("/map", r#"{"a":"AExFQUs="}"#)]).await;
    let sesame = scene.sesame();
    let spec = |bin: serde_json::Value| {
        json!({"secretStoreRef": {"name": "store"}, "data": [
            {"secretKey": "txt", "remoteRef": {"key": "/txt", "nullBytePolicy": "Fail"}},
            {"secretKey": "bin", "remoteRef": bin},
        ]})
    };
    scene.external_secret("app", spec(json!({"key": "/txt"}))).await;
    wait_secret_data(&scene, &sesame, "app", &map(&[("bin", "hello"), ("txt", "hello")])).await;

    scene.external_secret("app", spec(json!({"key": "/bin", "decodingStrategy": "Base64", "nullBytePolicy": "Fail"}))).await;
    let es = scene.wait_ready(&sesame, "app", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(message.contains("data[bin]") && message.contains("NUL bytes"), "{message}");
    assert!(!message.contains("LEAK") && !message.contains("AExFQUs"), "the value shows: {message}");
    assert_eq!(scene.secret_data("app").await, Some(map(&[("bin", "hello"), ("txt", "hello")])), "the Secret is kept");

    // Ignore (the default) keeps binary data; dataFrom extract and find refuse it under Fail.
    scene.external_secret("app", spec(json!({"key": "/bin", "decodingStrategy": "Base64"}))).await;
    let ok = eventually(Duration::from_secs(30), || async {
        scene.secret("app").await.and_then(|s| s.data).and_then(|d| d.get("bin").cloned()).is_some_and(|b| b.0 == b"\0LEAK")
    })
    .await;
    assert!(ok, "Ignore writes the decoded bytes\n{}", tail(&sesame.logs()));
    for source in [
        json!({"extract": {"key": "/map", "decodingStrategy": "Base64", "nullBytePolicy": "Fail"}}),
        json!({"find": {"name": {"regexp": "^/bin$"}, "decodingStrategy": "Base64", "nullBytePolicy": "Fail"}}),
    ] {
        scene.external_secret("from", json!({"secretStoreRef": {"name": "store"}, "dataFrom": [source]})).await;
        let es = scene.wait_ready(&sesame, "from", "False", "SecretSyncedError").await;
        let message = ready_condition(&es).unwrap().2;
        assert!(message.contains("dataFrom[0]") && message.contains("NUL bytes") && !message.contains("LEAK"), "{message}");
    }
    scene.delete_namespace().await;
}

#[tokio::test]
async fn rewrite_merge_extracts_fields_or_writes_one_json_key() {
    let scene = Scene::new("es-merge").await;
    scene.fake_store("store", &[("/cfg/base", r#"{"host":"db","port":5432}"#), ("/cfg/prod", r#"{"host":"prod-db"}"#)]).await;
    let sesame = scene.sesame();
    let strip = json!({"regexp": {"source": "^/cfg/", "target": ""}});
    let find = json!({"name": {"regexp": "^/cfg/"}});
    scene
        .external_secret(
            "extract",
            json!({"secretStoreRef": {"name": "store"}, "dataFrom": [{"find": find, "rewrite": [strip, {"merge": {"conflictPolicy": "Ignore", "priority": ["prod"]}}]}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "extract", &map(&[("host", "prod-db"), ("port", "5432")])).await;

    let merge = json!({"merge": {"strategy": "JSON", "into": "config.json", "conflictPolicy": "Ignore", "priority": ["base"]}});
    scene
        .external_secret("json", json!({"secretStoreRef": {"name": "store"}, "dataFrom": [{"find": find, "rewrite": [strip, merge]}]}))
        .await;
    let want = map(&[
        ("base", r#"{"host":"db","port":5432}"#),
        ("config.json", r#"{"host":"db","port":5432}"#),
        ("prod", r#"{"host":"prod-db"}"#),
    ]);
    wait_secret_data(&scene, &sesame, "json", &want).await;

    // ESO's defaults: a conflict is an error, and so is a priority key that is not there.
    scene
        .external_secret(
            "conflict",
            json!({"secretStoreRef": {"name": "store"}, "dataFrom": [{"find": find, "rewrite": [strip, {"merge": {}}]}]}),
        )
        .await;
    let es = scene.wait_ready(&sesame, "conflict", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("conflicting fields: host"), "{:?}", ready_condition(&es));
    let missing = json!({"merge": {"conflictPolicy": "Ignore", "priority": ["staging"]}});
    scene
        .external_secret("missing", json!({"secretStoreRef": {"name": "store"}, "dataFrom": [{"find": find, "rewrite": [strip, missing]}]}))
        .await;
    let es = scene.wait_ready(&sesame, "missing", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains(r#"priority key "staging""#), "{:?}", ready_condition(&es));

    // The schema refuses a rewrite step with two operations, as ESO's.
    let es = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "two", "namespace": scene.ns},
        "spec": {"secretStoreRef": {"name": "store"}, "dataFrom": [{"find": find, "rewrite": [{"regexp": {"source": "a", "target": "b"}, "merge": {}}]}]}});
    let refused = scene.externalsecrets().create(&Default::default(), &serde_json::from_value(es).unwrap()).await.unwrap_err();
    assert!(refused.to_string().contains("at most 1 properties"), "{refused}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn template_finalizers_are_added_and_templatefrom_values_are_decoded() {
    let scene = Scene::new("es-tplfields").await;
    scene.fake_store("store", &[("/pw", "s3cret")]).await;
    let mut sesame = scene.sesame();
    scene
        .external_secret(
            "app",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "pw", "remoteRef": {"key": "/pw"}}],
            "target": {"template": {
                "metadata": {"finalizers": ["example.com/keep"]},
                "templateFrom": [
                    {"literal": "decoded: {{ .pw | b64enc }}", "valuesDecodingStrategy": "Base64"},
                    {"literal": "encoded: {{ .pw | b64enc }}"},
                ],
            }}}),
        )
        .await;
    let secret = wait_secret_data(&scene, &sesame, "app", &map(&[("decoded", "s3cret"), ("encoded", "czNjcmV0")])).await;
    assert_eq!(secret.finalizers(), ["example.com/keep"]);
    // Let the namespace go: stop Sesame, then release the finalizer as its owner would.
    sesame.terminate();
    let release = json!({"metadata": {"finalizers": null}});
    scene.secrets().patch("app", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
    scene.delete_namespace().await;
}

#[tokio::test]
async fn sync_windows_hold_back_periodic_refreshes_but_not_changes_or_force_sync() {
    let scene = Scene::new("es-windows").await;
    let sm = secrets_manager().await;
    let name = format!("{}/token", scene.ns);
    sm.create_secret().name(&name).secret_string("first").send().await.unwrap();
    aws_store(&scene).await;
    let sesame = aws_sesame(&scene, &[]);
    let spec = |windows: serde_json::Value| {
        json!({"refreshInterval": "2s", "secretStoreRef": {"name": "aws"}, "syncWindows": windows,
               "data": [{"secretKey": "token", "remoteRef": {"key": name}}]})
    };
    // Denied at every minute for two minutes: always shut. Allowed likewise: always open.
    let always = |kind: &str| json!({"kind": kind, "windows": [{"schedule": "* * * * *", "duration": "2m"}]});
    scene.external_secret("denied", spec(always("deny"))).await;
    scene.external_secret("allowed", spec(always("allow"))).await;
    // The first sync is never held back.
    wait_secret_data(&scene, &sesame, "denied", &map(&[("token", "first")])).await;
    wait_secret_data(&scene, &sesame, "allowed", &map(&[("token", "first")])).await;

    sm.put_secret_value().secret_id(&name).secret_string("second").send().await.unwrap();
    wait_secret_data(&scene, &sesame, "allowed", &map(&[("token", "second")])).await;
    // The allowed twin has refreshed on its 2s interval; give the denied one as many chances.
    let refreshed_at = scene.es("allowed").await.status.and_then(|s| s.refresh_time).unwrap_or_default();
    let later = eventually(Duration::from_secs(30), || async {
        scene
            .es("allowed")
            .await
            .status
            .and_then(|s| s.refresh_time)
            .is_some_and(|t| t.as_str() >= refreshed_at.as_str() && t != refreshed_at)
    })
    .await;
    assert!(later, "the allowed twin keeps refreshing\n{}", tail(&sesame.logs()));
    assert_eq!(scene.secret_data("denied").await, Some(map(&[("token", "first")])), "a deny window held the refresh back");
    let es = scene.es("denied").await;
    assert_eq!(ready_condition(&es).map(|c| c.0), Some("True".into()), "holding back is no error");

    // A force-sync is not held back, nor is a spec change.
    let force = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("denied", &PatchParams::default(), &Patch::Merge(&force)).await.unwrap();
    wait_secret_data(&scene, &sesame, "denied", &map(&[("token", "second")])).await;
    sm.put_secret_value().secret_id(&name).secret_string("third").send().await.unwrap();
    let mut changed = spec(always("deny"));
    changed["data"][0]["secretKey"] = "renamed".into();
    scene.external_secret("denied", changed).await;
    wait_secret_data(&scene, &sesame, "denied", &map(&[("renamed", "third")])).await;

    // A schedule the cron parser refuses is a clear error, not a silent always-open window.
    let bad = json!({"kind": "deny", "windows": [{"schedule": "61 * * * *", "duration": "1h"}]});
    scene.external_secret("bad", spec(bad)).await;
    let es = scene.wait_ready(&sesame, "bad", "False", "SecretSyncedError").await;
    assert!(ready_condition(&es).unwrap().2.contains("syncWindows.windows[0].schedule"), "{:?}", ready_condition(&es));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn key_conversion_transform_merge_policy_keys_and_values_and_secret_templates() {
    let scene = Scene::new("es-keys").await;
    scene.fake_store("store", &[("/app/db user", "u"), ("/app/db-pass", "p")]).await;
    scene.plain_secret("tpl", &[("extra", "host: {{ .DB_PASS }}-host\nport: \"5432\"\n")]).await;
    let sesame = scene.sesame();
    let find = json!({"path": "/app/"});
    scene
        .external_secret(
            "unicode",
            json!({"secretStoreRef": {"name": "store"}, "dataFrom": [{"find": {"path": "/app/", "conversionStrategy": "Unicode"}}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "unicode", &map(&[("_U002F_app_U002F_db-pass", "p"), ("_U002F_app_U002F_db_U0020_user", "u")])).await;

    let rewrite = json!([{"regexp": {"source": "^/app/", "target": ""}}, {"regexp": {"source": "[ -]", "target": "_"}}, {"transform": {"template": "{{ .value | upper }}"}}]);
    scene
        .external_secret(
            "shaped",
            json!({"secretStoreRef": {"name": "store"}, "dataFrom": [{"find": find, "rewrite": rewrite}],
                   "target": {"template": {"engineVersion": "v2", "mergePolicy": "Merge",
                       "templateFrom": [{"secret": {"name": "tpl", "items": [{"key": "extra", "templateAs": "KeysAndValues"}]}}]}}}),
        )
        .await;
    let want = map(&[("DB_PASS", "p"), ("DB_USER", "u"), ("host", "p-host"), ("port", "5432")]);
    wait_secret_data(&scene, &sesame, "shaped", &want).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn the_schema_refuses_what_eso_s_schema_refuses() {
    let scene = Scene::new("es-schema").await;
    let data = json!([{"secretKey": "k", "remoteRef": {"key": "/k"}}]);
    let refused = |spec: serde_json::Value| {
        let scene = &scene;
        async move {
            let es = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "x", "namespace": scene.ns}, "spec": spec});
            // Sent as raw JSON: Sesame's own types would refuse some of these before the apiserver.
            let gvk = kube::api::GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret");
            let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
                scene.client.clone(),
                &scene.ns,
                &kube::api::ApiResource::from_gvk_with_plural(&gvk, "externalsecrets"),
            );
            let es: kube::api::DynamicObject = serde_json::from_value(es).unwrap();
            api.create(&Default::default(), &es).await.expect_err("the apiserver must refuse it").to_string()
        }
    };
    let msg = refused(json!({"secretStoreRef": {"name": "Not_A_Name"}, "data": data})).await;
    assert!(msg.contains("spec.secretStoreRef.name"), "{msg}");
    let msg = refused(json!({"secretStoreRef": {"name": "s"}, "target": {"name": "UPPER"}, "data": data})).await;
    assert!(msg.contains("spec.target.name"), "{msg}");
    let tpl =
        |from: serde_json::Value| json!({"secretStoreRef": {"name": "s"}, "data": data, "target": {"template": {"templateFrom": [from]}}});
    let msg = refused(tpl(json!({"configMap": {"name": "a/b", "items": []}}))).await;
    assert!(msg.contains("configMap.name"), "{msg}");
    let msg = refused(tpl(json!({"secret": {"name": "s", "items": [{"key": "no/slash"}]}}))).await;
    assert!(msg.contains("items") && msg.contains("key"), "{msg}");
    let msg = refused(tpl(json!({"literal": "a: b", "valuesDecodingStrategy": "Hex"}))).await;
    assert!(msg.contains("valuesDecodingStrategy"), "{msg}");
    let windows = |w: serde_json::Value| json!({"secretStoreRef": {"name": "s"}, "data": data, "syncWindows": w});
    let msg = refused(windows(json!({"kind": "sometimes", "windows": [{"schedule": "@daily", "duration": "1h"}]}))).await;
    assert!(msg.contains("spec.syncWindows.kind"), "{msg}");
    let msg = refused(windows(json!({"kind": "allow", "windows": [{"schedule": "0 22 * *", "duration": "1h"}]}))).await;
    assert!(msg.contains("schedule"), "{msg}");
    let msg = refused(windows(json!({"kind": "allow", "windows": []}))).await;
    assert!(msg.contains("spec.syncWindows.windows"), "{msg}");
    let null = |policy: &str| json!({"secretStoreRef": {"name": "s"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k", "nullBytePolicy": policy}}]});
    let msg = refused(null("Strip")).await;
    assert!(msg.contains("nullBytePolicy"), "{msg}");
    let merge =
        json!({"secretStoreRef": {"name": "s"}, "dataFrom": [{"extract": {"key": "/k"}, "rewrite": [{"merge": {"strategy": "YAML"}}]}]});
    let msg = refused(merge).await;
    assert!(msg.contains("merge.strategy"), "{msg}");
    scene.delete_namespace().await;
}

#[tokio::test]
async fn without_the_flag_a_generic_target_is_refused_clearly_and_nothing_is_written() {
    let scene = Scene::new("es-manifest").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    scene
        .external_secret(
            "cm",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
                   "target": {"manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}}),
        )
        .await;
    let es = scene.wait_ready(&sesame, "cm", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    // ESO's message, naming the flag (generic_targets.rs has the flag on).
    assert!(message.contains("generic targets are disabled. Enable with --unsafe-allow-generic-targets flag"), "{message}");
    assert!(scene.secret("cm").await.is_none(), "no Secret is written instead of the ConfigMap");
    let cm = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(scene.client.clone(), &scene.ns).get_opt("cm").await.unwrap();
    assert!(cm.is_none(), "nor the ConfigMap");
    scene.delete_namespace().await;
}
