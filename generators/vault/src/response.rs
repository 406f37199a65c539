//! A Vault response → the generator's output map, as ESO converts it: strings as they are,
//! numbers and booleans as text, objects and arrays as JSON, null as empty.
use std::collections::BTreeMap;

use serde_json::Value;
use sesame_generator_core::GeneratorError;

use crate::VaultDynamicSecretResultType;

/// One value as bytes.
pub(crate) fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Null => Vec::new(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Number(n) => n.to_string().into_bytes(),
        // serde_json cannot fail on a Value.
        Value::Array(_) | Value::Object(_) => serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// The part of `body` that `result_type` selects, flattened one level. `None` when that part is
/// absent (Vault answered without it), so the caller can apply `allowEmptyResponse`.
pub(crate) fn extract(
    result_type: VaultDynamicSecretResultType,
    body: &Value,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, GeneratorError> {
    let section = match result_type {
        VaultDynamicSecretResultType::Data => &body["data"],
        VaultDynamicSecretResultType::Auth => &body["auth"],
        VaultDynamicSecretResultType::Raw => body,
    };
    match section {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map.iter().map(|(k, v)| (k.clone(), bytes(v))).collect())),
        other => Err(GeneratorError::Invalid(format!(
            "VaultDynamicSecret: the response's {result_type:?} section is a {}, not an object",
            match other {
                Value::Array(_) => "list",
                Value::String(_) => "string",
                _ => "scalar",
            }
        ))),
    }
}

/// The lease a response created, if any: what cleanup revokes.
pub(crate) fn lease_id(body: &Value) -> Option<&str> {
    body["lease_id"].as_str().filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(map: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
        String::from_utf8(map[key].clone()).unwrap()
    }

    #[test]
    fn each_result_type_selects_its_section() {
        let body = json!({
            "lease_id": "database/creds/app/abc", "renewable": true, "lease_duration": 3600,
            "data": {"username": "v-app", "password": "pw", "ttl": 3600, "ok": true, "none": null, "list": ["a", 1], "obj": {"k": "v"}},
            "auth": null
        });
        let data = extract(VaultDynamicSecretResultType::Data, &body).unwrap().unwrap();
        assert_eq!(text(&data, "username"), "v-app");
        assert_eq!((text(&data, "ttl"), text(&data, "ok"), text(&data, "none")), ("3600".into(), "true".into(), String::new()));
        assert_eq!((text(&data, "list"), text(&data, "obj")), (r#"["a",1]"#.into(), r#"{"k":"v"}"#.into()));
        assert_eq!(extract(VaultDynamicSecretResultType::Auth, &body).unwrap(), None);
        let raw = extract(VaultDynamicSecretResultType::Raw, &body).unwrap().unwrap();
        assert_eq!((text(&raw, "lease_id"), text(&raw, "renewable")), ("database/creds/app/abc".into(), "true".into()));
        assert!(text(&raw, "data").contains(r#""username":"v-app""#));
        assert_eq!(lease_id(&body), Some("database/creds/app/abc"));
    }

    #[test]
    fn a_section_that_is_not_an_object_is_an_error_without_its_content() {
        let body = json!({"data": ["s3cr3t"]});
        let err = extract(VaultDynamicSecretResultType::Data, &body).unwrap_err().to_string();
        assert!(err.contains("is a list") && !err.contains("s3cr3t"), "{err}");
        assert_eq!(lease_id(&json!({"lease_id": ""})), None);
    }
}
