//! The container image. CI has no Docker daemon, so `deploy/image/build.sh` builds it with buildah
//! (`FROM scratch`, vfs storage, chroot isolation) around the very binary these tests exercise, and
//! the image's own controller — started by buildah from the image's entrypoint and user — syncs a
//! Secret on the real apiserver. Releases package the static musl build the same way.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::cluster::{Namespace, install_crds, kubectl_apply};
use crate::tools::{self, kubectl};

/// The UID:GID every Sesame image runs as (distroless "nonroot").
const NONROOT: &str = "65532:65532";

/// A private buildah storage, removed with everything in it when dropped.
struct Buildah {
    root: PathBuf,
}

impl Buildah {
    fn new() -> Buildah {
        let found = Command::new("buildah").arg("--version").output();
        assert!(
            found.as_ref().is_ok_and(|o| o.status.success()),
            "buildah is missing or broken ({found:?}); `tests/env/testenv setup` installs it"
        );
        let root = std::env::temp_dir().join(tools::unique("sesame-image"));
        std::fs::create_dir_all(&root).unwrap();
        Buildah { root }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("buildah");
        cmd.arg("--storage-driver=vfs")
            .arg(format!("--root={}", self.root.join("storage").display()))
            .arg(format!("--runroot={}", self.root.join("run").display()));
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run buildah");
        assert!(out.status.success(), "buildah {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = self.command().args(["rm", "--all"]).output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn build_image(buildah: &Buildah, tag: &str) -> Output {
    Command::new("bash")
        .arg(tools::repo().join("deploy/image/build.sh"))
        .arg(tag)
        .env("SESAME_BINARY", env!("CARGO_BIN_EXE_sesame"))
        .env("SESAME_BUILDAH_ROOT", &buildah.root)
        .output()
        .expect("run deploy/image/build.sh")
}

/// A kubeconfig the image's non-root user can read: the admin token and the CA inline.
fn readable_kubeconfig(dir: &Path) {
    let env = sesame_testsupport::env();
    let ca = std::fs::read(&env.kube_ca).expect("read the test apiserver's CA");
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "testenv",
        "clusters": [{"name": "testenv", "cluster": {
            "server": env.kube_server,
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(ca)}}],
        "users": [{"name": "admin", "user": {"token": env.kube_token}}],
        "contexts": [{"name": "testenv", "context": {"cluster": "testenv", "user": "admin"}}],
    });
    std::fs::write(dir.join("kubeconfig"), serde_json::to_vec(&config).unwrap()).unwrap();
}

/// The `buildah run` of the image's controller, and the controller process inside it.
struct ImageController {
    buildah_run: Child,
    pid: Option<u32>,
}

impl Drop for ImageController {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.buildah_run.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.buildah_run.kill();
        let _ = self.buildah_run.wait();
    }
}

/// The PID of the process whose command line holds `marker` as one argument.
fn find_process(marker: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let is_sesame = cmdline.split(|b| *b == 0).next().is_some_and(|a0| a0 == b"/sesame");
        (is_sesame && cmdline.split(|b| *b == 0).any(|a| a == marker.as_bytes())).then_some(pid)
    })
}

/// The real and effective UID:GID of a process, from /proc.
fn ids(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field =
        |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.split_whitespace().take(2).collect::<Vec<_>>().join(","));
    format!("{}:{}", field("Uid:").unwrap_or_default(), field("Gid:").unwrap_or_default())
}

#[test]
fn image_builds_without_a_daemon_runs_as_nonroot_and_syncs_a_secret() {
    let buildah = Buildah::new();
    let tag = format!("localhost/{}:ci", tools::unique("sesame"));
    let built = build_image(&buildah, &tag);
    assert!(built.status.success(), "deploy/image/build.sh failed:\n{}", String::from_utf8_lossy(&built.stderr));

    let config: Value = serde_json::from_str(&buildah.run(&["inspect", "--type=image", &tag])).unwrap();
    let oci = &config["OCIv1"]["config"];
    assert_eq!(oci["User"], NONROOT, "{oci}");
    assert_eq!(oci["Entrypoint"], json!(["/sesame"]), "{oci}");
    assert_eq!(oci["Cmd"], json!(["run"]), "{oci}");

    // Nothing but the binary, its loader and libraries, and the CA bundle: no shell to exec into.
    let container = buildah.run(&["from", &tag]);
    let rootfs = PathBuf::from(buildah.run(&["mount", &container]));
    assert!(rootfs.join("sesame").is_file() && rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
    for absent in ["bin/sh", "usr/bin", "bin"] {
        assert!(!rootfs.join(absent).exists(), "the image holds /{absent}");
    }
    // The image's binary is the one under test: it generates exactly the committed CRDs. (The
    // exit status is the answer; buildah under load has been seen to drop a short stdout.)
    let crds = format!("{}:/crds:ro", tools::repo().join("crds").display());
    buildah.run(&["run", "--isolation=chroot", "--volume", &crds, &container, "--", "/sesame", "crds", "--check", "--out-dir", "/crds"]);

    install_crds();
    let ns = Namespace::create("dpl-image");
    let class = tools::unique("image");
    let config_dir = buildah.root.join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    readable_kubeconfig(&config_dir);
    let mount = format!("{}:/config:ro", config_dir.display());
    let mut controller = ImageController {
        buildah_run: buildah
            .command()
            .args(["run", "--isolation=chroot", "--env=KUBECONFIG=/config/kubeconfig", "--volume", &mount, &container])
            .args(["--", "/sesame", "run", "--metrics-addr=127.0.0.1:0", "--namespace", &ns.0, "--controller-class", &class])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("buildah run"),
        pid: None,
    };
    let start = Instant::now();
    while controller.pid.is_none() && start.elapsed() < Duration::from_secs(30) {
        controller.pid = find_process(&class);
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = controller.pid.expect("the image's controller process never started");
    assert_eq!(ids(pid), "65532,65532:65532,65532", "the controller must run as the image's non-root user");

    kubectl_apply(&json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "demo", "namespace": ns.0},
        "spec": {"controller": class, "provider": {"fake": {"data": [{"key": "/app/token", "value": "from-the-image"}]}}},
    }));
    kubectl_apply(&json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": ns.0},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "demo", "kind": "SecretStore"},
                 "data": [{"secretKey": "token", "remoteRef": {"key": "/app/token"}}]},
    }));
    let synced = loop {
        let out = tools::run("kubectl", &["get", "secret", "app", "-n", &ns.0, "-o", "jsonpath={.data.token}"], None);
        if out.status.success() && !out.stdout.is_empty() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(90) && matches!(controller.buildah_run.try_wait(), Ok(None)),
            "the image's controller did not sync the Secret; ExternalSecret: {}",
            kubectl(&["get", "externalsecret", "app", "-n", &ns.0, "-o", "jsonpath={.status}"])
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(synced).unwrap(), b"from-the-image");
}
