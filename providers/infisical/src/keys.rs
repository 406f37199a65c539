//! The tenant's RSA private keys that GCP IAM and OCI Auth sign with: PEM, PKCS#8
//! (`PRIVATE KEY`, a Google service-account key's form), PKCS#1 (`RSA PRIVATE KEY`, OpenSSL's
//! traditional form) or encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2, with a passphrase).
//! OpenSSL's legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED`) is refused with how to convert it.
//! Errors name the key, never show it.
use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkcs8::der::Decode;
use sesame_provider_core::ProviderError;

/// An RSA key that signs with PKCS#1 v1.5 SHA-256. `Debug` never shows it.
pub(crate) struct RsaKey(RsaKeyPair);

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaKey")
    }
}

impl RsaKey {
    /// The key in `pem`, decrypted with `passphrase` when it is encrypted. `what` names it.
    pub(crate) fn from_pem(pem: &str, passphrase: Option<&str>, what: &str) -> Result<RsaKey, ProviderError> {
        let invalid = |why: &str| ProviderError::Invalid(format!("{what}: {why}"));
        let pem = pem.trim();
        if pem.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(invalid(
                "OpenSSL's legacy encrypted PEM is not supported; convert it to encrypted PKCS#8 \
                 (`openssl pkcs8 -topk8 -v2 aes-256-cbc`) or store it unencrypted",
            ));
        }
        let (label, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|_| invalid("not a PEM private key"))?;
        let rejected = |_| invalid("not an RSA private key of 2048 to 8192 bits");
        let key = match label {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der).map_err(rejected)?,
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der).map_err(rejected)?,
            "ENCRYPTED PRIVATE KEY" => {
                let Some(passphrase) = passphrase else {
                    return Err(invalid("the key is encrypted and no passphrase is given"));
                };
                let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|_| invalid("not an encrypted PKCS#8 key"))?;
                let plain =
                    info.decrypt(passphrase).map_err(|_| invalid("cannot decrypt the key: wrong passphrase or unsupported cipher"))?;
                RsaKeyPair::from_pkcs8(plain.as_bytes()).map_err(rejected)?
            }
            other => return Err(invalid(&format!("a PEM {other:?} is not a private key"))),
        };
        Ok(RsaKey(key))
    }

    /// `RSASSA-PKCS1-v1_5` with SHA-256 over `message` (JWT `RS256`, OCI `rsa-sha256`).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| ProviderError::Invalid("cannot sign with the RSA key".into()))?;
        Ok(signature)
    }

    /// A compact JWS (`RS256`) of `claims`, with `kid` in the header when given.
    pub(crate) fn jwt(&self, claims: &serde_json::Value, kid: Option<&str>) -> Result<String, ProviderError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = kid.filter(|k| !k.is_empty()) {
            header["kid"] = kid.into();
        }
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_usable_key_is_refused_without_showing_it() {
        let legacy =
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nc2VjcmV0\n-----END RSA PRIVATE KEY-----";
        let err = RsaKey::from_pem(legacy, Some("pw"), "ociAuthCredentials.privateKey").unwrap_err().to_string();
        assert!(err.contains("legacy encrypted PEM is not supported") && !err.contains("c2VjcmV0"), "{err}");
        let cert = "-----BEGIN CERTIFICATE-----\nc2VjcmV0\n-----END CERTIFICATE-----";
        let err = RsaKey::from_pem(cert, None, "k").unwrap_err().to_string();
        assert!(err.contains("is not a private key"), "{err}");
        let err = RsaKey::from_pem("hunter2", None, "k").unwrap_err().to_string();
        assert!(err.contains("not a PEM private key") && !err.contains("hunter2"), "{err}");
    }
}
