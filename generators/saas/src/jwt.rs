//! The two JWT chores of these generators: sign a GitHub App's RS256 token with its private key
//! (aws-lc-rs, the crypto provider already in the graph), and read the `exp` claim of a token a
//! service issued (not verified: only the service that issued it can, and it is only reported).
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use sesame_generator_core::GeneratorError;

/// An RSA private key from PEM: PKCS#1 (`RSA PRIVATE KEY`, what GitHub hands out) or PKCS#8.
pub(crate) fn rsa_key(kind: &str, pem: &[u8]) -> Result<RsaKeyPair, GeneratorError> {
    let invalid = |what: String| GeneratorError::Invalid(format!("{kind}: {what}"));
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| invalid("the private key is not a PEM private key".into()))?;
    match key {
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        _ => return Err(invalid("the private key must be an RSA key".into())),
    }
    .map_err(|e| invalid(format!("unusable RSA private key: {e}")))
}

/// A compact RS256 JWT of `claims`.
pub(crate) fn sign_rs256(kind: &str, key: &RsaKeyPair, claims: &serde_json::Value) -> Result<String, GeneratorError> {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature)
        .map_err(|_| GeneratorError::Invalid(format!("{kind}: signing the app JWT failed")))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The `exp` claim of `token`, as ESO writes it (a number of Unix seconds, no exponent).
pub(crate) fn expiry(kind: &str, token: &str) -> Result<String, GeneratorError> {
    let invalid = |what: &str| GeneratorError::Invalid(format!("{kind}: the issued token {what}"));
    let payload = token.split('.').nth(1).ok_or_else(|| invalid("is not a JWT"))?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|_| invalid("is not a JWT (payload is not base64url)"))?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid("is not a JWT (payload is not JSON)"))?;
    let exp = claims.get("exp").and_then(serde_json::Value::as_f64).ok_or_else(|| invalid("has no numeric exp claim"))?;
    Ok(format!("{exp}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        format!("{}.{}.sig", URL_SAFE_NO_PAD.encode("{}"), URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn the_expiry_is_the_exp_claim_in_plain_seconds() {
        assert_eq!(expiry("K", &token(r#"{"exp":1767225600}"#)).unwrap(), "1767225600");
        assert_eq!(expiry("K", &token(r#"{"exp":1767225600.5}"#)).unwrap(), "1767225600.5");
        for bad in [token(r#"{"sub":"x"}"#), token(r#"{"exp":"soon"}"#), "opaque".into(), "a.%%%.c".into()] {
            assert!(matches!(expiry("K", &bad), Err(GeneratorError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn a_key_that_is_not_rsa_pem_is_refused_without_echoing_it() {
        let err = rsa_key("GithubAccessToken", b"-----BEGIN NOTHING-----\nc2VjcmV0\n-----END NOTHING-----\n").unwrap_err();
        assert!(err.to_string().contains("not a PEM private key"), "{err}");
        assert!(!err.to_string().contains("c2VjcmV0"));
    }
}
