//! What operators see: metrics (valid for promtool), printer columns, logs without values.
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

const DISTINCTIVE: &str = "zebra-quartz-7781-violet";

#[tokio::test]
async fn metrics_carry_esos_series_and_pass_promtool() {
    let scene = Scene::new("obs-metrics").await;
    scene.fake_store("store", &[("/k", DISTINCTIVE)]).await;
    let sesame = scene.sesame();
    scene
        .external_secret("good", json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}))
        .await;
    scene
        .external_secret(
            "bad",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/missing"}}]}),
        )
        .await;
    scene.wait_ready(&sesame, "good", "True", "SecretSynced").await;
    scene.wait_ready(&sesame, "bad", "False", "SecretSyncedError").await;

    let (code, body) = sesame.get("/metrics").await.expect("metrics endpoint answers");
    assert_eq!(code, 200);
    let ns = &scene.ns;
    for series in [
        format!(r#"externalsecret_sync_calls_total{{name="good",namespace="{ns}"}}"#),
        format!(r#"externalsecret_sync_calls_error{{name="bad",namespace="{ns}"}}"#),
        format!(r#"externalsecret_status_condition{{name="good",namespace="{ns}",condition="Ready",status="True"}} 1"#),
        format!(r#"externalsecret_status_condition{{name="bad",namespace="{ns}",condition="Ready",status="False"}} 1"#),
        format!(r#"sesame_externalsecret_sync_staleness_seconds{{name="good",namespace="{ns}"}}"#),
        // ESO's default interval (1h), per object, for the staleness alert.
        format!(r#"sesame_externalsecret_refresh_interval_seconds{{name="good",namespace="{ns}"}} 3600"#),
        format!(r#"secretstore_status_condition{{name="store",namespace="{ns}",condition="Ready",status="True"}} 1"#),
        "externalsecret_reconcile_duration_seconds_bucket".to_string(),
    ] {
        assert!(
            body.contains(&series),
            "missing {series} in\n{}",
            body.lines().filter(|l| l.contains(ns.as_str())).collect::<Vec<_>>().join("\n")
        );
    }
    assert!(!body.contains(DISTINCTIVE), "a secret value reached /metrics");

    let file = std::env::temp_dir().join(format!("sesame-metrics-{ns}.txt"));
    std::fs::write(&file, &body).unwrap();
    let promtool = &sesame_testsupport::env().promtool;
    let out = Command::new(promtool).args(["check", "metrics"]).stdin(std::fs::File::open(&file).unwrap()).output().expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sesame.get("/healthz").await.map(|r| r.0), Some(200));
    assert_eq!(sesame.get("/readyz").await.map(|r| r.0), Some(200));
    scene.delete_namespace().await;
}

#[tokio::test]
async fn kubectl_get_es_shows_esos_printer_columns() {
    let scene = Scene::new("obs-columns").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    let sesame = scene.sesame();
    scene
        .external_secret("app", json!({"refreshInterval": "15m", "secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}))
        .await;
    scene.wait_ready(&sesame, "app", "True", "SecretSynced").await;
    let env = sesame_testsupport::env();
    let out = Command::new(&env.kubectl)
        .args(["--kubeconfig", env.kubeconfig.to_str().unwrap(), "get", "es", "-n", &scene.ns])
        .output()
        .expect("run kubectl");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let header: Vec<&str> = table.lines().next().unwrap().split("  ").map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(header, ["NAME", "STORETYPE", "STORE", "REFRESH INTERVAL", "STATUS", "READY", "LAST SYNC"]);
    let row = table.lines().nth(1).unwrap();
    for cell in ["app", "SecretStore", "store", "15m", "SecretSynced", "True"] {
        assert!(row.contains(cell), "{row}");
    }
    scene.delete_namespace().await;
}

#[tokio::test]
async fn no_secret_value_reaches_logs_events_or_status_even_at_debug_level() {
    let scene = Scene::new("obs-leak").await;
    let json_value = format!(r#"{{"password":"{DISTINCTIVE}"}}"#);
    scene.fake_store("store", &[("/k", DISTINCTIVE), ("/json", &json_value)]).await;
    let sesame = Sesame::start(&scene.ns, &["--namespace", &scene.ns, "--controller-class", &scene.class]);
    scene
        .external_secret("ok", json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}]}))
        .await;
    // Failures that involve the value: a property of a non-JSON value, a missing property, a
    // value that is not base64.
    scene
        .external_secret(
            "e1",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k", "property": "x"}}]}),
        )
        .await;
    scene
        .external_secret(
            "e2",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/json", "property": "nope"}}]}),
        )
        .await;
    scene
        .external_secret("e3", json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k", "decodingStrategy": "Base64"}}]}))
        .await;
    scene.wait_ready(&sesame, "ok", "True", "SecretSynced").await;
    for name in ["e1", "e2", "e3"] {
        scene.wait_ready(&sesame, name, "False", "SecretSyncedError").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!sesame.logs().contains(DISTINCTIVE), "a secret value reached the log {}", sesame.log.display());
    for name in ["ok", "e1", "e2", "e3"] {
        let es = scene.es(name).await;
        assert!(!serde_json::to_string(&es.status).unwrap().contains(DISTINCTIVE), "status of {name}");
        // Read once the sync's own Event is posted, so the check covers it.
        let events = events_with(&scene.client, &scene.ns, name, |(_, r, _)| r == "Created" || r == "UpdateFailed").await;
        assert!(!events.is_empty(), "{name} has no Event");
        for (_, _, note) in events {
            assert!(!note.contains(DISTINCTIVE), "event of {name}: {note}");
        }
    }
    let (_, metrics) = sesame.get("/metrics").await.unwrap();
    assert!(!metrics.contains(DISTINCTIVE));
    scene.delete_namespace().await;
}
