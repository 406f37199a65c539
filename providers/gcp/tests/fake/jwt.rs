//! RS256 JWTs: the keys and signatures both sides of the fake need. Service-account keys are
//! generated per test (RSA 2048, PKCS#8), so a key can only be accepted by its own public half.
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// An RSA signing key and its public half (PKCS#1 DER, what RS256 verification takes).
pub struct RsaKey {
    pair: KeyPair,
    pub public_der: Vec<u8>,
}

impl RsaKey {
    pub fn generate() -> RsaKey {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let public_der = pair.public_key().as_ref().to_vec();
        RsaKey { pair, public_der }
    }

    /// `-----BEGIN PRIVATE KEY-----` PEM, as in a service-account key file.
    pub fn pkcs8_pem(&self) -> String {
        let der: aws_lc_rs::encoding::Pkcs8V1Der = self.pair.as_der().expect("PKCS#8 encoding");
        let b64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
    }

    /// A compact RS256 JWS over `claims`.
    pub fn sign_jwt(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).expect("RS256 signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// A decoded JWT whose signature has not been checked yet.
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
    signed: String,
    signature: Vec<u8>,
}

impl Jwt {
    pub fn parse(token: &str) -> Option<Jwt> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
        Some(Jwt { header, claims, signed: format!("{h}.{c}"), signature })
    }

    /// RS256 with the given public key, and nothing else accepted (no `alg: none`).
    pub fn verify(&self, public_der: &[u8]) -> bool {
        self.header["alg"] == "RS256"
            && UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_der)
                .verify(self.signed.as_bytes(), &self.signature)
                .is_ok()
    }

    /// RS256 with a key of a JWKS document (`{"keys":[{"kid","n","e",…}]}`), chosen by `kid`.
    pub fn verify_jwks(&self, jwks: &Value) -> bool {
        let kid = self.header["kid"].as_str();
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        self.header["alg"] == "RS256"
            && keys.iter().filter(|k| k["kty"] == "RSA" && (kid.is_none() || k["kid"].as_str() == kid)).any(|k| {
                let (Some(n), Some(e)) = (
                    k["n"].as_str().and_then(|n| URL_SAFE_NO_PAD.decode(n).ok()),
                    k["e"].as_str().and_then(|e| URL_SAFE_NO_PAD.decode(e).ok()),
                ) else {
                    return false;
                };
                signature::RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, self.signed.as_bytes(), &self.signature)
                    .is_ok()
            })
    }

    /// `exp` in the future and `iat` not in the future (60 s of clock skew allowed).
    pub fn is_current(&self) -> bool {
        let now = now();
        let exp = self.claims["exp"].as_i64().unwrap_or(0);
        let iat = self.claims["iat"].as_i64().unwrap_or(i64::MAX);
        exp > now && iat <= now + 60
    }

    /// The `aud` claim as a list (a string or an array of strings).
    pub fn audiences(&self) -> Vec<String> {
        match &self.claims["aud"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    }
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}
