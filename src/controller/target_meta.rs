//! What the managed-Secret cache keeps of a target Secret: the fields a sync reads to decide
//! whether the target is still as it was written (resourceVersion, labels, annotations, owners,
//! finalizers) and whose it is (uid, created-by label). A sync only ever asks "is this label (or
//! annotation, owner, finalizer) set to this value?", so the record keeps a keyed 64-bit digest of
//! each key and value, sorted, instead of the strings: 16 bytes a pair in one allocation, where
//! boxed strings cost two allocations a pair (about 650 bytes a target at 10,000 targets).
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use kube::core::PartialObjectMeta;

/// kubectl's copy of a whole object: never compared, often the largest annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// (digest of the key, digest of the value), sorted by key.
type Pairs = Box<[(u64, u64)]>;

/// Keyed per process: nobody can choose a label value whose digest matches another's.
fn digest(s: &str) -> u64 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new).hash_one(s)
}

pub struct TargetMeta {
    pub uid: Option<Box<str>>,
    pub resource_version: Option<Box<str>>,
    labels: Pairs,
    annotations: Pairs,
    owner_uids: Box<[u64]>,
    finalizers: Box<[u64]>,
}

impl TargetMeta {
    pub fn of(secret: &PartialObjectMeta<Secret>) -> Self {
        let m = &secret.metadata;
        let pairs = |map: &Option<std::collections::BTreeMap<String, String>>| -> Pairs {
            let mut pairs: Vec<(u64, u64)> =
                map.iter().flatten().filter(|(k, _)| k.as_str() != LAST_APPLIED).map(|(k, v)| (digest(k), digest(v))).collect();
            pairs.sort_unstable();
            pairs.into()
        };
        TargetMeta {
            uid: m.uid.as_deref().map(Into::into),
            resource_version: m.resource_version.as_deref().map(Into::into),
            labels: pairs(&m.labels),
            annotations: pairs(&m.annotations),
            owner_uids: m.owner_references.iter().flatten().map(|o| digest(&o.uid)).collect(),
            finalizers: m.finalizers.iter().flatten().map(|f| digest(f)).collect(),
        }
    }
}

fn is(pairs: &Pairs, key: &str, value: &str) -> Option<bool> {
    let i = pairs.binary_search_by_key(&digest(key), |(k, _)| *k).ok()?;
    Some(pairs[i].1 == digest(value))
}

/// The metadata a target check reads, from a whole Secret or from the cache's record of it.
pub trait MetaView {
    /// Whether label `key` is `value`; `None` when the label is not set.
    fn label_is(&self, key: &str, value: &str) -> Option<bool>;
    /// Whether annotation `key` is `value`; `None` when the annotation is not set.
    fn annotation_is(&self, key: &str, value: &str) -> Option<bool>;
    fn has_finalizer(&self, finalizer: &str) -> bool;
    fn has_owner_uid(&self, uid: &str) -> bool;
}

impl MetaView for TargetMeta {
    fn label_is(&self, key: &str, value: &str) -> Option<bool> {
        is(&self.labels, key, value)
    }
    fn annotation_is(&self, key: &str, value: &str) -> Option<bool> {
        is(&self.annotations, key, value)
    }
    fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.contains(&digest(finalizer))
    }
    fn has_owner_uid(&self, uid: &str) -> bool {
        self.owner_uids.contains(&digest(uid))
    }
}

impl MetaView for ObjectMeta {
    fn label_is(&self, key: &str, value: &str) -> Option<bool> {
        self.labels.as_ref()?.get(key).map(|v| v == value)
    }
    fn annotation_is(&self, key: &str, value: &str) -> Option<bool> {
        self.annotations.as_ref()?.get(key).map(|v| v == value)
    }
    fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().flatten().any(|f| f == finalizer)
    }
    fn has_owner_uid(&self, uid: &str) -> bool {
        self.owner_references.iter().flatten().any(|o| o.uid == uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            uid: Some("u-1".into()),
            resource_version: Some("42".into()),
            labels: Some([("b".into(), "2".into()), ("a".into(), "1".into())].into()),
            annotations: Some([(LAST_APPLIED.into(), "{…}".into()), ("h".into(), "x".into())].into()),
            owner_references: Some(vec![OwnerReference { uid: "o-1".into(), ..Default::default() }]),
            finalizers: Some(vec!["f".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn the_cached_record_answers_every_read_as_the_whole_metadata_does() {
        let whole = meta();
        let cached = TargetMeta::of(&PartialObjectMeta { metadata: whole.clone(), ..Default::default() });
        for key in ["a", "b", "c", "h", LAST_APPLIED] {
            for value in ["1", "2", "x", "{…}"] {
                assert_eq!(cached.label_is(key, value), whole.label_is(key, value), "label {key}={value}");
            }
        }
        for key in ["h", "a"] {
            for value in ["x", "1"] {
                assert_eq!(cached.annotation_is(key, value), whole.annotation_is(key, value), "annotation {key}={value}");
            }
        }
        assert_eq!(cached.annotation_is(LAST_APPLIED, "{…}"), None, "kubectl's copy is not kept");
        assert!(cached.has_owner_uid("o-1") && !cached.has_owner_uid("o-2"));
        assert!(cached.has_finalizer("f") && !cached.has_finalizer("g"));
        assert_eq!((cached.uid.as_deref(), cached.resource_version.as_deref()), (Some("u-1"), Some("42")));
    }
}
