//! ESO's `jwkPublicKeyPem`, `jwkPrivateKeyPem` (PKIX / PKCS#8 PEM of an RSA,
//! EC or Ed25519 JWK, as Go's `crypto/x509` marshals them) and `rsaDecrypt`.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use gotmpl::Value;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Oaep, PrivateKey as RsaPrivateKey};

use super::super::binstr;
use super::super::value::{FnResult, arg_str, string};
use super::der::{self, CURVES, NULL, OID_EC, OID_ED25519, OID_RSA};
use super::keys::{ec_private_key, to_pkcs8};
use super::pem::{decode, encode};
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("jwkPublicKeyPem", 1, 1, |_, a| Ok(string(encode("PUBLIC KEY", &[], &public_der(&jwk(a)?)?))));
    r.add("jwkPrivateKeyPem", 1, 1, |_, a| Ok(string(encode("PRIVATE KEY", &[], &private_der(&jwk(a)?)?))));
    r.add("rsaDecrypt", 4, 4, rsa_decrypt);
}

fn jwk(a: &[Value]) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_str(arg_str(a, 0)?).map_err(|_| "failed to parse JWK: invalid JSON".to_string())?;
    if !v.is_object() {
        return Err("failed to parse JWK: not an object".into());
    }
    Ok(v)
}

/// A base64url member (padding optional).
fn member(k: &serde_json::Value, name: &str) -> Result<Vec<u8>, String> {
    let text = k[name].as_str().ok_or_else(|| format!("failed to parse JWK: missing \"{name}\""))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(text))
        .map_err(|_| format!("failed to parse JWK: invalid \"{name}\""))
}

fn kty(k: &serde_json::Value) -> &str {
    k["kty"].as_str().unwrap_or_default()
}

fn curve(k: &serde_json::Value) -> Result<(&'static [u8], usize), String> {
    let crv = k["crv"].as_str().unwrap_or_default();
    CURVES.iter().find(|c| c.0 == crv).map(|c| (c.1, c.2)).ok_or_else(|| format!("unsupported curve {crv}"))
}

fn padded(bytes: &[u8], size: usize) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut out = vec![0u8; size.saturating_sub(trimmed.len())];
    out.extend_from_slice(&trimmed);
    out
}

fn ec_point(k: &serde_json::Value, size: usize) -> Result<Vec<u8>, String> {
    let mut point = vec![4u8];
    point.extend(padded(&member(k, "x")?, size));
    point.extend(padded(&member(k, "y")?, size));
    Ok(point)
}

/// `x509.MarshalPKIXPublicKey` of the JWK's public key (a private JWK is an
/// error there too: Go gets a private key from it).
fn public_der(k: &serde_json::Value) -> Result<Vec<u8>, String> {
    if k.get("d").is_some() {
        return Err("x509: unsupported public key type: private key".into());
    }
    match kty(k) {
        "RSA" => {
            let key = der::seq(&[&der::uint(&member(k, "n")?), &der::uint(&member(k, "e")?)]);
            Ok(der::seq(&[&der::seq(&[OID_RSA, NULL]), &der::bits(&key)]))
        }
        "EC" => {
            let (oid, size) = curve(k)?;
            Ok(der::seq(&[&der::seq(&[OID_EC, oid]), &der::bits(&ec_point(k, size)?)]))
        }
        "OKP" if k["crv"] == "Ed25519" => Ok(der::seq(&[&der::seq(&[OID_ED25519]), &der::bits(&member(k, "x")?)])),
        other => Err(format!("x509: unsupported public key type: {other}")),
    }
}

/// `x509.MarshalPKCS8PrivateKey` of the JWK's private key.
fn private_der(k: &serde_json::Value) -> Result<Vec<u8>, String> {
    if k.get("d").is_none() {
        return Err("x509: unknown key type while marshaling PKCS#8: public key".into());
    }
    match kty(k) {
        "RSA" => {
            let fields = ["n", "e", "d", "p", "q", "dp", "dq", "qi"]
                .iter()
                .map(|f| member(k, f).map(|v| der::uint(&v)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut parts = vec![der::uint(&[0])];
            parts.extend(fields);
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            to_pkcs8(&der::seq(&refs))
        }
        "EC" => {
            let (oid, size) = curve(k)?;
            let public = der::bits(&ec_point(k, size)?);
            let inner = ec_private_key(&member(k, "d")?, Some(&public), size, None);
            Ok(der::seq(&[&der::uint(&[0]), &der::seq(&[OID_EC, oid]), &der::octets(&inner)]))
        }
        "OKP" if k["crv"] == "Ed25519" => {
            Ok(der::seq(&[&der::uint(&[0]), &der::seq(&[OID_ED25519]), &der::octets(&der::octets(&member(k, "d")?))]))
        }
        other => Err(format!("x509: unknown key type while marshaling PKCS#8: {other}")),
    }
}

/// `rsaDecrypt scheme hash ciphertext privateKeyPem` (schemes `None` and
/// `RSA-OAEP`; hashes `SHA1`, `SHA256`, `SHA512`, default SHA-256).
fn rsa_decrypt(_: &Ctx, a: &[Value]) -> FnResult {
    let (scheme, hash, input, key) = (arg_str(a, 0)?, arg_str(a, 1)?, arg_str(a, 2)?, arg_str(a, 3)?);
    match scheme {
        "None" => Ok(string(input)),
        "RSA-OAEP" => {
            let block = decode(&binstr::to_bytes(key)).0.ok_or("failed to decode PEM block")?;
            let pkcs8 = to_pkcs8(&block.der).map_err(|e| format!("could not parse private key: {e}"))?;
            let key = RsaPrivateKey::from_pkcs8_der(&pkcs8).map_err(|_| "could not parse RSA private key".to_string())?;
            let ct = binstr::to_bytes(input);
            let out = match hash {
                "SHA1" => key.decrypt(Oaep::<sha1::Sha1>::new(), &ct),
                "SHA512" => key.decrypt(Oaep::<rsa::sha2::Sha512>::new(), &ct),
                _ => key.decrypt(Oaep::<rsa::sha2::Sha256>::new(), &ct),
            };
            let out = out.map_err(|_| "error decrypting data with RSA".to_string())?;
            Ok(string(binstr::from_bytes(&out)))
        }
        other => Err(format!("decryption scheme {other} is not supported")),
    }
}
