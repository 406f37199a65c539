//! Re-validate a store when a Secret it names changes: a store left `InvalidProviderConfig` by a
//! refused token comes back as soon as the token is rotated, not at its next periodic validation.
//!
//! Secrets are watched as metadata only and never cached; each change is matched against the
//! names the stores' provider sections hold. The match is deliberately generous (any `name` in the
//! provider section, with its `namespace` or the store's): a false match costs one validation.
use std::collections::BTreeSet;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::api::{ClusterSecretStore, MANAGED_LABEL, SecretStore, SecretStoreSpec};

/// The (namespace, name) pairs a store's provider section names. `own` is a SecretStore's
/// namespace (refs without one are there); a ClusterSecretStore's refs without a namespace are
/// referent (resolved per ExternalSecret, never validated by the store) and left out.
pub fn named_secrets(spec: &SecretStoreSpec, own: Option<&str>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    if let Ok(provider) = serde_json::to_value(&spec.provider) {
        collect(&provider, own, &mut out);
    }
    out
}

fn collect(v: &Value, own: Option<&str>, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                let ns = map.get("namespace").and_then(Value::as_str).filter(|n| !n.is_empty()).or(own);
                if let Some(ns) = ns {
                    out.insert((ns.to_string(), name.to_string()));
                }
            }
            map.values().for_each(|child| collect(child, own, out));
        }
        Value::Array(items) => items.iter().for_each(|child| collect(child, own, out)),
        _ => {}
    }
}

/// Watch Secret metadata (in `ns`, or everywhere) and send the stores naming a changed Secret.
pub async fn watch(
    api: kube::Api<PartialObjectMeta<Secret>>,
    stores: Store<SecretStore>,
    cluster_stores: Store<ClusterSecretStore>,
    to_stores: UnboundedSender<ObjectRef<SecretStore>>,
    to_cluster_stores: UnboundedSender<ObjectRef<ClusterSecretStore>>,
) {
    // Sesame's own target Secrets change all the time and are never credentials.
    let config = watcher::Config::default().labels(&format!("{MANAGED_LABEL}!=true"));
    let changes = watcher(api, config).default_backoff().touched_objects();
    futures::pin_mut!(changes);
    while let Some(change) = changes.next().await {
        let Ok(secret) = change else { continue };
        let key = (secret.namespace().unwrap_or_default(), secret.name_any());
        for store in stores.state() {
            if named_secrets(&store.spec, store.namespace().as_deref()).contains(&key) {
                let _ = to_stores.unbounded_send(ObjectRef::from_obj(&*store));
            }
        }
        for store in cluster_stores.state() {
            if named_secrets(&store.spec.store, None).contains(&key) {
                let _ = to_cluster_stores.unbounded_send(ObjectRef::from_obj(&*store));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: serde_json::Value) -> SecretStoreSpec {
        serde_json::from_value(serde_json::json!({"provider": provider})).unwrap()
    }

    #[test]
    fn a_store_names_the_secrets_of_its_provider_section_in_its_namespace() {
        let gitlab = spec(serde_json::json!({"gitlab": {"projectID": "1",
            "auth": {"SecretRef": {"accessToken": {"name": "gitlab-secret", "key": "token"}}}}}));
        assert_eq!(named_secrets(&gitlab, Some("team-a")), BTreeSet::from([("team-a".to_string(), "gitlab-secret".to_string())]));
        // A ClusterSecretStore: refs naming a namespace count; referent ones are not validated.
        let pinned = spec(serde_json::json!({"vault": {"server": "http://v:8200",
            "auth": {"appRole": {"path": "approle", "roleId": "r", "secretRef": {"name": "role", "namespace": "ops"}}}}}));
        assert_eq!(named_secrets(&pinned, None), BTreeSet::from([("ops".to_string(), "role".to_string())]));
        let referent = spec(serde_json::json!({"vault": {"server": "http://v:8200", "auth": {"tokenSecretRef": {"name": "t"}}}}));
        assert!(named_secrets(&referent, None).is_empty());
    }
}
