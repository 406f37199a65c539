//! ESO's webhook secret map (`GetSecretMap`), used by the Webhook generator: the answer is JSON,
//! `result.jsonPath` (when set) picks an object (or a string holding a JSON object), and each of
//! its members becomes one value.
use std::collections::BTreeMap;

use serde_json::Value;
use sesame_provider_core::ProviderError;

/// The most members one answer may turn into: every member becomes a Secret key.
pub const MAX_KEYS: usize = 1000;

/// The answer as a map of values, as ESO turns a webhook answer into one. Errors name the path
/// and the JSON type at fault, never a value.
pub fn secret_map(body: &[u8], json_path: Option<&str>) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| ProviderError::Invalid("failed to parse response json".into()))?;
    let mut picked = match json_path.filter(|p| !p.is_empty()) {
        Some(path) => select(&doc, path)?,
        None => doc,
    };
    // A string result may itself be a JSON document (an API that returns a JSON-encoded object).
    if let Value::String(text) = &picked {
        picked = serde_json::from_str(text).map_err(|_| ProviderError::Invalid("failed to parse response json from jsonpath".into()))?;
    }
    let Value::Object(members) = picked else {
        return Err(ProviderError::Invalid(format!("failed to get response (wrong type: {}, want an object)", type_name(&picked))));
    };
    if members.len() > MAX_KEYS {
        return Err(ProviderError::Invalid(format!("the response has {} keys, more than {MAX_KEYS}", members.len())));
    }
    Ok(members.into_iter().map(|(k, v)| (k, bytes(&v))).collect())
}

/// The value at `path`: one match is that value, several are an array of them (as a wildcard
/// path gives in ESO), none is an error.
fn select(doc: &Value, path: &str) -> Result<Value, ProviderError> {
    use jsonpath_rust::JsonPath;
    let matches = doc.query(path).map_err(|e| ProviderError::Invalid(format!("result.jsonPath {path:?} is not a JSON path: {e}")))?;
    match matches.as_slice() {
        [] => Err(ProviderError::NotFound(format!("failed to get response path {path}: nothing matched"))),
        [one] => Ok((*one).clone()),
        many => Ok(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    }
}

/// One member's value as ESO writes it: strings as they are, numbers in plain decimal (JSON
/// numbers are floats in Go), booleans as text, null as empty, objects and arrays as JSON.
fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.clone().into_bytes(),
        Value::Number(n) => n.as_f64().map(|f| f.to_string()).unwrap_or_else(|| n.to_string()).into_bytes(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => Vec::new(),
        Value::Object(_) | Value::Array(_) => serde_json::to_vec(value).unwrap_or_default(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(map: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
        String::from_utf8(map[key].clone()).unwrap()
    }

    #[test]
    fn every_member_becomes_a_value_as_eso_writes_it() {
        let body = br#"{"s":"v","i":3,"f":1.5,"big":1e21,"b":false,"z":null,"o":{"b":1,"a":"x"},"l":[1,"two"]}"#;
        let map = secret_map(body, None).unwrap();
        assert_eq!(text(&map, "s"), "v");
        assert_eq!(text(&map, "i"), "3");
        assert_eq!(text(&map, "f"), "1.5");
        assert_eq!(text(&map, "big"), "1000000000000000000000");
        assert_eq!(text(&map, "b"), "false");
        assert_eq!(text(&map, "z"), "");
        assert_eq!(text(&map, "o"), r#"{"a":"x","b":1}"#);
        assert_eq!(text(&map, "l"), r#"[1,"two"]"#);
    }

    #[test]
    fn the_json_path_picks_an_object_or_a_string_holding_one() {
        let body = br#"{"data":{"user":"u","pass":"p"},"encoded":"{\"token\":\"t\"}","n":1,"list":[{"a":1},{"a":2}]}"#;
        assert_eq!(secret_map(body, Some("$.data")).unwrap().keys().collect::<Vec<_>>(), ["pass", "user"]);
        assert_eq!(text(&secret_map(body, Some("$.encoded")).unwrap(), "token"), "t");
        assert!(secret_map(body, Some("$.missing")).unwrap_err().is_not_found());
        for (path, why) in [("$.n", "wrong type: number"), ("$.list[*]", "wrong type: array"), ("$.data.user", "from jsonpath")] {
            let err = secret_map(body, Some(path)).unwrap_err().to_string();
            assert!(err.contains(why), "{path}: {err}");
        }
    }

    #[test]
    fn a_non_json_or_oversized_answer_is_refused_without_echoing_it() {
        let err = secret_map(b"pa55word", None).unwrap_err().to_string();
        assert!(err.contains("failed to parse response json") && !err.contains("pa55word"), "{err}");
        let many: serde_json::Map<String, Value> = (0..=MAX_KEYS).map(|i| (format!("k{i}"), Value::from(i))).collect();
        let err = secret_map(&serde_json::to_vec(&many).unwrap(), None).unwrap_err().to_string();
        assert!(err.contains("more than 1000"), "{err}");
    }
}
