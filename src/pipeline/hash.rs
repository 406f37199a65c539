//! ESO's two hashes, byte for byte, so that objects ESO last wrote read as up to date to Sesame and
//! the other way round. ESO hashes the text Go's `fmt.Sprintf("%+v", x)` prints for a value with
//! SHA3-224 (`esutils.ObjectHash`); Go prints maps with sorted keys and unquoted strings, e.g.
//! `{annotations:map[a:b] labels:map[]}` and `map[k:[118 49]]`.
use std::collections::BTreeMap;
use std::fmt::Write;

use sha3::{Digest, Sha3_224};

fn object_hash(text: &str) -> String {
    hex::encode(Sha3_224::digest(text.as_bytes()))
}

/// Go's `%+v` of a `map[string]string` (a BTreeMap iterates in Go's sorted key order).
fn go_string_map(map: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", entries.join(" "))
}

/// Go's `%+v` of a `map[string][]byte`: each value as its decimal bytes, `[118 49]`.
fn go_bytes_map(map: &BTreeMap<String, Vec<u8>>) -> String {
    let mut out = String::from("map[");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{k}:[");
        for (j, b) in v.iter().enumerate() {
            let _ = write!(out, "{}{b}", if j > 0 { " " } else { "" });
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// The `reconcile.external-secrets.io/data-hash` annotation: ESO's hash of a Secret's whole data.
pub fn data_hash(data: &BTreeMap<String, Vec<u8>>) -> String {
    object_hash(&go_bytes_map(data))
}

/// Go's `%+v` of a decoded JSON value (`map[string]any`, `[]any`, strings, int64/float64, bool,
/// nil), as ESO prints an unstructured object's `spec` or `data` before hashing it.
fn go_value(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => {
                let _ = write!(out, "{i}");
            }
            (None, Some(f)) => {
                let _ = write!(out, "{f}");
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:");
                go_value(&map[k], out);
            }
            out.push(']');
        }
    }
}

/// ESO's data-hash of a generic target: the hash of its `spec` if it has one, else of its `data`.
pub fn content_hash(object: &serde_json::Value) -> Option<String> {
    let content = [&object["spec"], &object["data"]].into_iter().find(|v| !v.is_null())?;
    let mut text = String::new();
    go_value(content, &mut text);
    Some(object_hash(&text))
}

/// ESO's hash of an object's labels and annotations (every annotation, kubectl's last-applied
/// copy included, as ESO reads them).
pub fn metadata_hash(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> String {
    object_hash(&format!("{{annotations:{} labels:{}}}", go_string_map(annotations), go_string_map(labels)))
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

/// The `reconcile.external-secrets.io/created-by` label ESO puts on the Secrets an Owner
/// ExternalSecret creates: the hash of `<namespace>/<name>`, so a renamed target's old Secret can
/// be found and deleted.
pub fn created_by(namespace: &str, name: &str) -> String {
    object_hash(&format!("{namespace}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn bytes(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
    }

    // Expected values: SHA3-224 (FIPS 202, as Go's x/crypto/sha3.Sum224) of the text Go 1.15's
    // fmt prints for the same Go values.
    #[test]
    fn data_hash_is_esos_hash_of_gos_rendering_of_the_data() {
        assert_eq!(go_bytes_map(&bytes(&[("k", b"v1")])), "map[k:[118 49]]");
        assert_eq!(data_hash(&bytes(&[("k", b"v1")])), "a196772fd1769e42e0abe6c50f86a622d07a926297d5b9eadd59785c");
        assert_eq!(go_bytes_map(&bytes(&[("b", &[0, 255]), ("a", &[])])), "map[a:[] b:[0 255]]");
        assert_eq!(data_hash(&bytes(&[("b", &[0, 255]), ("a", &[])])), "0c3532280428794e95d63a63521cf84b41c26e13df508848a1b4c76b");
        assert_eq!(data_hash(&BTreeMap::new()), "74a974446e359fb3e6baff9bd0058950e6edd0f040888d9989b0a11b");
    }

    #[test]
    fn synced_resource_version_is_esos_generation_and_metadata_hash() {
        let none = BTreeMap::new();
        assert_eq!(synced_resource_version(Some(1), &none, &none), "1-f47fe3c0b255b6dd8047cdffa772587bb829efe7a1cb70febeda2eb2");
        let labels = strings(&[("team", "x")]);
        let annotations = strings(&[("c", "d e"), ("a", "b")]);
        assert_eq!(synced_resource_version(Some(3), &labels, &annotations), "3-695db59b851d41867a6d1469c3247c8713d55b4d0186fcb313cef217");
        let forced = strings(&[("force-sync", "1")]);
        assert_ne!(synced_resource_version(Some(1), &none, &none), synced_resource_version(Some(1), &none, &forced));
    }

    #[test]
    fn a_generic_target_hashes_its_spec_else_its_data_as_go_prints_them() {
        let mut text = String::new();
        go_value(&serde_json::json!({"b": [1, 1.5, true, null], "a": {"y": "x z"}}), &mut text);
        assert_eq!(text, "map[a:map[y:x z] b:[1 1.5 true <nil>]]");
        let cm = serde_json::json!({"kind": "ConfigMap", "data": {"k": "v"}});
        assert_eq!(content_hash(&cm), Some(object_hash("map[k:v]")));
        let cr = serde_json::json!({"spec": {"k": "v"}, "data": {"other": "x"}});
        assert_eq!(content_hash(&cr), content_hash(&cm), "spec wins over data");
        assert_eq!(content_hash(&serde_json::json!({"kind": "X"})), None);
    }

    #[test]
    fn created_by_is_esos_owner_label() {
        assert_eq!(created_by("team-a", "app"), "c95ab3945b22b5a0ca794e8ae4509f00cea935954bd860ac3ce1ea15");
        assert!(created_by("team-a", "app").len() <= 63, "a label value");
    }
}
