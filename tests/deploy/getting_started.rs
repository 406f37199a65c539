//! The newcomer's path: steps 2–4 of `docs/getting-started.md` (CRDs, the controller, the first
//! ExternalSecret) run as written, in bash, against the test apiserver. Only two things are
//! substituted: `cargo run --` becomes the binary under test (cargo is busy running these tests),
//! and the metrics port becomes a free one. Step 1 is the environment this test already runs in;
//! step 5 would stop it.
use std::process::{Command, Stdio};

use crate::tools;

/// The commands of steps 2 to 4 of the guide's first shell block.
fn guide_steps() -> String {
    let guide = std::fs::read_to_string(tools::repo().join("docs/getting-started.md")).expect("read docs/getting-started.md");
    let block = guide.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a ```sh block in the guide");
    let from = block.find("# 2.").expect("the guide's step 2");
    let to = block.find("# 5.").expect("the guide's step 5");
    block[from..to].to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The quickstart's objects live in `default`: remove them before and after.
fn clean_quickstart() {
    let _ = tools::run(
        "kubectl",
        &[
            "delete",
            "-n",
            "default",
            "--ignore-not-found",
            "externalsecret/demo-app",
            "secretstore/demo-store",
            "secret/demo-app-credentials",
        ],
        None,
    );
}

struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        clean_quickstart();
    }
}

#[test]
fn a_newcomer_follows_the_guide_to_a_synced_secret() {
    let env = sesame_testsupport::env();
    let steps = guide_steps();
    assert!(steps.contains("cargo run -- run --metrics-addr 127.0.0.1:8080 &"), "the guide's step 3 changed:\n{steps}");
    let script = steps
        .replace("cargo run --", &format!("\"{}\"", env!("CARGO_BIN_EXE_sesame")))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", free_port()));
    crate::cluster::install_crds();
    clean_quickstart();
    let _cleanup = Cleanup;

    // `source .testenv/env` of step 1, from wherever this run's state lives; the controller the
    // guide starts in the background is killed with the shell's jobs when the steps end.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\nsource \"$STATE/env\"\n{script}\nkill %1 || true\nwait || true\n"))
        .env("STATE", &env.state_dir)
        // The guide's controller watches every namespace; in this shared test apiserver it is
        // kept to `default`, where the quickstart lives (flags are also environment variables).
        .env("SESAME_NAMESPACE", "default")
        .current_dir(tools::repo())
        .stdin(Stdio::null())
        .output()
        .expect("run the guide's steps in bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the guide's steps failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.contains("SecretSynced") && stdout.contains("True"), "`kubectl get externalsecret demo-app`:\n{stdout}");
    assert!(
        stdout.lines().any(|l| l.trim() == "correct-horse-battery-staple"),
        "the synced Secret's db-password is not the quickstart's value:\n{stdout}"
    );
}
