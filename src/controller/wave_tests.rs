use super::*;

fn es(namespace: &str, name: &str, spec: serde_json::Value) -> ExternalSecret {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}")},
        "spec": spec,
    }))
    .expect("a valid ExternalSecret")
}

fn reading(kind: &str, keys: &[&str]) -> serde_json::Value {
    let data: Vec<_> = keys.iter().map(|k| serde_json::json!({"secretKey": k, "remoteRef": {"key": k}})).collect();
    serde_json::json!({"secretStoreRef": {"name": "shared", "kind": kind}, "data": data})
}

fn store(kind: StoreKind) -> StoreKey {
    ("shared".to_string(), kind)
}

fn admitted(namespaces: &[&str]) -> BTreeSet<String> {
    namespaces.iter().map(|n| n.to_string()).collect()
}

fn counts(reads: Vec<(RemoteKey, usize)>) -> Vec<(String, usize)> {
    let mut out: Vec<_> = reads.into_iter().map(|(k, n)| (k.key, n)).collect();
    out.sort();
    out
}

#[test]
fn every_read_of_the_wave_is_counted_once_per_reader() {
    let objects = [
        es("team", "a", reading("SecretStore", &["db", "api"])),
        es("team", "b", reading("SecretStore", &["db"])),
        es("team", "c", serde_json::json!({"secretStoreRef": {"name": "shared"}, "dataFrom": [{"extract": {"key": "db"}}]})),
    ];
    let refs: Vec<&ExternalSecret> = objects.iter().collect();
    let reads = count_reads(&refs, &admitted(&["team"]), false, 100);
    assert_eq!(counts(reads), [("api".to_string(), 1), ("db".to_string(), 3)]);
}

#[test]
fn a_refused_namespace_gets_nothing_read_for_it() {
    let objects = [es("allowed", "a", reading("ClusterSecretStore", &["a"])), es("refused", "b", reading("ClusterSecretStore", &["b"]))];
    let refs: Vec<&ExternalSecret> = objects.iter().collect();
    let reads = count_reads(&refs, &admitted(&["allowed"]), false, 100);
    assert_eq!(counts(reads), [("a".to_string(), 1)], "the refused namespace's key is neither read nor held");
}

fn in_namespace(namespace: &str, key: StoreKey) -> Option<WaveStore> {
    Some((Some(namespace.to_string()), key))
}

#[test]
fn a_secret_store_plans_only_its_own_namespaces_objects() {
    let key = store(StoreKind::SecretStore);
    assert_eq!(wave_store(&es("team-a", "x", reading("SecretStore", &["db"]))), in_namespace("team-a", key.clone()));
    assert_ne!(
        wave_store(&es("team-b", "x", reading("SecretStore", &["db"]))),
        in_namespace("team-a", key),
        "team-b's store of that name is another store"
    );
    let cluster = store(StoreKind::ClusterSecretStore);
    assert_eq!(wave_store(&es("team-b", "x", reading("ClusterSecretStore", &["db"]))), Some((None, cluster.clone())));
    assert_ne!(
        wave_store(&es("team-b", "x", reading("SecretStore", &["db"]))),
        Some((None, cluster)),
        "a SecretStore named alike is not the cluster store"
    );
}

#[test]
fn finds_generators_and_second_stores_keep_their_own_reads() {
    let find = serde_json::json!({"secretStoreRef": {"name": "shared"}, "dataFrom": [{"find": {"name": {"regexp": ".*"}}}]});
    let generated = serde_json::json!({"secretStoreRef": {"name": "shared"}, "data": [{"secretKey": "k", "remoteRef": {"key": "db"}}],
        "dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": "pw"}}}]});
    let two_stores = serde_json::json!({"secretStoreRef": {"name": "shared"}, "data": [
        {"secretKey": "a", "remoteRef": {"key": "db"}},
        {"secretKey": "b", "remoteRef": {"key": "db"}, "sourceRef": {"storeRef": {"name": "other"}}}]});
    for (what, spec) in [("find", find), ("generator", generated), ("two stores", two_stores)] {
        assert_eq!(wave_store(&es("team-a", "x", spec)), None, "{what}");
    }
}

#[test]
fn a_plan_stops_at_its_key_limit_without_splitting_an_object() {
    let objects: Vec<ExternalSecret> =
        (0..10).map(|i| es("team", &format!("o{i}"), reading("SecretStore", &[&format!("a{i}"), &format!("b{i}")]))).collect();
    let refs: Vec<&ExternalSecret> = objects.iter().collect();
    let reads = count_reads(&refs, &admitted(&["team"]), false, 5);
    assert_eq!(reads.len(), 4, "two whole objects fit in five keys; the rest read for themselves");
}

#[test]
fn a_provider_applying_property_itself_plans_the_property_and_not_its_map_reads() {
    let spec = serde_json::json!({"secretStoreRef": {"name": "shared"},
        "data": [{"secretKey": "u", "remoteRef": {"key": "db", "property": "user"}}],
        "dataFrom": [{"extract": {"key": "app"}}]});
    let objects = [es("team", "a", spec)];
    let refs: Vec<&ExternalSecret> = objects.iter().collect();
    let reads = count_reads(&refs, &admitted(&["team"]), true, 100);
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].0.property.as_deref(), Some("user"), "the key the sync will ask for, property included");
}

#[test]
fn a_first_sync_reading_its_share_is_not_counted_by_a_later_plan_until_it_ends() {
    let waiting = Waiting::default();
    let db = es("team-a", "db", reading("SecretStore", &["k"]));
    let other = es("team-a", "cache", reading("SecretStore", &["k"]));
    {
        let _reading = waiting.reading(&db);
        assert!(waiting.is_reading(&db), "past its plan: its share is held or taken");
        assert!(!waiting.is_reading(&other));
    }
    assert!(!waiting.is_reading(&db), "its sync ended (or failed): a retry is counted again");
}
