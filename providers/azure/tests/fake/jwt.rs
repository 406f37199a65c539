//! RS256 JWTs: a stand-in Kubernetes ServiceAccount token issuer, and the verification Entra ID
//! applies to a federated client assertion.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// An OIDC issuer signing ServiceAccount tokens, as a cluster's apiserver does.
pub struct Issuer {
    pub url: String,
    key: RsaKeyPair,
}

impl Issuer {
    pub fn new(url: &str) -> Issuer {
        Issuer { url: url.into(), key: RsaKeyPair::generate(KeySize::Rsa2048).unwrap() }
    }

    /// The public key, as the issuer's JWKS would publish it (here: PKCS#1 DER).
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": "sesame-test", "typ": "JWT"});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
        format!("{input}.{}", b64(&sig))
    }

    /// A projected ServiceAccount token, shaped as the apiserver's TokenRequest returns it.
    pub fn service_account_token(&self, namespace: &str, name: &str, audiences: &[String], lifetime: i64) -> String {
        let now = super::now();
        self.sign(&json!({
            "aud": audiences,
            "exp": now + lifetime,
            "iat": now,
            "nbf": now,
            "iss": self.url,
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": "0d5e2f7c"}},
        }))
    }
}

/// An RSA JWK (`kty`, `n`, `e`) as the PKCS#1 `RSAPublicKey` DER the verifier takes.
pub fn rsa_public_key_der(jwk: &Value) -> Option<Vec<u8>> {
    if jwk["kty"] != "RSA" {
        return None;
    }
    let int = |field: &str| -> Option<Vec<u8>> {
        let mut bytes = URL_SAFE_NO_PAD.decode(jwk[field].as_str()?).ok()?;
        // DER INTEGERs are signed: a leading high bit needs a zero byte in front.
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            bytes.insert(0, 0);
        }
        Some(der(0x02, &bytes))
    };
    Some(der(0x30, &[int("n")?, int("e")?].concat()))
}

/// One DER TLV (definite length, long form above 127 bytes).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The header of a JWT, unverified.
pub fn header(token: &str) -> Option<Value> {
    let header = token.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()
}

/// The claims of a JWT, unverified (to find the issuer whose key verifies it).
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, claims) = (parts.next()?, parts.next()?);
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// Check an RS256 signature with the issuer's public key.
pub fn verify_signature(token: &str, public_key_der: &[u8]) -> bool {
    let Some((input, sig)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    let header: Option<Value> =
        input.split('.').next().and_then(|h| URL_SAFE_NO_PAD.decode(h).ok()).and_then(|h| serde_json::from_slice(&h).ok());
    if header.as_ref().and_then(|h| h["alg"].as_str()) != Some("RS256") {
        return false;
    }
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der).verify(input.as_bytes(), &sig).is_ok()
}
