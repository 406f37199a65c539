//! What the managed-Secret cache keeps of a target Secret: the fields a sync reads to decide
//! whether the target is still as it was written (resourceVersion, labels, annotations, owners,
//! finalizers) and whose it is (uid, created-by label). Sorted boxed pairs instead of
//! `ObjectMeta`'s B-tree maps: a third of the bytes for the two to five labels a target carries.
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use kube::core::PartialObjectMeta;

/// kubectl's copy of a whole object: never compared, often the largest annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

type Pairs = Box<[(Box<str>, Box<str>)]>;

pub struct TargetMeta {
    pub uid: Option<Box<str>>,
    pub resource_version: Option<Box<str>>,
    labels: Pairs,
    annotations: Pairs,
    owner_uids: Box<[Box<str>]>,
    finalizers: Box<[Box<str>]>,
}

impl TargetMeta {
    pub fn of(secret: &PartialObjectMeta<Secret>) -> Self {
        let m = &secret.metadata;
        let pairs = |map: &Option<std::collections::BTreeMap<String, String>>| -> Pairs {
            // A BTreeMap iterates sorted: `find` below can binary-search.
            map.iter().flatten().filter(|(k, _)| k.as_str() != LAST_APPLIED).map(|(k, v)| (k.as_str().into(), v.as_str().into())).collect()
        };
        TargetMeta {
            uid: m.uid.as_deref().map(Into::into),
            resource_version: m.resource_version.as_deref().map(Into::into),
            labels: pairs(&m.labels),
            annotations: pairs(&m.annotations),
            owner_uids: m.owner_references.iter().flatten().map(|o| o.uid.as_str().into()).collect(),
            finalizers: m.finalizers.iter().flatten().map(|f| f.as_str().into()).collect(),
        }
    }

    pub fn resource_version(&self) -> Option<String> {
        self.resource_version.as_deref().map(str::to_string)
    }
}

fn find<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs.binary_search_by(|(k, _)| (**k).cmp(key)).ok().map(|i| &*pairs[i].1)
}

/// The metadata a target check reads, from a whole Secret or from the cache's record of it.
pub trait MetaView {
    fn label(&self, key: &str) -> Option<&str>;
    fn annotation(&self, key: &str) -> Option<&str>;
    fn has_finalizer(&self, finalizer: &str) -> bool;
    fn has_owner_uid(&self, uid: &str) -> bool;
}

impl MetaView for TargetMeta {
    fn label(&self, key: &str) -> Option<&str> {
        find(&self.labels, key)
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        find(&self.annotations, key)
    }
    fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| &**f == finalizer)
    }
    fn has_owner_uid(&self, uid: &str) -> bool {
        self.owner_uids.iter().any(|o| &**o == uid)
    }
}

impl MetaView for ObjectMeta {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
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
            assert_eq!(cached.label(key), whole.label(key), "label {key}");
        }
        for key in ["h", "a"] {
            assert_eq!(cached.annotation(key), whole.annotation(key), "annotation {key}");
        }
        assert_eq!(cached.annotation(LAST_APPLIED), None, "kubectl's copy is not kept");
        assert!(cached.has_owner_uid("o-1") && !cached.has_owner_uid("o-2"));
        assert!(cached.has_finalizer("f") && !cached.has_finalizer("g"));
        assert_eq!((cached.uid.as_deref(), cached.resource_version()), (Some("u-1"), Some("42".to_string())));
    }
}
