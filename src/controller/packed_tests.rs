use super::*;

/// An object using most of what an ExternalSecret can say, as the apiserver returns it.
fn rich() -> ExternalSecret {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {
            "name": "db", "namespace": "team-a", "uid": "5f0c9a52-0000-4000-8000-000000000001",
            "resourceVersion": "4711", "generation": 3, "creationTimestamp": "2026-12-01T10:00:00Z",
            "labels": {"app": "db"}, "annotations": {"force-sync": "1733390000"},
            "finalizers": ["example.com/keep"],
            "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
                "name": "fleet", "uid": "u-fleet", "controller": true}],
        },
        "spec": {
            "refreshInterval": "15m", "refreshPolicy": "Periodic",
            "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
            "target": {"name": "db-credentials", "creationPolicy": "Merge", "deletionPolicy": "Delete",
                "template": {"type": "kubernetes.io/basic-auth", "data": {"url": "postgres://{{ .user }}@db"},
                    "templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "a"}]}}]}},
            "data": [{"secretKey": "user", "remoteRef": {"key": "db/creds", "property": "user", "version": "2"}}],
            "dataFrom": [
                {"extract": {"key": "db/extra"}, "rewrite": [{"regexp": {"source": "^x", "target": "y"}}]},
                {"find": {"name": {"regexp": "^db-"}}},
                {"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": "pw"}}},
            ],
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced",
                "lastTransitionTime": "2026-12-01T10:00:01Z"}],
            "refreshTime": "2026-12-01T10:00:01Z", "syncedResourceVersion": "3-abc", "binding": {"name": "db-credentials"},
        },
    }))
    .expect("a valid ExternalSecret")
}

fn as_json(es: &ExternalSecret) -> serde_json::Value {
    serde_json::to_value(es).expect("serializes")
}

#[test]
fn a_packed_object_unpacks_to_exactly_what_was_packed() {
    let es = rich();
    let packed = PackedExternalSecret::pack(es.clone(), 42);
    assert_eq!(as_json(&packed.unpack().expect("unpacks")), as_json(&es));
    assert_eq!((packed.sync_relevant, packed.refreshed), (42, true));
    assert_eq!((packed.namespace(), packed.name()), ("team-a", "db"));

    let mut first_sync = es.clone();
    first_sync.status = None;
    let packed = PackedExternalSecret::pack(first_sync.clone(), 0);
    assert!(!packed.refreshed);
    assert_eq!(as_json(&packed.unpack().expect("unpacks")), as_json(&first_sync));
}

#[test]
fn every_dictionary_sample_is_an_external_secret_this_build_reads() {
    for sample in typical() {
        serde_json::from_value::<ExternalSecret>(sample).expect("a sample that no longer decodes would weaken the dictionary");
    }
}

#[test]
fn a_typical_object_packs_to_a_small_fraction_of_its_json() {
    // The benchmark's object, as the apiserver returns it once synced.
    let data = ["a", "b", "c"].map(|p| {
        serde_json::json!({"secretKey": p, "remoteRef": {"key": "es-4711", "property": p,
            "conversionStrategy": "Default", "decodingStrategy": "None", "metadataPolicy": "None"}})
    });
    let es: ExternalSecret = serde_json::from_value(serde_json::json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "es-4711", "namespace": "bench", "uid": "5f0c9a52-0000-4000-8000-000000004711",
            "resourceVersion": "123456", "generation": 1, "creationTimestamp": "2026-12-05T08:00:00Z"},
        "spec": {
            "refreshInterval": "120s", "secretStoreRef": {"name": "fake-47", "kind": "SecretStore"},
            "target": {"name": "es-4711", "creationPolicy": "Owner", "deletionPolicy": "Retain"},
            "data": data,
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced",
                "lastTransitionTime": "2026-12-05T08:00:30Z"}],
            "refreshTime": "2026-12-05T08:00:30Z", "syncedResourceVersion": "1-9f2c0d3e5b7a4c1d8e6f0a2b3c4d5e6f",
            "binding": {"name": "es-4711"},
        },
    }))
    .expect("a valid ExternalSecret");
    let json = serde_json::to_vec(&es).expect("serializes").len();
    let packed = PackedExternalSecret::pack(es.clone(), 0);
    assert!(packed.packed_len() * 3 < json, "{} packed bytes for {json} bytes of JSON", packed.packed_len());
    assert_eq!(as_json(&packed.unpack().expect("unpacks")), as_json(&es));
}

#[test]
fn a_damaged_record_unpacks_to_nothing_and_never_panics() {
    let mut packed = PackedExternalSecret::pack(rich(), 0);
    let n = packed.packed.len();
    packed.packed = packed.packed[..n / 2].into();
    assert!(packed.unpack().is_none());
}

#[test]
fn what_the_mappers_ask_is_answered_without_unpacking_and_costs_no_space() {
    let rich = PackedExternalSecret::pack(rich(), 0);
    let expected = Uses { template_config_maps: true, generators: true, manifest: false, renamed_target: true };
    assert_eq!(rich.uses, expected);
    let plain: ExternalSecret = serde_json::from_value(serde_json::json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": {"secretStoreRef": {"name": "s"}, "target": {"name": "app"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]},
    }))
    .expect("a valid ExternalSecret");
    assert_eq!(PackedExternalSecret::pack(plain, 0).uses, Uses::default());
    // Name, namespace, the packed bytes (two words each), the hash; the flags share the padding
    // word after `refreshed`.
    assert_eq!(std::mem::size_of::<PackedExternalSecret>(), 8 * std::mem::size_of::<u64>());
}
