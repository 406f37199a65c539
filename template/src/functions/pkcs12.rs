//! ESO's PKCS#12 helpers: `pkcs12key[Pass]`, `pkcs12cert[Pass]`,
//! `pemToPkcs12[Pass]`, `fullPemToPkcs12[Pass]`, `pemTruststoreToPKCS12[Pass]`.
//! Reading follows go-pkcs12's `DecodeChain`; writing uses the modern
//! profile (PBES2/AES-256, HMAC-SHA-256) and returns base64, as ESO does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gotmpl::Value;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, Pkcs12Archive, PrivateKey, PrivateKeyChain};
use sha1::{Digest, Sha1};

use super::super::binstr;
use super::super::value::{FnResult, arg_str, string};
use super::keys::to_pkcs8;
use super::pem::{decode, decode_all, encode, order_chain, parse_cert};
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("pkcs12key", 1, 1, |_, a| key_pem(&bytes(a, 0)?, ""));
    r.add("pkcs12keyPass", 2, 2, |_, a| key_pem(&bytes(a, 1)?, arg_str(a, 0)?));
    r.add("pkcs12cert", 1, 1, |_, a| cert_pem(&bytes(a, 0)?, ""));
    r.add("pkcs12certPass", 2, 2, |_, a| cert_pem(&bytes(a, 1)?, arg_str(a, 0)?));
    r.add("pemToPkcs12", 2, 2, |c, a| to_pkcs12(c, a, false, ""));
    r.add("pemToPkcs12Pass", 3, 3, |c, a| to_pkcs12(c, a, false, arg_str(a, 2)?));
    r.add("fullPemToPkcs12", 2, 2, |c, a| to_pkcs12(c, a, true, ""));
    r.add("fullPemToPkcs12Pass", 3, 3, |c, a| to_pkcs12(c, a, true, arg_str(a, 2)?));
    r.add("pemTruststoreToPKCS12", 1, 1, |_, a| truststore(&bytes(a, 0)?, ""));
    r.add("pemTruststoreToPKCS12Pass", 2, 2, |_, a| truststore(&bytes(a, 0)?, arg_str(a, 1)?));
}

fn bytes(a: &[Value], i: usize) -> Result<Vec<u8>, String> {
    Ok(binstr::to_bytes(arg_str(a, i)?))
}

/// A decoded archive: PKCS#8 key, leaf certificate, other certificates (DER).
type Chain = (Vec<u8>, Vec<u8>, Vec<Vec<u8>>);

/// go-pkcs12 `DecodeChain`: the one key, the first certificate bag as the
/// leaf and the other certificates in bag order.
fn decode_chain(pfx: &[u8], password: &str) -> Result<Chain, String> {
    let archive = Pkcs12Archive::from_pkcs12(pfx, password)
        .map_err(|_| "unable to decode pkcs12: wrong password or malformed archive".to_string())?;
    let key = match archive.keys.as_slice() {
        [k] => k.key.as_der().to_vec(),
        [] => return Err("pkcs12: private key missing".into()),
        _ => return Err("pkcs12: expected exactly one key bag".into()),
    };
    let mut certs = archive.certs.iter().map(|bag| bag.cert.as_der().to_vec());
    let leaf = certs.next().ok_or("pkcs12: certificate missing")?;
    Ok((key, leaf, certs.collect()))
}

fn key_pem(pfx: &[u8], password: &str) -> FnResult {
    let (key, _, _) = decode_chain(pfx, password)?;
    Ok(string(encode("PRIVATE KEY", &[], &to_pkcs8(&key)?)))
}

fn cert_pem(pfx: &[u8], password: &str) -> FnResult {
    let (_, leaf, cas) = decode_chain(pfx, password)?;
    let all: Vec<Vec<u8>> = std::iter::once(leaf).chain(cas).collect();
    let unordered: String = all.iter().map(|c| encode("CERTIFICATE", &[], c)).collect();
    let parsed: Result<Vec<_>, _> = all.iter().map(|c| parse_cert(c)).collect();
    let ordered = parsed.and_then(order_chain);
    Ok(string(match ordered {
        Ok(chain) => chain.iter().map(|c| encode("CERTIFICATE", &[], &c.der)).collect(),
        Err(_) => unordered,
    }))
}

fn certificate(der: &[u8]) -> Result<Certificate, String> {
    Certificate::from_der(der).map_err(|_| "x509: malformed certificate".to_string())
}

/// `pemToPkcs12 cert key` (first certificate only) and `fullPemToPkcs12`
/// (the following certificates become CA certificates).
fn to_pkcs12(_: &Ctx, a: &[Value], full: bool, password: &str) -> FnResult {
    let (cert_pem, key_pem) = (bytes(a, 0)?, bytes(a, 1)?);
    let (first, rest) = decode(&cert_pem);
    let leaf = certificate(&first.ok_or("failed to decode certificate PEM")?.der)?;
    let mut chain = vec![leaf.clone()];
    if full {
        for block in decode_all(rest) {
            chain.push(certificate(&block.der)?);
        }
    }
    let key_block = decode(&key_pem).0.ok_or("failed to decode private key PEM")?;
    let key = PrivateKey::from_der(&to_pkcs8(&key_block.der)?).map_err(|_| "unable to parse private key type".to_string())?;
    let local_key_id = Sha1::digest(leaf.as_der()).to_vec();
    let mut store = KeyStore::new();
    store.add_entry("1", KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, chain)));
    let pfx = store
        .writer(password)
        .mac_iterations(2048)
        .encryption_iterations(2048)
        .write()
        .map_err(|_| "pkcs12: encoding failed".to_string())?;
    Ok(string(STANDARD.encode(pfx)))
}

/// `pemTruststoreToPKCS12 certs`: certificates only, base64.
fn truststore(pem: &[u8], password: &str) -> FnResult {
    let mut store = KeyStore::new();
    for (i, block) in decode_all(pem).iter().enumerate() {
        store.add_entry(&format!("{i}"), KeyStoreEntry::Certificate(certificate(&block.der)?));
    }
    let pfx = store
        .writer(password)
        .mac_iterations(2048)
        .encryption_iterations(2048)
        .write()
        .map_err(|_| "pkcs12: encoding failed".to_string())?;
    Ok(string(STANDARD.encode(pfx)))
}
