//! Helpers every pushing provider shares: ESO's `data[].metadata` envelope and the JSON property
//! merge of a pushed value into a remote secret.
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ProviderError;

/// The `apiVersion` of ESO's `PushSecretMetadata`.
pub const METADATA_API_VERSION: &str = "kubernetes.external-secrets.io/v1alpha1";
/// The `kind` of ESO's `PushSecretMetadata`.
pub const METADATA_KIND: &str = "PushSecretMetadata";
/// The tag / label / metadata key marking a remote secret as written by an External Secrets
/// operator, and its value (ESO's names: a secret either operator wrote is managed by both).
pub const MANAGED_BY: &str = "managed-by";
pub const MANAGED_BY_VALUE: &str = "external-secrets";

/// Parse `data[].metadata` as ESO does: `{apiVersion, kind, spec}` with ESO's apiVersion and
/// kind, and no field the provider does not know (`T` should deny unknown fields). None when the
/// entry has no metadata.
pub fn metadata_spec<T: DeserializeOwned>(metadata: Option<&Value>, key: &str) -> Result<Option<T>, ProviderError> {
    let Some(metadata) = metadata.filter(|m| !m.is_null()) else { return Ok(None) };
    let invalid = |why: String| ProviderError::Invalid(format!("metadata of {key}: {why}"));
    let Some(object) = metadata.as_object() else {
        return Err(invalid(format!("must be a {METADATA_KIND} object")));
    };
    if let Some(field) = object.keys().find(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "spec")) {
        return Err(invalid(format!("unknown field {field:?}")));
    }
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version != METADATA_API_VERSION {
        return Err(invalid(format!("unexpected apiVersion {api_version:?}, expected {METADATA_API_VERSION:?}")));
    }
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != METADATA_KIND {
        return Err(invalid(format!("unexpected kind {kind:?}, expected {METADATA_KIND:?}")));
    }
    let spec = object.get("spec").cloned().unwrap_or_else(|| Value::Object(Map::new()));
    // serde's message names the field and the expected type, never a secret value (metadata holds none).
    serde_json::from_value(spec).map(Some).map_err(|e| invalid(format!("invalid spec: {e}")))
}

/// The remote payload after writing `value` under `property` of its JSON object (a new object
/// when there is no remote payload or it is empty). A non-object payload is refused: merging
/// would destroy it.
pub fn merge_property(current: Option<&[u8]>, property: &str, value: &[u8], key: &str) -> Result<Vec<u8>, ProviderError> {
    let mut map = object(current, key)?;
    let text = String::from_utf8(value.to_vec())
        .map_err(|_| ProviderError::Invalid(format!("property {property} of {key}: the value is not UTF-8 and cannot go into JSON")))?;
    map.insert(property.to_string(), Value::String(text));
    Ok(serde_json::to_vec(&map).expect("a JSON map serializes"))
}

/// The remote payload without `property`: None when nothing else remains (the remote secret can
/// go), the payload unchanged when it is not a JSON object or lacks the property.
pub fn remove_property(current: &[u8], property: &str) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(current) else { return Some(current.to_vec()) };
    if map.remove(property).is_none() {
        return Some(current.to_vec());
    }
    (!map.is_empty()).then(|| serde_json::to_vec(&map).expect("a JSON map serializes"))
}

/// Whether the remote payload holds `property` (a top-level key of its JSON object).
pub fn has_property(current: &[u8], property: &str) -> bool {
    matches!(serde_json::from_slice::<Value>(current), Ok(Value::Object(map)) if map.contains_key(property))
}

fn object(current: Option<&[u8]>, key: &str) -> Result<Map<String, Value>, ProviderError> {
    match current.filter(|c| !c.is_empty()) {
        None => Ok(Map::new()),
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(ProviderError::Invalid(format!("secret {key} is not a JSON object: a property cannot be pushed into it"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Spec {
        #[serde(default)]
        kms_key_id: Option<String>,
    }

    fn envelope(spec: Value) -> Value {
        json!({"apiVersion": METADATA_API_VERSION, "kind": METADATA_KIND, "spec": spec})
    }

    #[test]
    fn metadata_is_eso_s_envelope_with_a_strict_spec() {
        let spec: Spec = metadata_spec(Some(&envelope(json!({"kmsKeyId": "k"}))), "db").unwrap().unwrap();
        assert_eq!(spec.kms_key_id.as_deref(), Some("k"));
        assert_eq!(metadata_spec::<Spec>(None, "db").unwrap(), None);
        let unknown = metadata_spec::<Spec>(Some(&envelope(json!({"kmsKeyID": "k"}))), "db").unwrap_err().to_string();
        assert!(unknown.contains("metadata of db") && unknown.contains("kmsKeyID"), "{unknown}");
        let wrong_kind = json!({"apiVersion": METADATA_API_VERSION, "kind": "Other", "spec": {}});
        assert!(metadata_spec::<Spec>(Some(&wrong_kind), "db").unwrap_err().to_string().contains("unexpected kind"));
        let wrong_version = json!({"apiVersion": "v1", "kind": METADATA_KIND});
        assert!(metadata_spec::<Spec>(Some(&wrong_version), "db").unwrap_err().to_string().contains("unexpected apiVersion"));
    }

    #[test]
    fn a_property_merges_into_the_object_and_leaves_the_rest() {
        let merged = merge_property(Some(br#"{"a":"1"}"#), "b", b"2", "db").unwrap();
        assert_eq!(merged, br#"{"a":"1","b":"2"}"#);
        assert_eq!(merge_property(None, "a", b"1", "db").unwrap(), br#"{"a":"1"}"#);
        assert!(merge_property(Some(b"plain text"), "a", b"1", "db").unwrap_err().to_string().contains("not a JSON object"));
        assert_eq!(remove_property(br#"{"a":"1","b":"2"}"#, "b").unwrap(), br#"{"a":"1"}"#);
        assert_eq!(remove_property(br#"{"a":"1"}"#, "a"), None);
        assert_eq!(remove_property(br#"{"a":"1"}"#, "z").unwrap(), br#"{"a":"1"}"#);
        assert!(has_property(br#"{"a":"1"}"#, "a") && !has_property(br#"{"a":"1"}"#, "b"));
    }
}
