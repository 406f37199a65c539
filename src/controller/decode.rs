//! Objects decoded one by one. kube-runtime decodes a whole list at once, so one object Sesame's
//! types reject (a value of a newer ESO, a hand edit) would fail every list of its kind and stall
//! every object. Here each object decodes on its own: the good ones flow on, the others are set
//! aside with the field that failed (never its value) for [`super::invalid`] to report.
use std::borrow::Cow;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::ObjectMeta;
use kube::runtime::watcher;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::{ClusterExternalSecret, ClusterPushSecret, ClusterSecretStore, Condition, ExternalSecret, PushSecret, SecretStore};

/// An object of kind `K` as the apiserver sent it: decoded, or why not.
#[derive(Debug, Clone)]
pub struct Decoded<K>(pub Result<K, Box<Undecodable>>);

/// An object Sesame cannot decode: its metadata, the path of the field that failed and what is
/// wrong with it, and the few facts needed to report it.
#[derive(Debug, Clone)]
pub struct Undecodable {
    pub metadata: ObjectMeta,
    /// The field, e.g. `spec.provider.aws.service`.
    pub field: String,
    /// What is wrong, with the input value left out.
    pub problem: String,
    /// `spec.controller` (stores), to leave another controller's objects alone.
    pub controller: Option<String>,
    /// `spec.secretStoreRef` name and kind (ExternalSecrets), for the same reason.
    pub store_ref: Option<(String, String)>,
    /// The current status conditions, to report each problem once.
    pub conditions: Vec<Condition>,
}

impl Undecodable {
    /// One line for conditions, Events and logs.
    pub fn message(&self) -> String {
        format!("cannot decode field {}: {}", self.field, self.problem)
    }
}

impl<'de, K: DeserializeOwned + Resource + Watched> Deserialize<'de> for Decoded<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The object's text in one allocation, decoded straight into `K`: a `serde_json::Value`
        // first would interleave thousands of short-lived small allocations with the ones `K`
        // keeps, leaving the allocator's pages part-used long after (measured: ≈ 300 bytes per
        // entry of a fake store's data). Only an object that fails is parsed again, for the report.
        let text = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        if let Ok(k) = serde_json::from_str::<K>(text.get()) {
            return Ok(Decoded(Ok(k)));
        }
        let raw: serde_json::Value = serde_json::from_str(text.get()).map_err(serde::de::Error::custom)?;
        drop(text);
        let err = match serde_path_to_error::deserialize::<_, K>(&raw) {
            Ok(k) => return Ok(Decoded(Ok(k))),
            Err(e) => e,
        };
        // Without readable metadata there is nothing to report on: fail as kube would.
        let metadata: ObjectMeta =
            serde_json::from_value(raw.get("metadata").cloned().unwrap_or_default()).map_err(serde::de::Error::custom)?;
        let text = |pointer: &str| raw.pointer(pointer).and_then(|v| v.as_str()).map(str::to_string);
        let conditions = raw.pointer("/status/conditions").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
        let (field, problem) = K::locate(&raw).unwrap_or_else(|| (err.path().to_string(), err.inner().to_string()));
        Ok(Decoded(Err(Box::new(Undecodable {
            metadata,
            field,
            problem: without_values(&problem),
            controller: text("/spec/controller"),
            store_ref: text("/spec/secretStoreRef/name").map(|n| (n, text("/spec/secretStoreRef/kind").unwrap_or_default())),
            conditions,
        }))))
    }
}

/// serde's message without the input it quotes (a value may be a secret that was put in the
/// wrong field): only what the schema expected, and names of fields.
pub fn without_values(message: &str) -> String {
    let expected = message.rfind(", expected ").map(|i| &message[i + 2..]);
    let kind_of = |got: &str| got.split(['`', '"']).next().unwrap_or_default().trim().to_string();
    if message.starts_with("unknown variant ") {
        return format!("unsupported value, {}", expected.unwrap_or("not one Sesame knows"));
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let (Some(rest), Some(exp)) = (message.strip_prefix(prefix), expected) {
            let got = &rest[..rest.len() - exp.len() - 2];
            return format!("{prefix}{}, {exp}", kind_of(got));
        }
    }
    let names_only = ["missing field `", "unknown field `", "duplicate field `", "invalid length "];
    if names_only.iter().any(|p| message.starts_with(p)) {
        return message.to_string();
    }
    "invalid value".to_string()
}

impl<K: Resource> Resource for Decoded<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        self.0.as_ref().map_or_else(|u| &u.metadata, K::meta)
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.as_mut().map_or_else(|u| &mut u.metadata, K::meta_mut)
    }
}

/// The kinds watched through [`Decoded`].
pub trait Watched: Sized {
    /// Stands for an object that turned undecodable, so caches drop what they held of it.
    fn stand_in(metadata: ObjectMeta) -> Self;

    /// The field and serde's message, where the path serde tracks stops short of the field.
    fn locate(_raw: &serde_json::Value) -> Option<(String, String)> {
        None
    }
}

impl Watched for ExternalSecret {
    fn stand_in(metadata: ObjectMeta) -> Self {
        let spec = serde_json::from_value(serde_json::json!({})).expect("every ExternalSecret field has a default");
        ExternalSecret { metadata, spec, status: None }
    }
}

impl Watched for SecretStore {
    fn stand_in(metadata: ObjectMeta) -> Self {
        let spec = serde_json::from_value(serde_json::json!({"provider": {}})).expect("a store needs only a provider");
        SecretStore { metadata, spec, status: None }
    }
}

impl Watched for ClusterSecretStore {
    fn stand_in(metadata: ObjectMeta) -> Self {
        let spec = serde_json::from_value(serde_json::json!({"provider": {}})).expect("a store needs only a provider");
        ClusterSecretStore { metadata, spec, status: None }
    }

    /// Its spec is a flattened SecretStore spec, and serde loses the path inside a flatten.
    fn locate(raw: &serde_json::Value) -> Option<(String, String)> {
        let err = serde_path_to_error::deserialize::<_, crate::api::SecretStoreSpec>(raw.get("spec")?).err()?;
        Some((format!("spec.{}", err.path()), err.inner().to_string()))
    }
}

impl Watched for ClusterExternalSecret {
    fn stand_in(metadata: ObjectMeta) -> Self {
        let spec = serde_json::from_value(serde_json::json!({"externalSecretSpec": {}})).expect("an empty ExternalSecret spec decodes");
        ClusterExternalSecret { metadata, spec, status: None }
    }
}

impl Watched for PushSecret {
    fn stand_in(metadata: ObjectMeta) -> Self {
        let spec = serde_json::from_value(serde_json::json!({"secretStoreRefs": [], "selector": {}})).expect("a minimal PushSecret spec");
        PushSecret { metadata, spec, status: None }
    }
}

impl Watched for ClusterPushSecret {
    fn stand_in(metadata: ObjectMeta) -> Self {
        let spec = serde_json::from_value(serde_json::json!({"pushSecretSpec": {"secretStoreRefs": [], "selector": {}}}))
            .expect("a minimal ClusterPushSecret spec");
        ClusterPushSecret { metadata, spec, status: None }
    }
}

/// The watch events of the objects that decode; each undecodable one goes to `report` instead,
/// and one that was decodable before is deleted from the caches downstream.
pub fn split<K, S>(
    events: S,
    report: tokio::sync::mpsc::UnboundedSender<Undecodable>,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send
where
    K: Watched + Send + 'static,
    S: Stream<Item = Result<watcher::Event<Decoded<K>>, watcher::Error>> + Send,
{
    use watcher::Event;
    events.filter_map(move |event| {
        let bad = |u: Box<Undecodable>| {
            let metadata = u.metadata.clone();
            let _ = report.send(*u);
            metadata
        };
        let out = match event {
            Err(e) => Some(Err(e)),
            Ok(Event::Init) => Some(Ok(Event::Init)),
            Ok(Event::InitDone) => Some(Ok(Event::InitDone)),
            Ok(Event::InitApply(Decoded(Ok(k)))) => Some(Ok(Event::InitApply(k))),
            Ok(Event::Apply(Decoded(Ok(k)))) => Some(Ok(Event::Apply(k))),
            Ok(Event::Delete(Decoded(Ok(k)))) => Some(Ok(Event::Delete(k))),
            Ok(Event::InitApply(Decoded(Err(u)))) => {
                bad(u);
                None
            }
            Ok(Event::Apply(Decoded(Err(u)))) => Some(Ok(Event::Delete(K::stand_in(bad(u))))),
            Ok(Event::Delete(Decoded(Err(u)))) => Some(Ok(Event::Delete(K::stand_in(u.metadata)))),
        };
        futures::future::ready(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<K: DeserializeOwned + Resource + Watched>(object: serde_json::Value) -> Result<K, Box<Undecodable>> {
        serde_json::from_value::<Decoded<K>>(object).expect("metadata decodes").0
    }

    #[test]
    fn an_object_sesame_cannot_read_names_the_field_and_never_the_value() {
        let store = serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "acm", "namespace": "ns", "uid": "u1"},
            "spec": {"controller": "c", "provider": {"aws": {"service": "CertificateManager-hunter2", "region": "x"}}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        let bad = decode::<SecretStore>(store).unwrap_err();
        assert_eq!(bad.field, "spec.provider.aws.service");
        assert_eq!(bad.problem, "unsupported value, expected one of `SecretsManager`, `ParameterStore`, `CertificateManager`");
        assert!(!bad.message().contains("hunter2"));
        assert_eq!((bad.metadata.name.as_deref(), bad.controller.as_deref(), bad.conditions.len()), (Some("acm"), Some("c"), 1));

        let es = serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": "ns"},
            "spec": {"secretStoreRef": {"name": "s", "kind": "SecretStore"}, "data": [{"secretKey": "k", "remoteRef": "s3cr3t-value"}]},
        });
        let bad = decode::<ExternalSecret>(es).unwrap_err();
        assert_eq!(bad.field, "spec.data[0].remoteRef");
        assert_eq!(bad.problem, "invalid type: string, expected struct ExternalSecretDataRemoteRef");
        assert!(!bad.message().contains("s3cr3t"), "{}", bad.message());
        assert_eq!(bad.store_ref, Some(("s".into(), "SecretStore".into())));

        let css = serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": "shared"}, "spec": {"provider": {"fake": {"data": "s3cr3t-value"}}},
        });
        let bad = decode::<ClusterSecretStore>(css).unwrap_err();
        assert_eq!((bad.field.as_str(), bad.problem.as_str()), ("spec.provider.fake.data", "invalid type: string, expected a sequence"));
    }

    #[test]
    fn serde_messages_keep_the_schema_and_drop_the_input() {
        assert_eq!(without_values("invalid type: string \"a, expected b\", expected a map"), "invalid type: string, expected a map");
        assert_eq!(without_values("invalid value: integer `-3`, expected u32"), "invalid value: integer, expected u32");
        assert_eq!(without_values("missing field `key`"), "missing field `key`");
        assert_eq!(without_values("cannot parse 'topsecret' as a duration"), "invalid value");
    }

    #[test]
    fn good_objects_decode_as_themselves() {
        let es = serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": "ns"}, "spec": {"secretStoreRef": {"name": "s"}},
        });
        let es = decode::<ExternalSecret>(es).expect("decodes");
        assert_eq!(es.store_ref().0, "s");
    }

    #[tokio::test]
    async fn an_object_that_turns_undecodable_leaves_the_caches_and_is_reported() {
        let object = |policy: &str| {
            serde_json::json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": "app", "namespace": "ns"}, "spec": {"target": {"creationPolicy": policy}},
            })
        };
        let decoded = |policy| serde_json::from_value::<Decoded<ExternalSecret>>(object(policy)).unwrap();
        let events = vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(decoded("Orphan"))),
            Ok(watcher::Event::InitApply(decoded("Sometimes"))),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(decoded("Never"))),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out: Vec<_> = split(futures::stream::iter(events), tx).collect().await;
        let shapes: Vec<&str> = out
            .iter()
            .map(|e| match e {
                Ok(watcher::Event::Init) => "init",
                Ok(watcher::Event::InitApply(_)) => "init-apply",
                Ok(watcher::Event::InitDone) => "init-done",
                Ok(watcher::Event::Apply(_)) => "apply",
                Ok(watcher::Event::Delete(es)) if es.metadata.name.as_deref() == Some("app") => "delete app",
                _ => "other",
            })
            .collect();
        assert_eq!(shapes, ["init", "init-apply", "init-done", "delete app"]);
        let reported: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).map(|u| u.field).collect();
        assert_eq!(reported, ["spec.target.creationPolicy", "spec.target.creationPolicy"]);
    }
}
