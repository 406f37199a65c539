//! What a remote Secret reads as, in ESO's shapes: its data as a JSON object of strings, or its
//! metadata as `{"annotations": …, "labels": …}`; and the label selector of a find by tags.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use sesame_provider_core::{ProviderError, SecretValue, property};

/// The Secret's data as a JSON object of strings (bytes that are not UTF-8 are replaced, as Go's
/// JSON encoding does).
pub(crate) fn data_json(secret: &Secret) -> Vec<u8> {
    let data: BTreeMap<&str, String> =
        secret.data.iter().flatten().map(|(k, v)| (k.as_str(), String::from_utf8_lossy(&v.0).into_owned())).collect();
    serde_json::to_vec(&data).unwrap_or_default()
}

/// `remoteRef.property` of a Secret's data, as ESO reads it: the key's bytes as they are (binary
/// values survive), else for `a.b` the gjson path `b` inside key `a`.
pub(crate) fn data_property(secret: &Secret, property: &str, name: &str) -> Result<SecretValue, ProviderError> {
    let data = secret.data.as_ref();
    if let Some(v) = data.and_then(|d| d.get(property)) {
        return Ok(SecretValue::from(v.0.clone()));
    }
    let missing = || ProviderError::NotFound(format!("property {property} does not exist in data of secret {name:?}"));
    match property.find('.') {
        Some(i) if i > 0 && i < property.len() - 1 => {
            let value = data.and_then(|d| d.get(&property[..i])).ok_or_else(missing)?;
            property::extract(&value.0, &property[i + 1..], name).map_err(|e| if e.is_not_found() { missing() } else { e })
        }
        _ => Err(missing()),
    }
}

/// `dataFrom.extract` without a property: the Secret's data, bytes as they are.
pub(crate) fn data_map(secret: &Secret) -> BTreeMap<String, SecretValue> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), SecretValue::from(v.0.clone()))).collect()
}

/// `metadataPolicy: Fetch`: the labels and annotations (`null` when the Secret has none).
pub(crate) fn metadata_json(secret: &Secret) -> Vec<u8> {
    let value = serde_json::json!({"labels": secret.metadata.labels, "annotations": secret.metadata.annotations});
    serde_json::to_vec(&value).unwrap_or_default()
}

/// `key1=value1,key2=value2`, refusing keys and values a label cannot have (they would change the
/// selector's meaning).
pub(crate) fn label_selector(tags: &BTreeMap<String, String>) -> Result<String, ProviderError> {
    let ok = |s: &str, allow_slash: bool| {
        s.len() <= 317 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') || (allow_slash && b == b'/'))
    };
    let mut parts = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        if k.is_empty() || !ok(k, true) || !ok(v, false) {
            return Err(ProviderError::Invalid(format!("find.tags: {k:?} is not a valid label selector entry")));
        }
        parts.push(format!("{k}={v}"));
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn data_reads_as_a_json_object_of_strings() {
        let secret = Secret {
            data: Some([("user".to_string(), ByteString(b"app".to_vec())), ("bin".to_string(), ByteString(vec![0xff]))].into()),
            ..Default::default()
        };
        assert_eq!(String::from_utf8(data_json(&secret)).unwrap(), r#"{"bin":"\u{FFFD}","user":"app"}"#.replace("\\u{FFFD}", "\u{FFFD}"));
        assert_eq!(data_json(&Secret::default()), b"{}");
    }

    #[test]
    fn a_property_reads_the_key_bytes_as_they_are() {
        let binary = vec![0x00, 0xff, 0xfe, 0x80, b'k'];
        let secret = Secret {
            data: Some(
                [
                    ("bin".to_string(), ByteString(binary.clone())),
                    ("file.png".to_string(), ByteString(b"png".to_vec())),
                    ("conf".to_string(), ByteString(br#"{"url":"https://x"}"#.to_vec())),
                ]
                .into(),
            ),
            ..Default::default()
        };
        assert_eq!(data_property(&secret, "bin", "s").unwrap().into_bytes(), binary);
        assert_eq!(data_property(&secret, "file.png", "s").unwrap().into_bytes(), b"png");
        assert_eq!(data_property(&secret, "conf.url", "s").unwrap().into_bytes(), b"https://x");
        assert!(data_property(&secret, "conf.nope", "s").unwrap_err().is_not_found());
        assert!(data_property(&secret, "none", "s").unwrap_err().is_not_found());
        assert_eq!(data_map(&secret)["bin"].as_bytes(), binary.as_slice());
    }

    #[test]
    fn metadata_reads_as_labels_and_annotations() {
        let mut secret = Secret::default();
        secret.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        let v: serde_json::Value = serde_json::from_slice(&metadata_json(&secret)).unwrap();
        assert_eq!(v, serde_json::json!({"labels": {"app": "web"}, "annotations": null}));
    }

    #[test]
    fn tags_become_a_selector_and_selector_syntax_is_refused() {
        let tags = [("app".to_string(), "web".to_string()), ("example.com/team".to_string(), "a".to_string())].into();
        assert_eq!(label_selector(&tags).unwrap(), "app=web,example.com/team=a");
        for (k, v) in [("app", "web,env!=prod"), ("a in (x)", "y"), ("", "v")] {
            assert!(label_selector(&[(k.to_string(), v.to_string())].into()).is_err(), "{k}={v}");
        }
    }
}
