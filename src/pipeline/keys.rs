//! Key conversion, key validation and value decoding, as ESO does them.
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::api::{ConversionStrategy, DecodingStrategy};

/// A Secret key must match `[-._a-zA-Z0-9]+` and be at most 253 characters.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 253 {
        return Err(format!("invalid secret key {key:?}: must be 1 to 253 characters"));
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err(format!("invalid secret key {key:?}: only [-._a-zA-Z0-9] are allowed"));
    }
    Ok(())
}

/// A [`validate_key`] message without the key, for keys that are not the spec's own (rendered
/// by a template, or named by the provider): those may carry values.
pub fn unquoted(message: &str, key: &str) -> String {
    message.replace(&format!("invalid secret key {key:?}"), "a rendered secret key is invalid")
}

/// Rewrite characters a Secret key may not hold: `Default` turns each into `_`, `Unicode` into
/// `_UXXXX_` (the code point in upper-case hex, at least four digits).
pub fn convert_key(key: &str, strategy: ConversionStrategy) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    key.chars()
        .map(|c| match (allowed(c), strategy) {
            (true, _) => c.to_string(),
            (false, ConversionStrategy::Default) => "_".to_string(),
            (false, ConversionStrategy::Unicode) => format!("_U{:04X}_", c as u32),
        })
        .collect()
}

/// Decode a value per `decodingStrategy`. `Auto` tries standard then URL base64 and keeps the
/// raw bytes when neither fits.
pub fn decode(value: Vec<u8>, strategy: DecodingStrategy) -> Result<Vec<u8>, String> {
    match strategy {
        DecodingStrategy::None => Ok(value),
        DecodingStrategy::Base64 => {
            decode_with(&value, &[STANDARD, STANDARD_NO_PAD]).ok_or_else(|| "value is not valid base64".to_string())
        }
        DecodingStrategy::Base64Url => {
            decode_with(&value, &[URL_SAFE, URL_SAFE_NO_PAD]).ok_or_else(|| "value is not valid base64url".to_string())
        }
        DecodingStrategy::Auto => Ok(decode_with(&value, &[STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]).unwrap_or(value)),
    }
}

fn decode_with(value: &[u8], engines: &[base64::engine::GeneralPurpose]) -> Option<Vec<u8>> {
    engines.iter().find_map(|e| e.decode(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated_like_kubernetes_secret_keys() {
        assert!(validate_key("db.password-1_x").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a/b").is_err());
        assert!(validate_key(&"k".repeat(254)).is_err());
        assert!(validate_key(&"k".repeat(253)).is_ok());
    }

    #[test]
    fn default_conversion_replaces_invalid_characters_with_underscores() {
        assert_eq!(convert_key("/app/db password", ConversionStrategy::Default), "_app_db_password");
    }

    #[test]
    fn unicode_conversion_spells_out_the_code_point() {
        assert_eq!(convert_key("a/b", ConversionStrategy::Unicode), "a_U002F_b");
        assert_eq!(convert_key("ü", ConversionStrategy::Unicode), "_U00FC_");
    }

    #[test]
    fn decoding_strategies() {
        assert_eq!(decode(b"aGVsbG8=".to_vec(), DecodingStrategy::Base64).unwrap(), b"hello");
        assert!(decode(b"not base64!".to_vec(), DecodingStrategy::Base64).is_err());
        assert_eq!(decode(b"_-8".to_vec(), DecodingStrategy::Base64Url).unwrap(), vec![0xff, 0xef]);
        assert_eq!(decode(b"aGVsbG8=".to_vec(), DecodingStrategy::Auto).unwrap(), b"hello");
        assert_eq!(decode(b"plain text!".to_vec(), DecodingStrategy::Auto).unwrap(), b"plain text!");
        assert_eq!(decode(b"raw".to_vec(), DecodingStrategy::None).unwrap(), b"raw");
    }
}
