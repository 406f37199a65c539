//! Generators (`generators.external-secrets.io/v1alpha1`) through `dataFrom[].sourceRef.generatorRef`
//! on the real apiserver: every refresh generates anew, `refreshInterval: 0` and `CreatedOnce` keep
//! the first values, an edit of the generator regenerates its periodic users at once, a
//! ClusterGenerator serves every namespace, a generator that cannot be used says why, and a
//! generator of another controller class leaves its users to that controller (as in ESO).
use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::harness::*;

/// Server-side apply of a generator object (any kind, or a ClusterGenerator when `ns` is None).
pub(crate) async fn apply_generator(client: &kube::Client, ns: Option<&str>, kind: &str, plural: &str, name: &str, spec: Value) {
    let gvk = GroupVersionKind::gvk("generators.external-secrets.io", "v1alpha1", kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let mut metadata = json!({"name": name});
    if let Some(ns) = ns {
        metadata["namespace"] = ns.into();
    }
    let body = json!({"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec});
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
}

pub(crate) fn from_generator(kind: &str, name: &str) -> Value {
    json!({"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "name": name}}})
}

/// The shape the Password spec below asks for: 16 characters, exactly 4 digits, no symbols, no
/// upper case.
fn has_the_spec_shape(password: &str) -> bool {
    password.chars().count() == 16
        && password.chars().filter(|c| c.is_ascii_digit()).count() == 4
        && password.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

async fn password_of(scene: &Scene, name: &str) -> Option<String> {
    scene.secret_data(name).await.and_then(|d| d.get("password").cloned())
}

#[tokio::test]
async fn a_password_generator_regenerates_at_each_refresh_and_only_when_the_policy_says_so() {
    let scene = Scene::new("e2e-gen").await;
    let spec = json!({"length": 16, "digits": 4, "symbols": 0, "noUpper": true, "allowRepeat": true});
    apply_generator(&scene.client, Some(&scene.ns), "Password", "passwords", "pw", spec.clone()).await;
    // One entry from the scene's store ties the objects to this test's controller class: a
    // generator-only ExternalSecret is every class's, and another test runs a cluster-wide sesame.
    scene.fake_store("store", &[("/marker", "m")]).await;
    let sesame = scene.sesame();
    let entry = |extra: Value| {
        let mut es = json!({
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "store"},
            "data": [{"secretKey": "marker", "remoteRef": {"key": "/marker"}}],
            "dataFrom": [from_generator("Password", "pw")],
        });
        es.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        es
    };
    scene.external_secret("rotating", entry(json!({}))).await;
    scene.external_secret("interval-zero", entry(json!({"refreshInterval": "0"}))).await;
    scene.external_secret("created-once", entry(json!({"refreshPolicy": "CreatedOnce"}))).await;
    let mut first = BTreeMap::new();
    for name in ["rotating", "interval-zero", "created-once"] {
        scene.wait_ready(&sesame, name, "True", "SecretSynced").await;
        let password = password_of(&scene, name).await.unwrap_or_else(|| panic!("{name} has no password key"));
        assert!(has_the_spec_shape(&password), "{name}: {password:?} does not have the spec's shape");
        first.insert(name, password);
    }
    assert_ne!(first["rotating"], first["interval-zero"], "each ExternalSecret gets its own value");

    // ESO's force-sync annotation refreshes, and a refresh generates anew.
    let force = json!({"metadata": {"annotations": {"external-secrets.io/force-sync": "1"}}});
    scene.externalsecrets().patch("rotating", &PatchParams::default(), &Patch::Merge(&force)).await.unwrap();
    let rotated = eventually(Duration::from_secs(30), || async {
        password_of(&scene, "rotating").await.is_some_and(|p| p != first["rotating"] && has_the_spec_shape(&p))
    })
    .await;
    assert!(rotated, "force-sync did not regenerate: {:?}\n{}", password_of(&scene, "rotating").await, tail(&sesame.logs()));
    let second = password_of(&scene, "rotating").await.unwrap();

    // An edit of the generator regenerates its periodic users at once (the interval is an hour)...
    let mut longer = spec.clone();
    longer["digits"] = json!(5);
    apply_generator(&scene.client, Some(&scene.ns), "Password", "passwords", "pw", longer).await;
    let regenerated = eventually(Duration::from_secs(30), || async {
        password_of(&scene, "rotating").await.is_some_and(|p| p != second && p.chars().filter(|c| c.is_ascii_digit()).count() == 5)
    })
    .await;
    assert!(regenerated, "the generator edit did not regenerate: {}", tail(&sesame.logs()));
    // ...while refreshInterval 0 and CreatedOnce keep their first values, Secret untouched.
    for name in ["interval-zero", "created-once"] {
        assert_eq!(password_of(&scene, name).await.as_deref(), Some(first[name].as_str()), "{name} was regenerated");
    }
    // No generated value reached the log, the status or an Event.
    let logs = sesame.logs();
    for (name, password) in first.iter().map(|(n, p)| (*n, p.clone())).chain([("rotating", second)]) {
        assert!(!logs.contains(&password), "a generated value is in the log");
        let es = serde_json::to_string(&scene.es(name).await.status).unwrap();
        assert!(!es.contains(&password), "a generated value is in {name}'s status");
        // Read once its first sync's Event is posted, so the check covers it.
        let created = |(_, r, _): &(String, String, String)| r == "Created";
        let events = events_with(&scene.client, &scene.ns, name, created).await;
        assert!(events.iter().any(created), "{name}: no Created Event: {events:?}");
        assert!(events.iter().all(|(_, _, note)| !note.contains(&password)), "a generated value is in an Event");
    }
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_cluster_generator_serves_every_namespace_and_its_output_is_rewritten_and_templated() {
    let scene = Scene::new("e2e-cgen").await;
    let other = Scene { client: scene.client.clone(), ns: format!("{}-o", scene.ns), class: scene.class.clone() };
    create_namespace(&scene.client, &other.ns, Default::default()).await;
    let name = format!("{}-fake", scene.ns);
    // The generator names this test's controller class: other tests' cluster-wide controllers
    // leave its generator-only users alone.
    let fake = |user: &str| json!({"kind": "Fake", "generator": {"fakeSpec": {"controller": scene.class, "data": {"user": user, "host": "db.local"}}}});
    apply_generator(&scene.client, None, "ClusterGenerator", "clustergenerators", &name, fake("admin")).await;
    let sesame = Sesame::start(&scene.ns, &["--controller-class", &scene.class]);
    let mut entry = from_generator("ClusterGenerator", &name);
    entry["rewrite"] = json!([{"regexp": {"source": "^(.*)$", "target": "db_$1"}}]);
    let es = json!({
        "refreshInterval": "1h",
        "dataFrom": [entry],
        "target": {"template": {"data": {"dsn": "{{ .db_user }}@{{ .db_host }}"}}},
    });
    scene.external_secret("app", es.clone()).await;
    other.external_secret("app", es).await;
    let want = map(&[("dsn", "admin@db.local")]);
    wait_secret_data(&scene, &sesame, "app", &want).await;
    wait_secret_data(&other, &sesame, "app", &want).await;

    // An edit of the ClusterGenerator reaches both namespaces at once.
    apply_generator(&scene.client, None, "ClusterGenerator", "clustergenerators", &name, fake("root")).await;
    let want = map(&[("dsn", "root@db.local")]);
    wait_secret_data(&scene, &sesame, "app", &want).await;
    wait_secret_data(&other, &sesame, "app", &want).await;

    let gvk = GroupVersionKind::gvk("generators.external-secrets.io", "v1alpha1", "ClusterGenerator");
    let api: Api<DynamicObject> = Api::all_with(scene.client.clone(), &ApiResource::from_gvk_with_plural(&gvk, "clustergenerators"));
    let _ = api.delete(&name, &Default::default()).await;
    other.delete_namespace().await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_generator_that_cannot_be_used_says_why_and_writes_nothing() {
    let scene = Scene::new("e2e-gbad").await;
    let other = Scene { client: scene.client.clone(), ns: format!("{}-o", scene.ns), class: scene.class.clone() };
    create_namespace(&scene.client, &other.ns, Default::default()).await;
    // A Password in another namespace is not this namespace's to use.
    apply_generator(&scene.client, Some(&other.ns), "Password", "passwords", "theirs", json!({})).await;
    scene.fake_store("store", &[("/a", "a")]).await;
    let sesame = scene.sesame();
    let cases = [
        ("missing", json!({"dataFrom": [from_generator("Password", "nope")]}), "Password nope not found".to_string()),
        (
            "elsewhere",
            json!({"dataFrom": [from_generator("Password", "theirs")]}),
            format!("Password theirs not found in namespace {}", scene.ns),
        ),
        (
            "unsupported",
            json!({"dataFrom": [from_generator("BeyondtrustWorkloadCredentialsDynamicSecret", "bt")]}),
            "generator kind BeyondtrustWorkloadCredentialsDynamicSecret is not supported".to_string(),
        ),
        (
            "in-data",
            json!({"secretStoreRef": {"name": "store"}, "data": [{"secretKey": "a", "remoteRef": {"key": "/a"}, "sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]}),
            "data[a].sourceRef.generatorRef (Password pw) is not implemented".to_string(),
        ),
    ];
    for (name, spec, _) in &cases {
        scene.external_secret(name, spec.clone()).await;
    }
    for (name, _, why) in &cases {
        let es = scene.wait_ready(&sesame, name, "False", "SecretSyncedError").await;
        let message = ready_condition(&es).unwrap().2;
        assert!(message.contains(why.as_str()), "{name}: {message:?} does not say {why:?}");
        assert!(scene.secret(name).await.is_none(), "{name} wrote a Secret");
        let warned = eventually(Duration::from_secs(30), || async {
            events_for(&scene.client, &scene.ns, name)
                .await
                .iter()
                .any(|(t, r, note)| t == "Warning" && r == "UpdateFailed" && note.contains(why.as_str()))
        })
        .await;
        assert!(warned, "{name}: no UpdateFailed Event saying {why:?}");
    }
    // Creating the missing generator re-queues its user at once.
    apply_generator(&scene.client, Some(&scene.ns), "Password", "passwords", "nope", json!({"length": 12})).await;
    scene.wait_ready(&sesame, "missing", "True", "SecretSynced").await;
    assert_eq!(password_of(&scene, "missing").await.map(|p| p.chars().count()), Some(12));
    other.delete_namespace().await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn a_generator_of_another_controller_class_leaves_its_users_to_that_controller() {
    let scene = Scene::new("e2e-gcls").await;
    let fake = |class: &str, value: &str| json!({"controller": class, "data": {"k": value}});
    apply_generator(&scene.client, Some(&scene.ns), "Fake", "fakes", "theirs", fake("another-class", "theirs")).await;
    apply_generator(&scene.client, Some(&scene.ns), "Fake", "fakes", "ours", fake(&scene.class, "ours")).await;
    let sesame = scene.sesame();
    let using = |generator: &str| json!({"refreshInterval": "1h", "dataFrom": [from_generator("Fake", generator)]});
    scene.external_secret("foreign", using("theirs")).await;
    scene.external_secret("mine", using("ours")).await;
    wait_secret_data(&scene, &sesame, "mine", &map(&[("k", "ours")])).await;
    assert!(scene.es("foreign").await.status.is_none(), "another class's object got a status from this controller");
    assert!(scene.secret("foreign").await.is_none(), "another class's object got a Secret from this controller");

    // Handing the generator to this class hands its users over at once (the interval is an hour).
    apply_generator(&scene.client, Some(&scene.ns), "Fake", "fakes", "theirs", fake(&scene.class, "theirs")).await;
    wait_secret_data(&scene, &sesame, "foreign", &map(&[("k", "theirs")])).await;
    scene.delete_namespace().await;
}
