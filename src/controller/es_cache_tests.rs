use super::*;

fn object(namespace: &str, name: &str, generators: bool) -> PackedExternalSecret {
    let mut es: ExternalSecret = serde_json::from_value(serde_json::json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"secretStoreRef": {"name": "s"}, "target": {"name": name}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]},
    }))
    .expect("a valid ExternalSecret");
    if generators {
        es.spec.data_from = serde_json::from_value(serde_json::json!([
            {"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": "pw"}}}
        ]))
        .expect("valid dataFrom");
    }
    PackedExternalSecret::pack(es, 0)
}

fn names(found: Vec<ExternalSecret>) -> Vec<String> {
    let mut names: Vec<String> = found.into_iter().filter_map(|e| e.metadata.name).collect();
    names.sort();
    names
}

#[tokio::test]
async fn records_are_found_by_namespace_and_name_and_unpack_with_both() {
    let cache = ExternalSecretCache::default();
    let filed = cache.apply(watcher::Event::Apply(object("team-a", "db", false))).expect("an apply files a record");
    let found = cache.get(&EsRef::new("team-a", "db")).expect("filed under namespace/name");
    assert!(Arc::ptr_eq(&filed, &found), "the controller is told of the very record the cache holds");
    let es = found.unpack().expect("unpacks");
    assert_eq!((es.metadata.namespace.as_deref(), es.metadata.name.as_deref()), (Some("team-a"), Some("db")));
    assert!(cache.get(&EsRef::new("team-b", "db")).is_none());
    cache.apply(watcher::Event::Delete(object("team-a", "db", false)));
    assert!(cache.is_empty());
}

#[test]
fn a_namespace_is_held_once_for_all_of_its_objects() {
    let cache = ExternalSecretCache::default();
    let a = cache.apply(watcher::Event::Apply(object("team-a", "one", false))).expect("filed");
    let b = cache.apply(watcher::Event::Apply(object("team-a", "two", false))).expect("filed");
    assert!(Arc::ptr_eq(a.namespace_arc(), b.namespace_arc()));
}

#[tokio::test]
async fn a_relist_replaces_the_cache_only_when_complete_and_forgets_what_it_did_not_list() {
    let cache = ExternalSecretCache::default();
    cache.apply(watcher::Event::Init);
    cache.apply(watcher::Event::InitApply(object("a", "x", false)));
    assert!(cache.get(&EsRef::new("a", "x")).is_none(), "nothing is served before the list is complete");
    cache.apply(watcher::Event::InitApply(object("a", "y", false)));
    cache.apply(watcher::Event::InitDone);
    cache.wait_until_ready().await;
    assert_eq!(cache.len(), 2);
    cache.apply(watcher::Event::Apply(object("b", "z", false)));
    // A relist after a lost watch: `a/x` and `a/y` are gone meanwhile; the old view stays until it ends.
    cache.apply(watcher::Event::Init);
    cache.apply(watcher::Event::InitApply(object("b", "z", false)));
    assert!(cache.get(&EsRef::new("a", "x")).is_some());
    cache.apply(watcher::Event::InitDone);
    assert!(cache.get(&EsRef::new("a", "x")).is_none());
    assert!(cache.get(&EsRef::new("b", "z")).is_some());
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_walk_unpacks_only_the_objects_its_question_lets_through() {
    let cache = ExternalSecretCache::default();
    cache.apply(watcher::Event::Apply(object("team-a", "db", true)));
    cache.apply(watcher::Event::Apply(object("team-a", "plain", false)));
    cache.apply(watcher::Event::Apply(object("team-b", "other", true)));
    assert_eq!(names(cache.unpacked(Some("team-a"), |p| p.uses.generators)), ["db"]);
    assert_eq!(names(cache.unpacked(Some("team-a"), |_| true)), ["db", "plain"]);
    assert_eq!(names(cache.unpacked(None, |p| p.uses.generators)), ["db", "other"]);
    assert!(cache.unpacked(Some("team-c"), |_| true).is_empty());
}
