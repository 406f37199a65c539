use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Hash of a Secret's data, stored in the data-hash annotation to notice edits.
pub fn data_hash(data: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v);
    }
    hex::encode(&h.finalize()[..16])
}

/// Hash of an object's labels and annotations.
pub fn metadata_hash(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (tag, map) in [("l", labels), ("a", annotations)] {
        for (k, v) in map {
            if k == "kubectl.kubernetes.io/last-applied-configuration" {
                continue;
            }
            h.update(tag.as_bytes());
            h.update((k.len() as u64).to_be_bytes());
            h.update(k.as_bytes());
            h.update((v.len() as u64).to_be_bytes());
            h.update(v.as_bytes());
        }
    }
    hex::encode(&h.finalize()[..8])
}

/// ESO's `syncedResourceVersion`: `<generation>-<metadata hash>`; it changes when the spec,
/// labels or annotations (force-sync included) change.
pub fn synced_resource_version(
    generation: Option<i64>,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> String {
    format!("{}-{}", generation.unwrap_or(0), metadata_hash(labels, annotations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn data_hash_changes_with_any_key_or_value() {
        let base = data_hash(&map(&[("a", "1"), ("b", "2")]));
        assert_eq!(base, data_hash(&map(&[("b", "2"), ("a", "1")])));
        assert_ne!(base, data_hash(&map(&[("a", "1"), ("b", "3")])));
        assert_ne!(base, data_hash(&map(&[("a", "1")])));
        // Boundaries are part of the hash: ("ab","") differs from ("a","b").
        assert_ne!(data_hash(&map(&[("ab", "")])), data_hash(&map(&[("a", "b")])));
    }

    #[test]
    fn synced_resource_version_follows_generation_and_metadata() {
        let none = BTreeMap::new();
        let forced: BTreeMap<_, _> = [("external-secrets.io/force-sync".to_string(), "1".to_string())].into();
        let a = synced_resource_version(Some(1), &none, &none);
        assert!(a.starts_with("1-"));
        assert_ne!(a, synced_resource_version(Some(2), &none, &none));
        assert_ne!(a, synced_resource_version(Some(1), &none, &forced));
    }
}
