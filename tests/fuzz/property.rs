//! `remoteRef.property` (gjson paths) and `dataFrom.extract` (top-level keys): the payload comes
//! from a provider, the property from an ExternalSecret, so both are untrusted.
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;
use sesame_provider_core::ProviderError;
use sesame_provider_core::property::{extract, top_level_map};

use crate::{bounded, fuzz, inputs};

/// gjson path syntax: keys, indexes, wildcards, queries, modifiers, escapes.
fn path() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-z]{1,4}",
        1 => "[0-9]{1,2}",
        2 => prop::sample::select(&[
            ".", "#", "*", "?", "|", "@", "\\", "!", "#(", ")", ")#", "==", "!=", "%", "!%", "<", ">=", "\"",
            "@reverse", "@this", "@valid", "@flatten", "@join", "@keys", "@values", "@tostr", "@fromstr",
            "@group", "@pretty:{\"indent\":\"    \"}", "@ugly", "[", "]", "{", "}", ",", ":", "..", "~true", "~false",
            "~null", "~*", "#(a==\"b\")", "#(a%\"*\")#", "a.b", "\\.", "$", "`", "'",
        ][..])
        .prop_map(str::to_string),
        1 => inputs::text(),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

#[test]
fn extract_never_panics_on_any_payload_and_property() {
    let payload = prop_oneof![inputs::bytes(), inputs::json().prop_map(|v| v.to_string().into_bytes())];
    fuzz("property::extract", 4000, (payload, path()), |(payload, property)| {
        let out = bounded("extract", || extract(&payload, &property, "fuzz/key"))?;
        if let Err(e) = out {
            let text = e.to_string();
            prop_assert!(matches!(e, ProviderError::NotFound(_) | ProviderError::Invalid(_)), "unexpected error kind: {text}");
        }
        Ok(())
    });
}

/// Object keys a provider might hold, special characters included.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_/-]{1,8}",
        2 => "[a-z]{1,3}(\\.[a-z]{1,3}){1,3}",
        1 => "[a-z.*?|#@!=<>%\\\\-]{1,6}",
        1 => inputs::text().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

#[test]
fn a_literal_key_is_always_found_first() {
    // The documented rule: a literal key (dots and all) wins over the gjson path.
    let doc = prop::collection::btree_map(key(), "[a-z0-9]{0,8}", 1..6);
    fuzz("literal key lookup", 3000, doc, |doc: BTreeMap<String, String>| {
        let payload = serde_json::to_vec(&doc).unwrap();
        for (k, v) in &doc {
            let got = extract(&payload, k, "fuzz/key").map(|s| String::from_utf8_lossy(s.as_bytes()).to_string());
            prop_assert_eq!(got.as_ref().ok(), Some(v), "property {:?} of {}", k, String::from_utf8_lossy(&payload));
        }
        Ok(())
    });
}

#[test]
fn top_level_map_never_panics_and_keeps_string_values_verbatim() {
    fuzz("property::top_level_map", 3000, inputs::bytes(), |payload| {
        let out = bounded("top_level_map", || top_level_map(&payload, "fuzz/key"))?;
        match (serde_json::from_slice::<Value>(&payload), out) {
            (Ok(Value::Object(obj)), Ok(map)) => {
                prop_assert_eq!(obj.len(), map.len());
                for (k, v) in obj {
                    let got = map.get(&k).map(|s| s.as_bytes().to_vec());
                    let want = match v {
                        Value::String(s) => s.into_bytes(),
                        other => other.to_string().into_bytes(),
                    };
                    prop_assert_eq!(got, Some(want), "key {:?}", k);
                }
            }
            (Ok(Value::Object(_)), Err(e)) => prop_assert!(false, "a JSON object was refused: {e}"),
            (_, Ok(map)) => prop_assert!(false, "a non-object was accepted: {} keys", map.len()),
            (_, Err(_)) => {}
        }
        Ok(())
    });
}

/// The same rule, spelled out for every ASCII punctuation character alone, first, inside and
/// last in a key: the keys whose literal lookup fails are listed in the failure.
#[test]
fn every_punctuation_character_is_looked_up_literally() {
    let mut missed = Vec::new();
    for c in (0x21u8..0x7f).map(char::from).filter(|c| c.is_ascii_punctuation()) {
        for key in [format!("{c}"), format!("{c}k"), format!("k{c}k"), format!("k{c}")] {
            let payload = serde_json::to_vec(&serde_json::json!({ &key: "v", "k": "other" })).unwrap();
            let got = extract(&payload, &key, "fuzz/key").ok().map(|v| v.as_bytes().to_vec());
            if got.as_deref() != Some(b"v".as_slice()) {
                missed.push(key);
            }
        }
    }
    assert!(missed.is_empty(), "keys not found literally: {missed:?}");
}
