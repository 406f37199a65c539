//! Private keys in the form Go's `x509.MarshalPKCS8PrivateKey` writes them,
//! from PKCS#1, PKCS#8 or SEC1 input (ESO's `parsePrivateKey` order).

use super::der::{self, CURVES, NULL, OID_EC, OID_ED25519, OID_RSA, Tlv};

/// A PKCS#8 `PrivateKeyInfo` from PKCS#1, PKCS#8 or SEC1 DER.
pub(crate) fn to_pkcs8(key: &[u8]) -> Result<Vec<u8>, String> {
    let fields = der::sequence(key).map_err(|_| "unable to parse private key type".to_string())?;
    if fields.len() >= 9 && fields.iter().all(|f| f.tag == 0x02) {
        return Ok(rsa_pkcs8(key));
    }
    if let [version, alg, private, ..] = fields.as_slice()
        && version.tag == 0x02
        && alg.tag == 0x30
        && private.tag == 0x04
    {
        return normalize_pkcs8(alg, private.content);
    }
    if let [version, private, rest @ ..] = fields.as_slice()
        && version.tag == 0x02
        && private.tag == 0x04
    {
        let curve = rest.iter().find(|t| t.tag == 0xa0).ok_or("unable to parse private key type")?;
        return ec_pkcs8(curve.content, key);
    }
    Err("unable to parse private key type".into())
}

fn rsa_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    der::seq(&[&der::uint(&[0]), &der::seq(&[OID_RSA, NULL]), &der::octets(pkcs1)])
}

fn normalize_pkcs8(alg: &Tlv<'_>, private: &[u8]) -> Result<Vec<u8>, String> {
    let alg_fields = der::parse(alg.content)?;
    let oid = alg_fields.first().map(der::raw).unwrap_or_default();
    if oid == OID_RSA {
        return Ok(rsa_pkcs8(private));
    }
    if oid == OID_ED25519 {
        return Ok(der::seq(&[&der::uint(&[0]), &der::seq(&[OID_ED25519]), &der::octets(private)]));
    }
    if oid == OID_EC {
        let curve = alg_fields.get(1).map(der::raw).ok_or("missing EC curve")?;
        return ec_pkcs8(&curve, private);
    }
    Err("unsupported private key algorithm".into())
}

/// `curve` is the encoded curve OID; `sec1` an ECPrivateKey.
fn ec_pkcs8(curve: &[u8], sec1: &[u8]) -> Result<Vec<u8>, String> {
    let size = CURVES.iter().find(|(_, oid, _)| *oid == curve).map(|c| c.2).ok_or("unsupported elliptic curve")?;
    let fields = der::sequence(sec1)?;
    let scalar = fields.get(1).filter(|t| t.tag == 0x04).ok_or("malformed EC private key")?.content;
    let inner = ec_private_key(scalar, fields.iter().find(|t| t.tag == 0xa1).map(|t| t.content), size, None);
    Ok(der::seq(&[&der::uint(&[0]), &der::seq(&[OID_EC, curve]), &der::octets(&inner)]))
}

/// Go's ECPrivateKey: version 1, scalar padded to the curve size, optional
/// curve OID, then the public key (`public` is the `[1]` content).
pub(crate) fn ec_private_key(scalar: &[u8], public: Option<&[u8]>, size: usize, curve: Option<&[u8]>) -> Vec<u8> {
    let trimmed: Vec<u8> = scalar.iter().copied().skip_while(|b| *b == 0).collect();
    let mut padded = vec![0u8; size.saturating_sub(trimmed.len())];
    padded.extend_from_slice(&trimmed);
    let mut parts = vec![der::uint(&[1]), der::octets(&padded)];
    if let Some(oid) = curve {
        parts.push(der::tlv(0xa0, oid));
    }
    if let Some(p) = public {
        parts.push(der::tlv(0xa1, p));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    der::seq(&refs)
}
