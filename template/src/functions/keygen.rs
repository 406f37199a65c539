//! sprig's `genPrivateKey` and `derivePassword`.

use gotmpl::Value;
use hmac::{Hmac, KeyInit, Mac};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::sha2::Sha256;

use super::super::value::{FnResult, arg_int, arg_str, string};
use super::der::{self, CURVES, OID_ED25519};
use super::keys::ec_private_key;
use super::pem::encode;
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("genPrivateKey", 1, 1, |_, a| Ok(string(generate(arg_str(a, 0)?).unwrap_or_else(|e| e))));
    r.add("derivePassword", 5, 5, derive_password);
}

/// An RSA key of `bits` bits.
pub(crate) fn rsa_key(bits: usize) -> Result<rsa::PrivateKey, String> {
    rsa::PrivateKey::new(&mut rand::rng(), bits).map_err(|_| "failed to generate private key".to_string())
}

/// PEM of a new key: `rsa` (4096-bit, PKCS#1), `ecdsa` (P-256, SEC1) or
/// `ed25519` (PKCS#8), as sprig writes them; errors are returned as text.
fn generate(kind: &str) -> Result<String, String> {
    match kind {
        "" | "rsa" => {
            let der = rsa_key(4096)?.to_pkcs1_der().map_err(|_| "failed to encode key".to_string())?;
            Ok(encode("RSA PRIVATE KEY", &[], der.as_bytes()))
        }
        "ecdsa" => {
            let key = <p256::SecretKey as p256::elliptic_curve::Generate>::generate();
            let public = der::bits(&key.public_key().to_sec1_bytes());
            let curve = CURVES[0].1;
            Ok(encode("EC PRIVATE KEY", &[], &ec_private_key(&key.to_bytes(), Some(&public), 32, Some(curve))))
        }
        "ed25519" => {
            let seed: [u8; 32] = rand::random();
            let pkcs8 = der::seq(&[&der::uint(&[0]), &der::seq(&[OID_ED25519]), &der::octets(&der::octets(&seed))]);
            Ok(encode("PRIVATE KEY", &[], &pkcs8))
        }
        "dsa" => Err("failed to generate dsa params: DSA is not supported".into()),
        other => Err(format!("Unknown type {other}")),
    }
}

const SEED: &[u8] = b"com.lyndir.masterpassword";

fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// `derivePassword counter type password user site` (Master Password v3).
fn derive_password(_: &Ctx, a: &[Value]) -> FnResult {
    let counter = arg_int(a, 0)? as u32;
    let (kind, password, user, site) = (arg_str(a, 1)?, arg_str(a, 2)?, arg_str(a, 3)?, arg_str(a, 4)?);
    let Some(templates) = templates(kind) else {
        return Ok(string(format!("cannot find password template {kind}")));
    };
    let mut salt = SEED.to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let params = scrypt::Params::new(15, 8, 2).map_err(|_| "failed to derive password".to_string())?;
    let mut key = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).map_err(|_| "failed to derive password".to_string())?;
    let mut msg = SEED.to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| "failed to derive password".to_string())?;
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()].as_bytes();
    let out: String = template
        .iter()
        .enumerate()
        .map(|(i, class)| {
            let chars = characters(*class);
            chars[usize::from(seed[i + 1]) % chars.len()] as char
        })
        .collect();
    Ok(string(out))
}
