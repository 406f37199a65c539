//! The real binary syncing from SaaS backends that have no emulator, through protocol-faithful
//! fakes (the same ones the provider crates test against, compiled in by `#[path]`). A store's
//! `url` points at the fake, as an operator would point it at a self-hosted instance.
mod bitwarden;
mod doppler;
mod github_token;
mod gitlab;
mod infisical;
mod onepassword;

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::harness::*;

/// The store's Ready condition: (status, reason, message).
async fn store_ready(scene: &Scene, name: &str) -> Option<(String, String, String)> {
    let store = scene.stores().get(name).await.ok()?;
    let c = store.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
}

/// Wait until the store is Ready=`status` with `reason` and a message containing `names`.
async fn wait_store(scene: &Scene, sesame: &Sesame, name: &str, status: &str, reason: &str, names: &str) -> String {
    let ok = eventually(Duration::from_secs(30), || async {
        store_ready(scene, name).await.is_some_and(|(s, r, m)| s == status && r == reason && m.contains(names))
    })
    .await;
    let got = store_ready(scene, name).await;
    assert!(ok, "store {name} never reached Ready={status}/{reason} naming {names:?}: {got:?}\n{}", tail(&sesame.logs()));
    got.unwrap().2
}

/// Ask for an immediate refresh, as `kubectl annotate … force-sync=$(date)` does.
async fn force_sync(scene: &Scene, name: &str, stamp: &str) {
    let patch = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": stamp}}});
    scene.externalsecrets().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
}

/// Secret values and credentials must never reach the controller's log.
fn assert_not_logged(sesame: &Sesame, values: &[&str]) {
    let logs = sesame.logs();
    assert!(!logs.is_empty(), "the sesame log {} is empty", sesame.log.display());
    for (i, value) in values.iter().enumerate() {
        // Name the value by position only: the assertion message must not leak it either.
        assert!(!logs.contains(value), "secret value #{i} appears in the sesame log {}", sesame.log.display());
    }
}
