//! Key conversion, key validation and value decoding (`sesame::pipeline::keys`).
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use sesame::api::{ConversionStrategy, DecodingStrategy};
use sesame::pipeline::keys::{convert_key, decode, validate_key};

use crate::{bounded, fuzz, inputs};

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
}

fn conversion() -> impl Strategy<Value = ConversionStrategy> {
    prop_oneof![Just(ConversionStrategy::Default), Just(ConversionStrategy::Unicode)]
}

fn decoding() -> impl Strategy<Value = DecodingStrategy> {
    prop_oneof![
        Just(DecodingStrategy::None),
        Just(DecodingStrategy::Auto),
        Just(DecodingStrategy::Base64),
        Just(DecodingStrategy::Base64Url),
    ]
}

#[test]
fn validate_key_accepts_exactly_kubernetes_secret_keys() {
    let strategy = prop_oneof![inputs::text(), "[-._a-zA-Z0-9]{0,300}"];
    fuzz("validate_key", 3000, strategy, |key| {
        let ok = bounded("validate_key", || validate_key(&key))?.is_ok();
        let want = !key.is_empty() && key.len() <= 253 && key.chars().all(allowed);
        prop_assert_eq!(ok, want, "validate_key({:?})", key);
        Ok(())
    });
}

#[test]
fn converted_keys_are_always_valid_secret_keys() {
    fuzz("convert_key", 3000, (inputs::text(), conversion()), |(key, strategy)| {
        let out = bounded("convert_key", || convert_key(&key, strategy))?;
        prop_assert!(out.chars().all(allowed), "convert_key({key:?}, {strategy:?}) = {out:?}");
        if !out.is_empty() && out.len() <= 253 {
            prop_assert!(validate_key(&out).is_ok(), "{:?} -> {:?} fails validate_key", key, out);
        }
        prop_assert_eq!(out.is_empty(), key.is_empty());
        if key.chars().all(allowed) {
            prop_assert_eq!(&out, &key, "a valid key is left alone");
        }
        if strategy == ConversionStrategy::Default {
            prop_assert_eq!(out.chars().count(), key.chars().count(), "Default replaces one for one");
        }
        // Converting twice changes nothing more.
        prop_assert_eq!(convert_key(&out, strategy), out.clone());
        Ok(())
    });
}

#[test]
fn unicode_conversion_is_injective() {
    // Two different remote keys must not become the same Secret key (one would overwrite the other)
    // unless the remote key already spells out an escape.
    let key = || prop::collection::vec(prop_oneof!["[a-z]", "[/ :@]", any::<char>().prop_map(|c| c.to_string())], 0..6);
    fuzz("convert_key Unicode injective", 2000, (key(), key()), |(a, b)| {
        let (a, b) = (a.concat(), b.concat());
        if a != b && !a.contains("_U") && !b.contains("_U") {
            prop_assert_ne!(convert_key(&a, ConversionStrategy::Unicode), convert_key(&b, ConversionStrategy::Unicode));
        }
        Ok(())
    });
}

#[test]
fn decode_never_panics_and_auto_never_fails() {
    fuzz("decode", 3000, (inputs::bytes(), decoding()), |(value, strategy)| {
        let out = bounded("decode", || decode(value.clone(), strategy))?;
        match strategy {
            DecodingStrategy::None => prop_assert_eq!(out, Ok(value)),
            DecodingStrategy::Auto => prop_assert!(out.is_ok()),
            _ => {}
        }
        Ok(())
    });
}

#[test]
fn decoding_what_was_encoded_gives_the_bytes_back() {
    fuzz("decode(encode(x)) == x", 3000, prop::collection::vec(any::<u8>(), 0..200), |x| {
        for (encoded, strategy) in [
            (STANDARD.encode(&x), DecodingStrategy::Base64),
            (STANDARD_NO_PAD.encode(&x), DecodingStrategy::Base64),
            (URL_SAFE.encode(&x), DecodingStrategy::Base64Url),
            (URL_SAFE_NO_PAD.encode(&x), DecodingStrategy::Base64Url),
            (STANDARD.encode(&x), DecodingStrategy::Auto),
            (URL_SAFE_NO_PAD.encode(&x), DecodingStrategy::Auto),
        ] {
            let back = decode(encoded.clone().into_bytes(), strategy);
            prop_assert_eq!(back.as_ref(), Ok(&x), "{:?} of {:?}", strategy, encoded);
        }
        Ok(())
    });
}
