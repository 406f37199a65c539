//! Just enough DER to re-encode keys the way Go's `crypto/x509` marshals
//! them (PKCS#8, PKIX public keys, SEC1 EC keys).

/// One TLV: tag byte and content.
#[derive(Debug, Clone)]
pub(super) struct Tlv<'a> {
    pub(super) tag: u8,
    pub(super) content: &'a [u8],
}

/// Splits `data` into its top-level TLVs.
pub(super) fn parse(data: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let bad = || "malformed DER".to_string();
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let tag = rest[0];
        let first = *rest.get(1).ok_or_else(bad)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < 2 + n {
                return Err(bad());
            }
            (rest[2..2 + n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
        };
        let end = header.checked_add(len).filter(|e| *e <= rest.len()).ok_or_else(bad)?;
        out.push(Tlv { tag, content: &rest[header..end] });
        rest = &rest[end..];
    }
    Ok(out)
}

/// The contents of a single SEQUENCE.
pub(super) fn sequence(data: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    match parse(data)?.as_slice() {
        [Tlv { tag: 0x30, content }] => parse(content),
        _ => Err("expected a DER SEQUENCE".into()),
    }
}

pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

pub(super) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub(super) fn uint(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = if trimmed.is_empty() { vec![0] } else { trimmed };
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

pub(super) fn octets(content: &[u8]) -> Vec<u8> {
    tlv(0x04, content)
}

pub(super) fn bits(content: &[u8]) -> Vec<u8> {
    let mut c = vec![0u8];
    c.extend_from_slice(content);
    tlv(0x03, &c)
}

pub(super) const NULL: &[u8] = &[0x05, 0x00];
/// OID 1.2.840.113549.1.1.1 (rsaEncryption), encoded.
pub(super) const OID_RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// OID 1.2.840.10045.2.1 (id-ecPublicKey), encoded.
pub(super) const OID_EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// OID 1.3.101.112 (Ed25519), encoded.
pub(super) const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// Named curves: (JWK name, encoded OID, private scalar size).
pub(super) const CURVES: &[(&str, &[u8], usize)] = &[
    ("P-256", &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], 32),
    ("P-384", &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], 48),
    ("P-521", &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], 66),
];

/// Re-encodes a TLV.
pub(super) fn raw(t: &Tlv<'_>) -> Vec<u8> {
    tlv(t.tag, t.content)
}
