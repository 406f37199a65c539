//! Whose slot a periodic refresh takes. Objects that read exactly the same remote keys from the
//! same stores share one slot, so their refreshes meet in one coalescing window and cost one
//! provider call between them instead of one each (a team's ten ExternalSecrets over one shared
//! database secret, or a ClusterExternalSecret's copy per namespace). Anything else — a `find`,
//! a generator — gains nothing from company and keeps a slot of its own, spread by its identity.
use std::collections::BTreeSet;

use kube::ResourceExt;

use crate::api::{ExternalSecret, SecretStoreRef, StoreKind};

/// The identity `due::next_slot` hashes for `es`.
pub fn slot_identity(es: &ExternalSecret) -> String {
    let namespace = es.namespace().unwrap_or_default();
    let own = || format!("{namespace}/{}/{}", es.name_any(), es.uid().unwrap_or_default());
    let spec = &es.spec;
    if spec.data_from.iter().any(|d| d.find.is_some() || d.source_ref.as_ref().is_some_and(|s| s.generator_ref.is_some())) {
        return own();
    }
    let store = |entry: Option<&SecretStoreRef>| -> Option<String> {
        let r = entry.or(spec.secret_store_ref.as_ref())?;
        Some(match r.kind.unwrap_or_default() {
            // A SecretStore is its namespace's own: the namespace is part of its name.
            StoreKind::SecretStore => format!("SecretStore/{namespace}/{}", r.name),
            StoreKind::ClusterSecretStore => format!("ClusterSecretStore/{}", r.name),
        })
    };
    let mut reads = BTreeSet::new();
    for d in &spec.data {
        let Some(store) = store(d.source_ref.as_ref().and_then(|s| s.secret_store_ref.as_ref())) else { return own() };
        reads.insert(format!("{store}|{}|{}", d.remote_ref.key, d.remote_ref.version.as_deref().unwrap_or_default()));
    }
    for d in &spec.data_from {
        let Some(extract) = &d.extract else { continue };
        let Some(store) = store(d.source_ref.as_ref().and_then(|s| s.secret_store_ref.as_ref())) else { return own() };
        reads.insert(format!("{store}|{}|{}", extract.key, extract.version.as_deref().unwrap_or_default()));
    }
    if reads.is_empty() {
        return own();
    }
    reads.into_iter().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(namespace: &str, name: &str, spec: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
            "spec": spec,
        }))
        .expect("a valid ExternalSecret")
    }

    fn reading(store_kind: &str, keys: &[&str]) -> serde_json::Value {
        let data: Vec<_> = keys.iter().map(|k| serde_json::json!({"secretKey": k, "remoteRef": {"key": k}})).collect();
        serde_json::json!({"secretStoreRef": {"name": "shared", "kind": store_kind}, "data": data})
    }

    #[test]
    fn objects_reading_the_same_keys_of_the_same_store_share_a_slot_whatever_their_order() {
        let a = es("team", "a", reading("SecretStore", &["db", "api"]));
        let b = es("team", "b", reading("SecretStore", &["api", "db"]));
        assert_eq!(slot_identity(&a), slot_identity(&b));
        let other_keys = es("team", "c", reading("SecretStore", &["db"]));
        assert_ne!(slot_identity(&a), slot_identity(&other_keys));
    }

    #[test]
    fn a_secret_store_is_its_namespaces_own_and_a_cluster_store_is_shared() {
        let here = es("team-a", "x", reading("SecretStore", &["db"]));
        let there = es("team-b", "x", reading("SecretStore", &["db"]));
        assert_ne!(slot_identity(&here), slot_identity(&there), "two SecretStores named alike are two stores");
        let here = es("team-a", "x", reading("ClusterSecretStore", &["db"]));
        let there = es("team-b", "y", reading("ClusterSecretStore", &["db"]));
        assert_eq!(slot_identity(&here), slot_identity(&there));
    }

    #[test]
    fn a_find_or_a_generator_keeps_a_slot_of_its_own() {
        let find = serde_json::json!({"secretStoreRef": {"name": "shared"}, "dataFrom": [{"find": {"name": {"regexp": ".*"}}}]});
        assert_ne!(slot_identity(&es("t", "a", find.clone())), slot_identity(&es("t", "b", find)));
        let generated = serde_json::json!({"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]});
        assert_ne!(slot_identity(&es("t", "a", generated.clone())), slot_identity(&es("t", "b", generated)));
    }
}
