//! sprig's certificate functions: `genCA`, `genSelfSignedCert`,
//! `genSignedCert`, their `…WithKey` forms and `buildCustomCert`. They return
//! a certificate object with `.Cert` and `.Key` (PEM), like sprig. Keys are
//! RSA (2048-bit when generated; `…WithKey` accepts RSA keys only), signed
//! with SHA-256, with the template sprig fills in (CN only, key usages
//! digitalSignature+keyEncipherment (+certSign for CAs), server and client
//! auth, basic constraints, SANs, key identifiers as Go adds them).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Datelike, Duration, Utc};
use gotmpl::Value;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};
use sha1::{Digest, Sha1};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::super::binstr;
use super::super::value::{FnResult, arg_int, arg_str, map, string, strval};
use super::der;
use super::keygen::rsa_key;
use super::keys::to_pkcs8;
use super::pem::{decode, encode};
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("genCA", 2, 2, |_, a| ca(a, None));
    r.add("genCAWithKey", 3, 3, |_, a| ca(a, Some(arg_str(a, 2)?)));
    r.add("genSelfSignedCert", 4, 4, |_, a| self_signed(a, None));
    r.add("genSelfSignedCertWithKey", 5, 5, |_, a| self_signed(a, Some(arg_str(a, 4)?)));
    r.add("genSignedCert", 5, 5, |_, a| signed(a, None));
    r.add("genSignedCertWithKey", 6, 6, |_, a| signed(a, Some(arg_str(a, 5)?)));
    r.add("buildCustomCert", 2, 2, build_custom);
}

const OID_SHA256_RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];

fn certificate(cert_pem: String, key_pem: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert(Arc::from("Cert"), string(cert_pem));
    m.insert(Arc::from("Key"), string(key_pem));
    map(m)
}

fn key_of(pem: Option<&str>) -> Result<rsa::PrivateKey, String> {
    let Some(pem) = pem else { return rsa_key(2048) };
    let block = decode(&binstr::to_bytes(pem)).0.ok_or("parsing private key: no PEM data in input")?;
    let pkcs8 = to_pkcs8(&block.der).map_err(|e| format!("parsing private key: {e}"))?;
    rsa::PrivateKey::from_pkcs8_der(&pkcs8).map_err(|_| "only RSA keys are supported for certificates".to_string())
}

fn key_pem(key: &rsa::PrivateKey) -> Result<String, String> {
    let der = key.to_pkcs1_der().map_err(|_| "error pem-encoding key".to_string())?;
    Ok(encode("RSA PRIVATE KEY", &[], der.as_bytes()))
}

fn name(cn: &str) -> Vec<u8> {
    let printable = cn.chars().all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c));
    let value = der::tlv(if printable { 0x13 } else { 0x0c }, cn.as_bytes());
    let oid_cn: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
    der::seq(&[&der::tlv(0x31, &der::seq(&[oid_cn, &value]))])
}

fn time(t: chrono::DateTime<Utc>) -> Vec<u8> {
    if (1950..2050).contains(&t.year()) {
        der::tlv(0x17, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        der::tlv(0x18, t.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
    }
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let flag: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
    der::seq(&[oid, flag, &der::octets(value)])
}

/// What sprig's `getBaseCertTemplate` and the CA flag decide.
struct Template {
    cn: String,
    ips: Vec<Vec<u8>>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

fn template(a: &[Value], cn: usize, lists: Option<(usize, usize)>, days: usize, is_ca: bool) -> Result<Template, String> {
    let list = |i: usize| -> Vec<String> {
        match &a[i] {
            Value::List(l) => l.iter().map(strval).collect(),
            _ => Vec::new(),
        }
    };
    let (ips, dns) = match lists {
        Some((ip_i, dns_i)) => {
            let ips = list(ip_i)
                .iter()
                .map(|s| s.parse::<std::net::IpAddr>().map_err(|_| format!("error parsing ip: {s}")))
                .map(|ip| {
                    ip.map(|ip| match ip {
                        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            (ips, list(dns_i))
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(Template { cn: arg_str(a, cn)?.to_owned(), ips, dns, days: arg_int(a, days)?, is_ca })
}

/// The signing CA: its subject (DER), subject key identifier and key.
struct Issuer<'a> {
    name: Vec<u8>,
    key_id: Option<Vec<u8>>,
    key: &'a rsa::PrivateKey,
}

/// Builds and signs the certificate (self-signed without an issuer).
fn create(t: &Template, key: &rsa::PrivateKey, issuer: Option<Issuer<'_>>) -> Result<String, String> {
    let spki = key.to_public_key().to_public_key_der().map_err(|_| "error creating certificate".to_string())?;
    let spki = spki.as_bytes();
    let subject = name(&t.cn);
    let serial: [u8; 16] = rand::random();
    let now = Utc::now();
    let usage: &[u8] = if t.is_ca { &[0x03, 0x02, 0x02, 0xa4] } else { &[0x03, 0x02, 0x05, 0xa0] };
    let eku = der::seq(&[
        &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
        &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
    ]);
    let basic = if t.is_ca { der::seq(&[&[0x01, 0x01, 0xff]]) } else { der::seq(&[]) };
    let mut exts = vec![
        extension(&[0x06, 0x03, 0x55, 0x1d, 0x0f], true, usage),
        extension(&[0x06, 0x03, 0x55, 0x1d, 0x25], false, &eku),
        extension(&[0x06, 0x03, 0x55, 0x1d, 0x13], true, &basic),
    ];
    let ski = t.is_ca.then(|| {
        let bits = der::sequence(spki).ok().and_then(|f| f.get(1).map(|b| b.content.get(1..).unwrap_or_default().to_vec()));
        Sha1::digest(bits.unwrap_or_default()).to_vec()
    });
    if let Some(id) = &ski {
        exts.push(extension(&[0x06, 0x03, 0x55, 0x1d, 0x0e], false, &der::octets(id)));
    }
    let (issuer_name, issuer_key) = match &issuer {
        Some(Issuer { name, key_id, key: k }) => {
            if let Some(id) = key_id {
                exts.push(extension(&[0x06, 0x03, 0x55, 0x1d, 0x23], false, &der::seq(&[&der::tlv(0x80, id)])));
            }
            (name.clone(), *k)
        }
        None => (subject.clone(), key),
    };
    if !t.ips.is_empty() || !t.dns.is_empty() {
        let mut names: Vec<Vec<u8>> = t.dns.iter().map(|d| der::tlv(0x82, d.as_bytes())).collect();
        names.extend(t.ips.iter().map(|ip| der::tlv(0x87, ip)));
        let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        exts.push(extension(&[0x06, 0x03, 0x55, 0x1d, 0x11], false, &der::seq(&refs)));
    }
    let ext_refs: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
    let alg = der::seq(&[OID_SHA256_RSA, der::NULL]);
    let until = Duration::try_days(t.days).and_then(|d| now.checked_add_signed(d)).ok_or("invalid validity period")?;
    let validity = der::seq(&[&time(now), &time(until)]);
    let tbs = der::seq(&[
        &der::tlv(0xa0, &der::uint(&[2])),
        &der::uint(&serial),
        &alg,
        &issuer_name,
        &validity,
        &subject,
        spki,
        &der::tlv(0xa3, &der::seq(&ext_refs)),
    ]);
    let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(issuer_key.clone());
    let signature = signer.try_sign(&tbs).map_err(|_| "error creating certificate".to_string())?.to_vec();
    Ok(encode("CERTIFICATE", &[], &der::seq(&[&tbs, &alg, &der::bits(&signature)])))
}

fn ca(a: &[Value], key: Option<&str>) -> FnResult {
    let key = key_of(key)?;
    let t = template(a, 0, None, 1, true)?;
    Ok(certificate(create(&t, &key, None)?, key_pem(&key)?))
}

fn self_signed(a: &[Value], key: Option<&str>) -> FnResult {
    let key = key_of(key)?;
    let t = template(a, 0, Some((1, 2)), 3, false)?;
    Ok(certificate(create(&t, &key, None)?, key_pem(&key)?))
}

fn signed(a: &[Value], key: Option<&str>) -> FnResult {
    let Value::Map(ca) = &a[4] else {
        return Err("the CA must be a certificate object".into());
    };
    let field = |k: &str| ca.get(k).map(strval).unwrap_or_default();
    let ca_block = decode(&binstr::to_bytes(&field("Cert"))).0.ok_or("unable to decode certificate")?;
    let (_, ca_cert) = X509Certificate::from_der(&ca_block.der).map_err(|_| "error parsing certificate".to_string())?;
    let ca_name = ca_cert.tbs_certificate.subject.as_raw().to_vec();
    let ca_ski = ca_cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        x509_parser::prelude::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
        _ => None,
    });
    let ca_key = key_of(Some(&field("Key")))?;
    let key = key_of(key)?;
    let t = template(a, 0, Some((1, 2)), 3, false)?;
    let issuer = Issuer { name: ca_name, key_id: ca_ski, key: &ca_key };
    Ok(certificate(create(&t, &key, Some(issuer))?, key_pem(&key)?))
}

fn build_custom(_: &Ctx, a: &[Value]) -> FnResult {
    let cert = STANDARD.decode(arg_str(a, 0)?).map_err(|_| "unable to decode base64 certificate".to_string())?;
    let key = STANDARD.decode(arg_str(a, 1)?).map_err(|_| "unable to decode base64 private key".to_string())?;
    let block = decode(&cert).0.ok_or("unable to decode certificate")?;
    X509Certificate::from_der(&block.der).map_err(|_| "error parsing certificate".to_string())?;
    let key_block = decode(&key).0.ok_or("error parsing private key: no PEM data in input")?;
    to_pkcs8(&key_block.der).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok(certificate(binstr::from_bytes(&cert), binstr::from_bytes(&key)))
}
