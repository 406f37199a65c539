//! `rewrite[].merge`: merge the JSON objects held by several keys into one, with ESO's order
//! (keys alphabetically, then `priority` in its order, later wins), policies and output. Values
//! are written as ESO's Go encoder writes them (numbers through float64, sorted fields), so a
//! Secret moved from ESO keeps its bytes.
use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::{MergeConflictPolicy, MergePriorityPolicy, MergeStrategy, RewriteMerge};

pub fn merge(op: &RewriteMerge, data: BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut order: Vec<&str> = data.keys().map(String::as_str).filter(|k| !op.priority.iter().any(|p| p == k)).collect();
    order.extend(op.priority.iter().map(String::as_str));

    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    let mut conflicts: Vec<&str> = Vec::new();
    let mut objects = Vec::with_capacity(order.len());
    for key in &order {
        let Some(value) = data.get(*key) else {
            if op.priority_policy.unwrap_or_default() == MergePriorityPolicy::IgnoreNotFound {
                continue;
            }
            return Err(format!("priority key {key:?} is not among the keys"));
        };
        // The key is named, never the value: it may be a secret that is not JSON.
        let object: Option<serde_json::Map<String, Value>> =
            serde_json::from_slice(value).map_err(|_| format!("the value of key {key:?} is not a JSON object"))?;
        objects.push(object.unwrap_or_default());
    }
    for object in &objects {
        for (field, value) in object {
            if merged.insert(field.clone(), value.clone()).is_some() {
                conflicts.push(field);
            }
        }
    }
    if op.conflict_policy.unwrap_or_default() == MergeConflictPolicy::Error && !conflicts.is_empty() {
        return Err(format!("conflicting fields: {}", conflicts.join(", ")));
    }
    match op.strategy.unwrap_or_default() {
        MergeStrategy::Extract => Ok(merged.into_iter().map(|(k, v)| (k, top_level_bytes(&v))).collect()),
        MergeStrategy::Json => {
            let into = op.into.as_deref().filter(|i| !i.is_empty()).ok_or("strategy JSON needs `into`, the key to write")?;
            let mut out = data;
            let mut json = String::new();
            write_object(&mut json, merged.iter(), false);
            out.insert(into.to_string(), json.into_bytes());
            Ok(out)
        }
    }
}

/// One merged field as a Secret value: strings as they are, numbers in plain decimal, null
/// empty, objects and arrays as JSON.
fn top_level_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        Value::Number(n) => n.as_f64().map(|f| f.to_string()).unwrap_or_else(|| n.to_string()).into_bytes(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => Vec::new(),
        Value::Array(_) | Value::Object(_) => {
            let mut out = String::new();
            write_value(&mut out, v, true);
            out.into_bytes()
        }
    }
}

/// JSON as Go's encoder writes a decoded value: sorted fields, numbers as float64, `<>&`
/// escaped when `html`.
fn write_value(out: &mut String, v: &Value, html: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => write_string(out, s, html),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, html);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            write_object(out, sorted.into_iter(), html);
        }
    }
}

fn write_object<'a>(out: &mut String, fields: impl Iterator<Item = (&'a String, &'a Value)>, html: bool) {
    out.push('{');
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k, html);
        out.push(':');
        write_value(out, v, html);
    }
    out.push('}');
}

fn write_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float64 JSON form: plain decimal, exponent form below 1e-6 and from 1e21.
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    fn text(out: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
        out.into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect()
    }

    fn op(json: serde_json::Value) -> RewriteMerge {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn extract_replaces_the_keys_with_the_merged_fields_in_eso_value_forms() {
        let data = input(&[
            ("a", r#"{"user":"u","port":5432,"ratio":1.0,"tls":true,"none":null}"#),
            ("b", r#"{"hosts":["x","<y>"],"o":{"z":1,"a":1e21}}"#),
        ]);
        let out = text(merge(&op(serde_json::json!({})), data).unwrap());
        let want: BTreeMap<String, String> = [
            ("user", "u"),
            ("port", "5432"),
            ("ratio", "1"),
            ("tls", "true"),
            ("none", ""),
            ("hosts", r#"["x","\u003cy\u003e"]"#),
            ("o", r#"{"a":1e+21,"z":1}"#),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn a_conflict_is_an_error_by_default_and_priority_decides_when_ignored() {
        let data = input(&[("a", r#"{"k":"from-a"}"#), ("b", r#"{"k":"from-b"}"#)]);
        let err = merge(&op(serde_json::json!({})), data.clone()).unwrap_err();
        assert_eq!(err, "conflicting fields: k");
        let alphabetical = text(merge(&op(serde_json::json!({"conflictPolicy": "Ignore"})), data.clone()).unwrap());
        assert_eq!(alphabetical["k"], "from-b", "without priority the alphabetically last key wins");
        let prioritised = text(merge(&op(serde_json::json!({"conflictPolicy": "Ignore", "priority": ["a"]})), data).unwrap());
        assert_eq!(prioritised["k"], "from-a", "priority keys merge last");
    }

    #[test]
    fn a_missing_priority_key_fails_unless_ignore_not_found() {
        let data = input(&[("a", r#"{"k":"v"}"#)]);
        assert_eq!(
            merge(&op(serde_json::json!({"priority": ["gone"]})), data.clone()).unwrap_err(),
            r#"priority key "gone" is not among the keys"#
        );
        let out = text(merge(&op(serde_json::json!({"priority": ["gone"], "priorityPolicy": "IgnoreNotFound"})), data).unwrap());
        assert_eq!(out["k"], "v");
    }

    #[test]
    fn json_writes_the_merged_object_into_a_key_beside_the_originals() {
        let data = input(&[("a", r#"{"x":"<1>","n":2.50}"#), ("b", r#"{"y":"2"}"#)]);
        let out = text(merge(&op(serde_json::json!({"strategy": "JSON", "into": "all"})), data).unwrap());
        assert_eq!(out["all"], r#"{"n":2.5,"x":"<1>","y":"2"}"#, "sorted fields, no HTML escaping");
        assert!(out.contains_key("a") && out.contains_key("b"));
        let err = merge(&op(serde_json::json!({"strategy": "JSON", "into": ""})), input(&[("a", "{}")])).unwrap_err();
        assert!(err.contains("into"), "{err}");
    }

    #[test]
    fn a_value_that_is_not_a_json_object_is_named_by_its_key_only() {
        let err = merge(&op(serde_json::json!({})), input(&[("pw", "hunter2-secret")])).unwrap_err();
        assert_eq!(err, r#"the value of key "pw" is not a JSON object"#);
        assert!(!err.contains("hunter2"));
        assert!(merge(&op(serde_json::json!({})), input(&[("nothing", "null")])).unwrap().is_empty(), "null merges as an empty object");
    }
}
