use std::collections::BTreeMap;

use super::*;
use crate::testctx::{Secrets, ctx_with};

/// RFC 6238's SHA1 seed "12345678901234567890" in base32.
const RFC_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn spec(json: &str) -> MfaSpec {
    serde_json::from_str(json).unwrap()
}

fn seeded(value: &str) -> GeneratorContext {
    ctx_with(Secrets(BTreeMap::from([("totp/seed".to_string(), value.as_bytes().to_vec())])))
}

async fn run(json: &str, seed: &str) -> Result<BTreeMap<String, String>, GeneratorError> {
    let out = Mfa::new(spec(json))?.generate(&seeded(seed)).await?;
    assert_eq!(out.state, None);
    Ok(out.data.into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect())
}

const SECRET: &str = r#""secret":{"name":"totp","key":"seed"}"#;

#[tokio::test]
async fn token_and_time_left_at_a_pinned_time_match_rfc_6238() {
    let out = run(&format!(r#"{{{SECRET},"length":8,"when":"2005-03-18T01:58:29Z"}}"#), RFC_SEED).await.unwrap();
    assert_eq!(out.keys().collect::<Vec<_>>(), ["timeLeft", "token"]);
    // 1111111109 s: RFC 6238's SHA1 vector, one second left in its 30-second step.
    assert_eq!((out["token"].as_str(), out["timeLeft"].as_str()), ("07081804", "1"));
}

#[tokio::test]
async fn algorithm_length_and_period_are_honoured() {
    // RFC 6238's SHA256 vector at 59 s, with the 32-byte seed.
    let seed256 = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890123456789012");
    let out = run(&format!(r#"{{{SECRET},"length":8,"algorithm":"sha256","when":"1970-01-01T00:00:59Z"}}"#), &seed256).await.unwrap();
    assert_eq!(out["token"], "46119246");
    let out = run(&format!(r#"{{{SECRET},"timePeriod":60,"when":"1970-01-01T00:00:59Z"}}"#), RFC_SEED).await.unwrap();
    assert_eq!((out["token"].len(), out["timeLeft"].as_str()), (6, "1"));
}

#[tokio::test]
async fn defaults_are_six_digits_every_thirty_seconds_with_sha1() {
    let out = run(&format!(r#"{{{SECRET},"when":"2005-03-18T01:58:29Z"}}"#), RFC_SEED).await.unwrap();
    assert_eq!(out["token"], "081804");
    let now = run(&format!("{{{SECRET}}}"), RFC_SEED).await.unwrap();
    assert!(now["token"].len() == 6 && now["token"].bytes().all(|b| b.is_ascii_digit()));
    let left: u64 = now["timeLeft"].parse().unwrap();
    assert!((1..=30).contains(&left), "{left}");
}

#[tokio::test]
async fn seeds_as_authenticators_show_them_are_accepted() {
    let grouped = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
    let pinned = format!(r#"{{{SECRET},"length":8,"when":"2005-03-18T01:58:29Z"}}"#);
    assert_eq!(run(&pinned, grouped).await.unwrap()["token"], "07081804");
    assert_eq!(run(&pinned, "JBSWY3DPEHPK3PXP===").await.unwrap()["token"].len(), 8);
}

#[tokio::test]
async fn a_bad_seed_is_an_error_that_never_shows_the_seed() {
    for seed in ["NOT-BASE32-hunter2!", "", "   ", &"A".repeat(2000)] {
        let err = run(&format!("{{{SECRET}}}"), seed).await.unwrap_err();
        assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains("Secret totp key seed")), "{err}");
        let shown = err.to_string();
        assert!(!shown.contains("hunter2") && !shown.contains("AAAA"), "{shown}");
    }
}

#[tokio::test]
async fn a_missing_secret_is_not_found() {
    let err = Mfa::new(spec(r#"{"secret":{"name":"other","key":"seed"}}"#)).unwrap().generate(&seeded(RFC_SEED)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn every_invalid_spec_is_refused_with_its_reason() {
    let cases = [
        (r#"{"secret":{"name":"totp"}}"#.to_string(), "secret.name and secret.key"),
        (r#"{"secret":{"key":"seed"}}"#.to_string(), "secret.name and secret.key"),
        (format!(r#"{{{SECRET},"length":11}}"#), "length 11"),
        (format!(r#"{{{SECRET},"timePeriod":86401}}"#), "timePeriod 86401"),
        (format!(r#"{{{SECRET},"algorithm":"md5"}}"#), "algorithm \"md5\""),
        (format!(r#"{{{SECRET},"when":"yesterday"}}"#), "RFC 3339"),
        (format!(r#"{{{SECRET},"when":"1960-01-01T00:00:00Z"}}"#), "before 1970"),
    ];
    for (json, reason) in cases {
        match Mfa::new(spec(&json)) {
            Err(GeneratorError::Invalid(m)) => assert!(m.starts_with("MFA: ") && m.contains(reason), "{json}: {m}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    // ESO: zero or negative length and period mean the defaults.
    assert!(Mfa::new(spec(&format!(r#"{{{SECRET},"length":-1,"timePeriod":0}}"#))).is_ok());
}
