use std::collections::BTreeSet;

use super::*;
use crate::testctx::ctx;

const DRAWS: usize = 300;

fn spec(json: &str) -> PasswordSpec {
    serde_json::from_str(json).unwrap()
}

async fn draws(spec: PasswordSpec) -> Vec<String> {
    let g = Password::new(spec).unwrap();
    let mut out = Vec::new();
    for _ in 0..DRAWS {
        let data = g.generate(&ctx()).await.unwrap().data;
        out.push(String::from_utf8(data["password"].clone()).unwrap());
    }
    out
}

fn count(p: &str, set: &str) -> usize {
    p.chars().filter(|c| set.contains(*c)).count()
}

fn invalid(spec: PasswordSpec) -> String {
    match Password::new(spec) {
        Err(GeneratorError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn defaults_are_24_characters_with_6_digits_6_symbols_and_no_repeats() {
    for p in draws(spec("{}")).await {
        assert_eq!(p.chars().count(), 24, "{p}");
        assert_eq!(count(&p, DIGITS), 6, "{p}");
        assert_eq!(count(&p, DEFAULT_SYMBOL_CHARACTERS), 6, "{p}");
        assert_eq!(count(&p, LOWER) + count(&p, UPPER), 12, "{p}");
        assert_eq!(p.chars().collect::<BTreeSet<_>>().len(), 24, "a character repeats in {p}");
    }
}

#[tokio::test]
async fn all_classes_show_up_across_draws_and_values_differ() {
    let all = draws(spec("{}")).await;
    let joined = all.concat();
    for set in [LOWER, UPPER, DIGITS, DEFAULT_SYMBOL_CHARACTERS] {
        assert!(set.chars().all(|c| joined.contains(c)), "some of {set} never drawn");
    }
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), DRAWS, "a password repeated");
}

#[tokio::test]
async fn exact_counts_of_digits_and_symbols_and_only_lowercase_with_no_upper() {
    for p in draws(spec(r#"{"length":16,"digits":3,"symbols":0,"noUpper":true}"#)).await {
        assert_eq!(p.len(), 16);
        assert_eq!(count(&p, DIGITS), 3);
        assert_eq!(count(&p, LOWER), 13, "{p}");
    }
}

#[tokio::test]
async fn custom_symbol_characters_are_the_only_symbols() {
    for p in draws(spec(r#"{"length":10,"digits":0,"symbols":4,"symbolCharacters":"-_+="}"#)).await {
        assert_eq!(count(&p, "-_+="), 4, "{p}");
        assert_eq!(count(&p, DEFAULT_SYMBOL_CHARACTERS), 4, "only the custom symbols: {p}");
        assert_eq!(count(&p, LOWER) + count(&p, UPPER), 6);
    }
}

#[tokio::test]
async fn empty_symbol_characters_mean_the_default_set() {
    for p in draws(spec(r#"{"length":8,"digits":0,"symbols":8,"symbolCharacters":""}"#)).await {
        assert_eq!(count(&p, DEFAULT_SYMBOL_CHARACTERS), 8, "{p}");
    }
}

#[tokio::test]
async fn allow_repeat_lifts_the_distinct_character_limits() {
    for p in draws(spec(r#"{"length":200,"digits":50,"symbols":50,"allowRepeat":true}"#)).await {
        assert_eq!(p.len(), 200);
        assert_eq!(count(&p, DIGITS), 50);
        assert_eq!(count(&p, DEFAULT_SYMBOL_CHARACTERS), 50);
    }
    // Without it, 25 digits cannot be distinct.
    assert!(invalid(spec(r#"{"length":100}"#)).contains("allowRepeat"));
}

#[tokio::test]
async fn symbols_overlapping_letters_still_never_repeat() {
    // 52 letters use up "a" and "b" in every draw, so two distinct symbols cannot be found.
    let m = invalid(spec(r#"{"length":54,"digits":0,"symbols":2,"symbolCharacters":"ab"}"#));
    assert!(m.contains("symbols"), "{m}");
    // With noUpper, "X" and "Y" are only symbols: two distinct symbols always remain.
    for p in draws(spec(r#"{"length":12,"digits":0,"symbols":2,"symbolCharacters":"abXY","noUpper":true}"#)).await {
        assert_eq!(p.chars().collect::<BTreeSet<_>>().len(), 12, "{p}");
        assert_eq!(count(&p, UPPER), count(&p, "XY"));
    }
}

#[tokio::test]
async fn zero_or_negative_length_means_the_default() {
    for json in [r#"{"length":0}"#, r#"{"length":-3}"#] {
        assert!(draws(spec(json)).await.iter().all(|p| p.chars().count() == 24));
    }
}

#[tokio::test]
async fn each_secret_key_gets_its_own_password() {
    let g = Password::new(spec(r#"{"secretKeys":["a","b","c"]}"#)).unwrap();
    let data = g.generate(&ctx()).await.unwrap().data;
    assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(data.values().collect::<BTreeSet<_>>().len(), 3);
}

#[tokio::test]
async fn encodings_wrap_a_password_of_the_requested_shape() {
    use data_encoding::{BASE32, BASE64, BASE64URL, HEXLOWER};
    let cases: [(&str, &data_encoding::Encoding); 4] =
        [("base64", &BASE64), ("base64url", &BASE64URL), ("base32", &BASE32), ("hex", &HEXLOWER)];
    for (name, enc) in cases {
        let g = Password::new(spec(&format!(r#"{{"length":12,"digits":2,"symbols":2,"encoding":"{name}"}}"#))).unwrap();
        for _ in 0..50 {
            let out = g.generate(&ctx()).await.unwrap().data["password"].clone();
            let raw = String::from_utf8(enc.decode(&out).unwrap()).unwrap();
            assert_eq!((raw.chars().count(), count(&raw, DIGITS), count(&raw, DEFAULT_SYMBOL_CHARACTERS)), (12, 2, 2), "{name}");
        }
    }
    let p: PasswordSpec = spec(r#"{"encoding":"raw"}"#);
    assert_eq!(p.encoding, PasswordEncoding::Raw);
    assert!(serde_json::from_str::<PasswordSpec>(r#"{"encoding":"rot13"}"#).is_err());
}

#[test]
fn every_impossible_spec_is_refused_with_its_reason() {
    let cases = [
        (r#"{"length":8,"digits":5,"symbols":4}"#, "exceed the length"),
        (r#"{"digits":-1}"#, "digits must not be negative"),
        (r#"{"symbols":-1}"#, "symbols must not be negative"),
        (r#"{"length":30,"digits":11,"symbols":0,"allowRepeat":false}"#, "11 digits"),
        (r#"{"length":60,"digits":0,"symbols":0}"#, "60 letters"),
        (r#"{"length":30,"digits":0,"symbols":27,"noUpper":true,"symbolCharacters":"!@#"}"#, "27 symbols"),
        (r#"{"length":5000,"allowRepeat":true}"#, "maximum"),
        (r#"{"secretKeys":[]}"#, "secretKeys"),
        (r#"{"secretKeys":["a",""]}"#, "secretKeys"),
        (r#"{"secretKeys":["a","a"]}"#, "secretKeys"),
    ];
    for (json, reason) in cases {
        let m = invalid(spec(json));
        assert!(m.starts_with("Password: ") && m.contains(reason), "{json}: {m}");
    }
    let many: Vec<String> = (0..=MAX_SECRET_KEYS).map(|i| format!("k{i}")).collect();
    assert!(invalid(PasswordSpec { secret_keys: Some(many), ..Default::default() }).contains("secretKeys"));
    let symbols = "x".repeat(MAX_SYMBOL_CHARACTERS + 1);
    assert!(invalid(PasswordSpec { symbol_characters: Some(symbols), ..Default::default() }).contains("symbolCharacters"));
}

#[test]
fn the_spec_reads_esos_field_names_and_defaults() {
    let s = spec(
        r#"{"length":32,"digits":4,"symbols":2,"symbolCharacters":"!","noUpper":true,"allowRepeat":true,"secretKeys":["k"],"encoding":"hex"}"#,
    );
    assert_eq!((s.length, s.digits, s.symbols, s.no_upper, s.allow_repeat), (32, Some(4), Some(2), true, true));
    assert_eq!(
        (s.symbol_characters.as_deref(), s.secret_keys.as_deref(), s.encoding),
        (Some("!"), Some(&["k".to_string()][..]), PasswordEncoding::Hex)
    );
    assert_eq!(spec("{}"), PasswordSpec::default());
    let schema = serde_json::to_value(schemars::schema_for!(PasswordSpec)).unwrap();
    assert_eq!(schema["properties"]["length"]["default"], 24);
    assert_eq!(schema["properties"]["encoding"]["default"], "raw");
}
