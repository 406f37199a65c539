//! What a push to `cert/NAME` imports. As ESO 2.9: the bytes are read first as a password-less
//! PKCS#12 archive (imported as they are, Key Vault's default format), then as PEM; the leaf
//! certificate decides "unchanged" against the vault's `cer`. Key Vault imports a certificate
//! only with its private key and, for PEM, only a PKCS#8 key: so a PEM push is sent as the
//! leaf-first chain after the key re-encoded as PKCS#8 (cert-manager writes PKCS#1 by default)
//! with the PEM content type, where ESO sends the PEM unchanged. A password-protected archive,
//! a certificate without its key and anything else are clear errors naming no byte of the value.
use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p12_keystore::{Certificate, Pkcs12Archive};
use pkcs8::der::Decode;
use sesame_provider_core::ProviderError;

use super::keymaterial::{ec_pair, pem_blocks};

/// Key Vault's content type for a PEM import (`policy.secret_props.contentType`).
pub(crate) const PEM_CONTENT_TYPE: &str = "application/x-pem-file";

/// A certificate ready for Import Certificate.
pub(crate) struct CertImport {
    /// The leaf certificate's DER: what the vault's `cer` is compared with.
    pub leaf: Vec<u8>,
    /// The request's `value`: base64 of the PKCS#12 archive or of the PEM text.
    pub value: String,
    /// The PEM content type must be sent with the value.
    pub pem: bool,
}

impl std::fmt::Debug for CertImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertImport").field("pem", &self.pem).finish_non_exhaustive()
    }
}

pub(crate) fn parse(value: &[u8], name: &str) -> Result<CertImport, ProviderError> {
    let invalid = |why: String| ProviderError::Invalid(format!("certificate {name}: the value is not a valid certificate: {why}"));
    match Pkcs12Archive::from_pkcs12(value, "") {
        Ok(archive) => return pkcs12(value, archive).map_err(invalid),
        // Not an archive at all: try the other formats.
        Err(p12_keystore::error::Error::DerError(_) | p12_keystore::error::Error::InvalidVersion) => {}
        Err(_) => {
            return Err(invalid(
                "a password-protected (or unreadable) PKCS#12 archive: only password-less archives can be pushed, as in ESO; \
                 build one with the template function pemToPkcs12 or fullPemToPkcs12"
                    .into(),
            ));
        }
    }
    if Certificate::from_der(value).is_ok() {
        return Err(invalid("a DER certificate without its private key: Key Vault imports a certificate with its key".into()));
    }
    pem(value).map_err(invalid)
}

fn pkcs12(value: &[u8], archive: Pkcs12Archive) -> Result<CertImport, String> {
    if archive.keys.is_empty() {
        return Err("the PKCS#12 archive has no private key: Key Vault imports a certificate with its key".into());
    }
    let key_id = archive.keys[0].local_key_id.as_ref().map(|id| &id.0);
    // The leaf is the certificate of the key (same localKeyId), else the first one, as go-pkcs12.
    let leaf = archive
        .certs
        .iter()
        .find(|c| key_id.is_some() && c.local_key_id.as_ref() == key_id)
        .or_else(|| archive.certs.first())
        .ok_or("the PKCS#12 archive has no certificate")?;
    Ok(CertImport { leaf: leaf.cert.as_der().to_vec(), value: STANDARD.encode(value), pem: false })
}

fn pem(value: &[u8]) -> Result<CertImport, String> {
    let blocks = pem_blocks(value)?;
    if blocks.is_empty() {
        return Err("neither PKCS#12, DER nor PEM".into());
    }
    let mut certs = Vec::new();
    let mut key = None;
    for (label, der) in &blocks {
        match label.as_str() {
            "CERTIFICATE" => {
                Certificate::from_der(der).map_err(|_| "a malformed PEM CERTIFICATE block".to_string())?;
                certs.push(der.as_slice());
            }
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" if key.is_none() => key = Some(pkcs8_of(label, der)?),
            "ENCRYPTED PRIVATE KEY" => return Err("the private key is encrypted: push it unencrypted or as PKCS#12".into()),
            _ => {}
        }
    }
    let leaf = certs.first().ok_or("no PEM CERTIFICATE block")?.to_vec();
    let key = key.ok_or("no PEM private key: Key Vault imports a certificate with its key")?;
    let mut text = armor("PRIVATE KEY", &key);
    for cert in &certs {
        text.push_str(&armor("CERTIFICATE", cert));
    }
    Ok(CertImport { leaf, value: STANDARD.encode(text), pem: true })
}

/// The key as PKCS#8, the only form Key Vault takes in a PEM import.
fn pkcs8_of(label: &str, der: &[u8]) -> Result<Vec<u8>, String> {
    match label {
        "PRIVATE KEY" => {
            pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| "a malformed PKCS#8 PRIVATE KEY block".to_string())?;
            Ok(der.to_vec())
        }
        "RSA PRIVATE KEY" => {
            let pair = aws_lc_rs::rsa::KeyPair::from_der(der).map_err(|_| "a malformed or unusable RSA PRIVATE KEY block".to_string())?;
            let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(|_| "the RSA key cannot be re-encoded".to_string())?;
            Ok(pkcs8.as_ref().to_vec())
        }
        _ => {
            let (pair, _) = ec_pair(der)?;
            Ok(pair.to_pkcs8v1().map_err(|_| "the EC key cannot be re-encoded".to_string())?.as_ref().to_vec())
        }
    }
}

fn armor(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}
