//! A tenant's templates cannot take the controller down: in one namespace, ExternalSecrets carry
//! template bombs (each asking for gigabytes or 2^40 steps); in another, an ordinary
//! ExternalSecret keeps syncing. Each bomb ends Ready=False naming the limit it hit, the process
//! never restarts, and its peak RSS stays under the chart's memory limit.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

/// `t0` calls `t1` twice, … down to `t40`: 2^40 template calls.
fn nested_calls(depth: usize) -> String {
    let mut t = String::new();
    for i in 0..depth {
        t.push_str(&format!("{{{{define \"t{i}\"}}}}{{{{template \"t{}\" .}}}}{{{{template \"t{}\" .}}}}{{{{end}}}}", i + 1, i + 1));
    }
    t.push_str(&format!("{{{{define \"t{depth}\"}}}}{{{{end}}}}{{{{template \"t0\" .}}}}"));
    t
}

/// (name, template field, body, what the Ready message must name)
fn bombs() -> Vec<(&'static str, &'static str, String, &'static [&'static str])> {
    let value: &[&str] = &["value size limit"];
    vec![
        ("replace", "data", r#"{{ replace "" (repeat 2000000 "y") (repeat 2000000 "x") }}"#.into(), value),
        ("replace-sized", "data", r#"{{ replace "" (repeat 1000 "y") (repeat 1000000 "x") }}"#.into(), value),
        ("indent", "data", r#"{{ indent 10000 (repeat 500000 "\n") }}"#.into(), value),
        ("wrap", "data", r#"{{ wrapWith 1 (repeat 100000 "z") (repeat 500000 "x") }}"#.into(), value),
        ("regex", "data", r#"{{ regexReplaceAll "" (repeat 500000 "x") (repeat 1000 "y") }}"#.into(), value),
        // Debug builds may run out of time before they run out of steps; either limit stops it.
        ("nested", "data", nested_calls(40), &["step limit", "time limit"]),
        ("variables", "data", (0..40).map(|i| format!("{{{{ $v{i} := repeat 1000000 \"x\" }}}}")).collect(), &["memory limit"]),
        // Three labels of 1 MB each: the object's templates together are over the output limit.
        ("labels", "labels", r#"{{ repeat 1000000 "l" }}"#.into(), &["output limit"]),
    ]
}

fn bomb_spec(field: &str, body: &str) -> serde_json::Value {
    let template = match field {
        "labels" => json!({"metadata": {"labels": {"a": body, "b": body, "c": body}}}),
        _ => json!({"data": {"out": body}}),
    };
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "store"},
        "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
        "target": {"template": template},
    })
}

/// The chart's memory limit (`resources.limits.memory` in values.yaml), in bytes.
fn chart_memory_limit() -> u64 {
    let values = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/helm/sesame/values.yaml")).expect("values.yaml");
    let values: serde_json::Value = serde_saphyr::from_str(&values).expect("values.yaml is YAML");
    let text = values["resources"]["limits"]["memory"].as_str().expect("resources.limits.memory").to_string();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let factor = match unit {
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "" => 1,
        other => panic!("unexpected memory unit {other}"),
    };
    digits.parse::<u64>().expect("a number") * factor
}

/// VmHWM of a process: its peak resident set, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kb * 1024
}

#[tokio::test]
async fn template_bombs_fail_on_their_limits_and_other_namespaces_keep_syncing() {
    let attacker = Scene::new("bomb-a").await;
    let tenant = Scene { client: attacker.client.clone(), ns: format!("{}-b", attacker.ns), class: attacker.class.clone() };
    create_namespace(&tenant.client, &tenant.ns, BTreeMap::new()).await;
    attacker.fake_store("store", &[("/k", "v")]).await;
    tenant.fake_store("store", &[("/db", "before-1f2e")]).await;
    // One process for both namespaces (this test's controller class only).
    let mut sesame = Sesame::start(&attacker.ns, &["--controller-class", &attacker.class]);
    sesame.wait_ready().await;
    let ordinary =
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"}, "data": [{"secretKey": "db", "remoteRef": {"key": "/db"}}]});
    tenant.external_secret("app", ordinary).await;
    wait_secret_data(&tenant, &sesame, "app", &map(&[("db", "before-1f2e")])).await;

    for (name, field, body, _) in bombs() {
        attacker.external_secret(name, bomb_spec(field, &body)).await;
    }
    // While the bombs are live, the other namespace's store changes: its Secret follows.
    tenant.fake_store("store", &[("/db", "after-6c0d")]).await;
    let followed = eventually(Duration::from_secs(30), || async { tenant.secret_data("app").await == Some(map(&[("db", "after-6c0d")])) });
    assert!(followed.await, "the ordinary ExternalSecret did not follow its store within 30 s\n{}", tail(&sesame.logs()));

    for (name, _, _, limits) in bombs() {
        let failed = eventually(Duration::from_secs(60), || async {
            ready_condition(&attacker.es(name).await).is_some_and(|(s, _, m)| s == "False" && limits.iter().any(|l| m.contains(l)))
        })
        .await;
        let got = ready_condition(&attacker.es(name).await);
        assert!(failed, "{name}: want Ready=False naming one of {limits:?}, got {got:?}\n{}", tail(&sesame.logs()));
        assert!(attacker.secret(name).await.is_none(), "{name}: a Secret was written");
    }

    assert!(!sesame.exited(), "the controller exited\n{}", tail(&sesame.logs()));
    assert!(!sesame.logs().contains("panicked"), "the controller panicked\n{}", tail(&sesame.logs()));
    let (peak, limit) = (peak_rss(sesame.pid()), chart_memory_limit());
    println!("template bombs: peak RSS {} MiB, chart limit {} MiB", peak >> 20, limit >> 20);
    assert!(peak < limit, "peak RSS {peak} bytes is over the chart's memory limit of {limit} bytes");
    attacker.delete_namespace().await;
    tenant.delete_namespace().await;
}

#[tokio::test]
async fn deleting_an_externalsecret_abandons_its_render() {
    let scene = Scene::new("bomb-del").await;
    scene.fake_store("store", &[("/k", "v")]).await;
    // One render slot, and budgets that let the bomb run for its whole (long) time budget.
    let sesame =
        scene.sesame_with(&["--max-concurrent-renders", "1", "--template-max-steps", "100000000000", "--template-timeout", "10m"], &[]);
    scene.external_secret("bomb", bomb_spec("data", &nested_calls(40))).await;
    let logged = |what: &'static str| {
        let sesame = &sesame;
        async move {
            eventually(Duration::from_secs(30), || async { sesame.logs().lines().any(|l| l.contains(what) && l.contains("bomb")) }).await
        }
    };
    assert!(logged("rendering templates").await, "the bomb's render never started\n{}", tail(&sesame.logs()));
    scene.externalsecrets().delete("bomb", &Default::default()).await.expect("delete the ExternalSecret");
    assert!(logged("render abandoned").await, "the deleted ExternalSecret's render went on\n{}", tail(&sesame.logs()));
    // With the slot freed by the cancelled render, another object renders.
    let spec = json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "k", "remoteRef": {"key": "/k"}}],
                      "target": {"template": {"data": {"out": "[{{ .k }}]"}}}});
    scene.external_secret("after", spec).await;
    wait_secret_data(&scene, &sesame, "after", &map(&[("out", "[v]")])).await;
    scene.delete_namespace().await;
}
