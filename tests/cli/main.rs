//! The offline commands, run as a user would: `sesame render` on the shipped example,
//! `sesame template` on a local values file, `sesame crds --check`.
use std::process::Command;

fn sesame(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sesame")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("run sesame");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn render_shows_the_quickstart_secret_with_values_redacted() {
    let (ok, out, err) = sesame(&["render", "-f", "examples/quickstart/"]);
    assert!(ok, "{err}");
    for expected in
        ["name: demo-app-credentials", "db-password: \"<redacted: 28 bytes>\"", "reconcile.external-secrets.io/managed: \"true\""]
    {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    assert!(!out.contains("correct-horse-battery-staple") && !out.contains("Y29ycmVjdC1ob3Jz"), "a value leaked:\n{out}");
}

#[test]
fn render_reveal_prints_the_values_as_a_secret_would_hold_them() {
    let (ok, out, err) = sesame(&["render", "-f", "examples/quickstart/", "--reveal"]);
    assert!(ok, "{err}");
    assert!(out.contains("db-password: Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5LXN0YXBsZQ=="), "{out}");
    assert!(out.contains("api-token: dG9rLTAxMjM0NTY3ODk="), "{out}");
}

#[test]
fn render_reports_a_missing_store_in_one_line_and_fails() {
    let dir = std::env::temp_dir().join(format!("sesame-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("examples/quickstart/externalsecret.yaml", dir.join("es.yaml")).unwrap();
    let (ok, _, err) = sesame(&["render", "-f", dir.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("SecretStore demo-store is not in the input files"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn template_renders_against_a_values_file() {
    let dir = std::env::temp_dir().join(format!("sesame-tpl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.tmpl"), r#"{"auths":{"{{ .host }}":{"auth":"{{ printf "%s:%s" .user .pass | b64enc }}"}}}"#).unwrap();
    std::fs::write(dir.join("v.yaml"), "host: registry.example\nuser: me\npass: pw\n").unwrap();
    let (ok, out, err) = sesame(&["template", "-t", dir.join("t.tmpl").to_str().unwrap(), "-v", dir.join("v.yaml").to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out, r#"{"auths":{"registry.example":{"auth":"bWU6cHc="}}}"#);
    std::fs::write(dir.join("bad.tmpl"), "{{ .nope }}").unwrap();
    let (ok, _, err) = sesame(&["template", "-t", dir.join("bad.tmpl").to_str().unwrap(), "-v", dir.join("v.yaml").to_str().unwrap()]);
    assert!(!ok && err.contains("nope"), "{err}");
}

#[test]
fn the_committed_crds_match_the_api_types() {
    let (ok, _, err) = sesame(&["crds", "--check"]);
    assert!(ok, "{err}");
}

#[test]
fn render_shows_what_a_push_secret_would_write_without_writing() {
    let dir = std::env::temp_dir().join(format!("sesame-cli-push-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifests = r#"
apiVersion: v1
kind: Secret
metadata: {name: src, namespace: team}
stringData: {password: hunter2-pushed}
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: {name: push, namespace: team}
spec:
  secretStoreRefs: [{name: vault}]
  selector: {secret: {name: src}}
  data:
    - match: {secretKey: password, remoteRef: {remoteKey: team/db, property: password}}
"#;
    std::fs::write(dir.join("push.yaml"), manifests).unwrap();
    let (ok, out, err) = sesame(&["render", "-f", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    for expected in ["pushSecret: team/push", "remoteKey: team/db", "store: SecretStore/vault", "<redacted: 14 bytes>"] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    assert!(!out.contains("hunter2-pushed"), "a value leaked:\n{out}");
    let (ok, out, _) = sesame(&["render", "-f", dir.to_str().unwrap(), "--reveal"]);
    assert!(ok && out.contains("value: hunter2-pushed"), "{out}");
}

#[test]
fn render_expands_a_push_secrets_data_to_as_the_controller_would() {
    let dir = std::env::temp_dir().join(format!("sesame-cli-push-datato-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifests = r#"
apiVersion: v1
kind: Secret
metadata: {name: src, namespace: team, labels: {push: "yes"}}
stringData: {db-user: app, db-pass: hunter2-bulk, other: x}
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: {name: bulk, namespace: team}
spec:
  secretStoreRefs: [{name: vault}]
  selector: {secret: {selector: {matchLabels: {push: "yes"}}}}
  dataTo:
    - storeRef: {name: vault}
      match: {regexp: "^db-"}
      rewrite: [{regexp: {source: "^db-", target: "app/"}}]
"#;
    std::fs::write(dir.join("push.yaml"), manifests).unwrap();
    let (ok, out, err) = sesame(&["render", "-f", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    for expected in ["pushSecret: team/bulk", "remoteKey: app/user", "remoteKey: app/pass", "store: SecretStore/vault"] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    assert!(!out.contains("other") && !out.contains("hunter2-bulk"), "unmatched key or a value in\n{out}");
}

#[test]
fn render_runs_generators_and_redacts_their_values_unless_revealed() {
    let dir = std::env::temp_dir().join(format!("sesame-cli-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifests = r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {name: pw, namespace: team}
spec: {length: 24, digits: 4, symbols: 0, noUpper: true}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: ClusterGenerator
metadata: {name: fixed}
spec: {kind: Fake, generator: {fakeSpec: {data: {user: admin}}}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: team}
spec:
  dataFrom:
    - sourceRef: {generatorRef: {apiVersion: generators.external-secrets.io/v1alpha1, kind: Password, name: pw}}
    - sourceRef: {generatorRef: {apiVersion: generators.external-secrets.io/v1alpha1, kind: ClusterGenerator, name: fixed}}
"#;
    std::fs::write(dir.join("gen.yaml"), manifests).unwrap();
    let (ok, out, err) = sesame(&["render", "-f", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    for expected in ["name: db", "password: \"<redacted: 24 bytes>\"", "user: \"<redacted: 5 bytes>\""] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    assert!(!out.contains("YWRtaW4="), "a value leaked:\n{out}");
    let (ok, out, err) = sesame(&["render", "-f", dir.to_str().unwrap(), "--reveal"]);
    assert!(ok, "{err}");
    assert!(out.contains("user: YWRtaW4="), "{out}");
    let line = out.lines().find(|l| l.trim_start().starts_with("password: ")).expect("a password key");
    let encoded = line.trim_start().trim_start_matches("password: ");
    assert_eq!(encoded.len(), 32, "24 bytes in base64: {line}");
    // Every render generates anew (ESO's rule for generators).
    let (_, again, _) = sesame(&["render", "-f", dir.to_str().unwrap(), "--reveal"]);
    assert!(!again.contains(line), "a second render repeated the password");
}

#[test]
fn render_expands_cluster_push_and_external_secrets_into_the_namespaces_they_select() {
    let dir = std::env::temp_dir().join(format!("sesame-cli-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifests = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {tier: app}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b, labels: {tier: app}}
---
apiVersion: v1
kind: Namespace
metadata: {name: infra, labels: {tier: infra}}
---
apiVersion: v1
kind: Secret
metadata: {name: src, namespace: team-a}
stringData: {token: hunter2-fleet}
---
apiVersion: v1
kind: Secret
metadata: {name: src, namespace: team-b}
stringData: {token: hunter3-fleet}
---
apiVersion: external-secrets.io/v1alpha1
kind: ClusterPushSecret
metadata: {name: tokens}
spec:
  namespaceSelectors: [{matchLabels: {tier: app}}]
  pushSecretName: token-push
  pushSecretSpec:
    secretStoreRefs: [{name: vault, kind: ClusterSecretStore}]
    selector: {secret: {name: src}}
    data:
      - match: {secretKey: token, remoteRef: {remoteKey: tokens/app}}
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: demo}
spec:
  provider:
    fake:
      data: [{key: /shared/greeting, value: hello-fleet}]
---
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata: {name: greeting}
spec:
  namespaces: [named-only]
  namespaceSelectors: [{matchLabels: {tier: infra}}]
  externalSecretSpec:
    secretStoreRef: {name: demo, kind: ClusterSecretStore}
    target: {name: greeting}
    data: [{secretKey: text, remoteRef: {key: /shared/greeting}}]
"#;
    std::fs::write(dir.join("fleet.yaml"), manifests).unwrap();
    let (ok, out, err) = sesame(&["render", "-f", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    for expected in [
        "pushSecret: team-a/token-push",
        "pushSecret: team-b/token-push",
        "remoteKey: tokens/app",
        "namespace: infra",
        "namespace: named-only",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    assert!(!out.contains("pushSecret: infra/"), "a namespace the selector does not choose got a PushSecret:\n{out}");
    assert!(!out.contains("hunter2-fleet") && !out.contains("hello-fleet"), "a value leaked:\n{out}");
}
