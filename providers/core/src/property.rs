//! `remoteRef.property` with ESO's semantics: a literal key (dots and all) wins first, else the
//! property is a gjson path. Values print as Go's gjson `Result.String()` prints them.
use crate::{ProviderError, SecretValue};

/// Select `property` from a JSON payload.
///
/// `key` only names the remote secret in the error message.
pub fn extract(payload: &[u8], property: &str, key: &str) -> Result<SecretValue, ProviderError> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| ProviderError::Invalid(format!("secret {key} is not UTF-8 JSON, cannot select property {property}")))?;
    if !gjson::valid(text) {
        return Err(ProviderError::Invalid(format!("secret {key} is not valid JSON, cannot select property {property}")));
    }
    if let Some(value) = literal_key(text, property) {
        return Ok(SecretValue::from(value));
    }
    let found = gjson::get(text, property);
    if !found.exists() {
        return Err(ProviderError::NotFound(format!("property {property} does not exist in secret {key}")));
    }
    Ok(SecretValue::from(go_string(&found)))
}

/// The top-level keys of a JSON object payload, as `dataFrom.extract` returns them: strings as
/// they are, everything else JSON-encoded.
pub fn top_level_map(payload: &[u8], key: &str) -> Result<std::collections::BTreeMap<String, SecretValue>, ProviderError> {
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|_| ProviderError::Invalid(format!("secret {key} is not a JSON object, cannot extract keys")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ProviderError::Invalid(format!("secret {key} is not a JSON object, cannot extract keys")));
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let bytes = match v {
                serde_json::Value::String(s) => s.into_bytes(),
                other => other.to_string().into_bytes(),
            };
            (k, SecretValue::from(bytes))
        })
        .collect())
}

/// The top-level member whose key is exactly `property`, found by walking the object rather than
/// by escaping a path: gjson's escapes do not cover every special character (`?` stays a
/// wildcard), and ESO's literal-key rule must hold for any key.
fn literal_key(text: &str, property: &str) -> Option<String> {
    let mut found = None;
    let doc = gjson::parse(text);
    doc.each(|key, value| {
        if key.str() == property {
            found = Some(go_string(&value));
            return false;
        }
        true
    });
    found
}

/// gjson's Go `Result.String()`: integers keep their raw text, other numbers print as Go's
/// `strconv.FormatFloat(f, 'f', -1, 64)` (shortest, never exponent), null is empty, objects and
/// arrays are their raw JSON.
fn go_string(v: &gjson::Value) -> String {
    match v.kind() {
        gjson::Kind::Null => String::new(),
        gjson::Kind::Number => {
            let raw = v.json();
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) { raw.to_string() } else { format_float(v.f64()) }
        }
        gjson::Kind::String | gjson::Kind::True | gjson::Kind::False => v.str().to_string(),
        gjson::Kind::Object | gjson::Kind::Array => v.json().to_string(),
    }
}

fn format_float(f: f64) -> String {
    // Rust's Display for f64 is the shortest round-trip form without an exponent: Go's 'f', -1.
    let s = format!("{f}");
    if s == "-0" { "0".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(payload: &str, property: &str) -> Result<String, ProviderError> {
        extract(payload.as_bytes(), property, "k").map(|v| String::from_utf8(v.into_bytes()).unwrap())
    }

    #[test]
    fn a_literal_dotted_key_wins_over_the_path() {
        let doc = r#"{"a.b":"literal","a":{"b":"nested"}}"#;
        assert_eq!(prop(doc, "a.b").unwrap(), "literal");
    }

    #[test]
    fn any_literal_key_wins_even_with_gjson_syntax_in_it() {
        for key in ["?", "*", "a[0]", "{x}", "a|b", "#", "@this", "a\\b"] {
            let doc = serde_json::json!({"0": "wrong", key: "right"}).to_string();
            assert_eq!(prop(&doc, key).unwrap(), "right", "{key}");
        }
    }

    #[test]
    fn a_path_walks_objects_and_arrays() {
        let doc = r#"{"a":{"b":[{"c":"x"},{"c":"y"}]}}"#;
        assert_eq!(prop(doc, "a.b.1.c").unwrap(), "y");
        assert_eq!(prop(doc, "a.b.#").unwrap(), "2");
    }

    #[test]
    fn numbers_print_as_go_prints_them() {
        let doc = r#"{"i":1000,"f":1.50,"e":1e3,"n":-2,"neg":-0.5}"#;
        assert_eq!(prop(doc, "i").unwrap(), "1000");
        assert_eq!(prop(doc, "f").unwrap(), "1.5");
        assert_eq!(prop(doc, "e").unwrap(), "1000");
        assert_eq!(prop(doc, "n").unwrap(), "-2");
        assert_eq!(prop(doc, "neg").unwrap(), "-0.5");
    }

    #[test]
    fn objects_keep_their_raw_json_and_null_is_empty() {
        let doc = r#"{"o":{"x": 1},"z":null,"t":true}"#;
        assert_eq!(prop(doc, "o").unwrap(), r#"{"x": 1}"#);
        assert_eq!(prop(doc, "z").unwrap(), "");
        assert_eq!(prop(doc, "t").unwrap(), "true");
    }

    #[test]
    fn a_missing_property_is_not_found_and_names_no_value() {
        let err = prop(r#"{"user":"s3cr3t"}"#, "password").unwrap_err();
        assert!(err.is_not_found());
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn a_non_json_payload_is_invalid() {
        assert!(matches!(prop("plain text", "x"), Err(ProviderError::Invalid(_))));
    }

    #[test]
    fn extract_json_encodes_non_strings() {
        let map = top_level_map(br#"{"s":"v","n":5,"o":{"a":true}}"#, "k").unwrap();
        assert_eq!(map["s"].as_bytes(), b"v");
        assert_eq!(map["n"].as_bytes(), b"5");
        assert_eq!(map["o"].as_bytes(), br#"{"a":true}"#);
    }
}
