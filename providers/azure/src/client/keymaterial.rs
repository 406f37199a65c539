//! What a push to `key/NAME` imports, read from the pushed bytes as ESO 2.9 reads them: the first
//! PEM block is a private key (`PRIVATE KEY` = PKCS#8, `RSA PRIVATE KEY` = PKCS#1, `EC PRIVATE
//! KEY` = SEC1) turned into the JWK Key Vault's Import Key takes; bytes without a PEM block are a
//! symmetric (`oct`) key. Errors name the object and the format, never a byte of the key.
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256K1_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair,
};
use azure_security_keyvault_keys::models::{CurveName, JsonWebKey, KeyType};
use pkcs8::der::Decode;
use sesame_provider_core::ProviderError;

/// A curve aws-lc-rs reads and the JWK name Key Vault gives it.
type Curve = (&'static EcdsaSigningAlgorithm, fn() -> CurveName);

/// The curves Key Vault imports.
const CURVES: [Curve; 4] = [
    (&ECDSA_P256_SHA256_ASN1_SIGNING, || CurveName::P256),
    (&ECDSA_P384_SHA384_ASN1_SIGNING, || CurveName::P384),
    (&ECDSA_P521_SHA512_ASN1_SIGNING, || CurveName::P521),
    (&ECDSA_P256K1_SHA256_ASN1_SIGNING, || CurveName::P256K),
];

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";

/// One PEM block: its label and DER.
pub(crate) type PemBlock = (String, Vec<u8>);

/// The PEM blocks of `value`, in order (text around them is ignored, as Go's `pem.Decode`
/// does). An error when a block is there but broken: no END line, headers, bad base64.
pub(crate) fn pem_blocks(value: &[u8]) -> Result<Vec<PemBlock>, String> {
    use base64::Engine;
    let text = String::from_utf8_lossy(value);
    let mut rest = text.as_ref();
    let mut blocks = Vec::new();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after.find("-----").ok_or("a PEM block without its header end")?;
        let label = after[..label_end].to_string();
        // A label is echoed in errors: only a short one of PEM's own alphabet, never free text.
        if label.len() > 40 || !label.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'#') {
            return Err("a malformed PEM header".into());
        }
        let body = &after[label_end + 5..];
        let end = format!("-----END {label}-----");
        let body_end = body.find(&end).ok_or_else(|| format!("a PEM {label} block without its END line"))?;
        let b64: String = body[..body_end].chars().filter(|c| !c.is_whitespace()).collect();
        if b64.contains(':') {
            return Err(format!("the PEM {label} block has headers (an encrypted legacy PEM key): not supported"));
        }
        let der =
            base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| format!("the PEM {label} block is not valid base64"))?;
        blocks.push((label, der));
        rest = &body[body_end + end.len()..];
    }
    Ok(blocks)
}

/// The JWK to import for the pushed bytes of `key/NAME`.
pub(crate) fn jwk(value: &[u8], name: &str) -> Result<JsonWebKey, ProviderError> {
    let invalid = |why: String| ProviderError::Invalid(format!("key {name}: could not load the private key: {why}"));
    let Some((label, der)) = pem_blocks(value).map_err(invalid)?.into_iter().next() else {
        // As ESO: bytes that are not PEM are a symmetric key (Key Vault imports those into a
        // Managed HSM only; a standard vault refuses them).
        if value.is_empty() {
            return Err(invalid("the value is empty".into()));
        }
        return Ok(JsonWebKey { kty: Some(KeyType::Oct), k: Some(value.to_vec()), ..Default::default() });
    };
    match label.as_str() {
        "RSA PRIVATE KEY" => rsa_jwk(&der).map_err(invalid),
        "EC PRIVATE KEY" => ec_jwk(&der).map_err(invalid),
        "PRIVATE KEY" => {
            let info = pkcs8::PrivateKeyInfoRef::from_der(&der).map_err(|_| invalid("malformed PKCS#8 PRIVATE KEY".into()))?;
            match info.algorithm.oid.to_string().as_str() {
                OID_RSA => rsa_jwk(info.private_key.as_bytes()).map_err(invalid),
                OID_EC => ec_jwk(&der).map_err(invalid),
                oid => Err(invalid(format!("PKCS#8 key algorithm {oid} cannot be imported into Key Vault (RSA or EC only)"))),
            }
        }
        other => Err(invalid(format!("key type {other:?} is not supported (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"))),
    }
}

/// PKCS#1 → RSA JWK with every private member, as ESO's JWK library writes it.
fn rsa_jwk(pkcs1_der: &[u8]) -> Result<JsonWebKey, String> {
    let k = pkcs1::RsaPrivateKeyRef::from_der(pkcs1_der).map_err(|_| "malformed RSA private key".to_string())?;
    if k.other_prime_infos.is_some() {
        return Err("multi-prime RSA keys cannot be imported into Key Vault".into());
    }
    let b = |u: pkcs1::UintRef<'_>| Some(u.as_bytes().to_vec());
    Ok(JsonWebKey {
        kty: Some(KeyType::Rsa),
        n: b(k.modulus),
        e: b(k.public_exponent),
        d: b(k.private_exponent),
        p: b(k.prime1),
        q: b(k.prime2),
        dp: b(k.exponent1),
        dq: b(k.exponent2),
        qi: b(k.coefficient),
        ..Default::default()
    })
}

/// SEC1 or PKCS#8 EC key → EC JWK (`crv`, `x`, `y`, `d`, coordinates at the curve's full size).
fn ec_jwk(der: &[u8]) -> Result<JsonWebKey, String> {
    let (pair, crv) = ec_pair(der)?;
    let point = pair.public_key().as_ref();
    let size = (point.len() - 1) / 2;
    let d = pair.private_key().as_be_bytes().map_err(|_| "unusable EC private key".to_string())?;
    Ok(JsonWebKey {
        kty: Some(KeyType::Ec),
        crv: Some(crv),
        x: Some(point[1..=size].to_vec()),
        y: Some(point[1 + size..].to_vec()),
        d: Some(d.as_ref().to_vec()),
        ..Default::default()
    })
}

/// The key pair of a SEC1 or PKCS#8 EC key, on whichever Key Vault curve it names.
pub(crate) fn ec_pair(der: &[u8]) -> Result<(EcdsaKeyPair, CurveName), String> {
    CURVES
        .iter()
        .find_map(|(alg, crv)| EcdsaKeyPair::from_private_key_der(alg, der).ok().map(|p| (p, crv())))
        .ok_or_else(|| "malformed EC private key, or a curve Key Vault does not import (P-256, P-384, P-521, P-256K)".to_string())
}

/// ESO's "same key": same type and the same public half (the vault never returns private members).
pub(crate) fn same_public_key(new: &JsonWebKey, old: &JsonWebKey) -> bool {
    let some_eq = |a: &Option<Vec<u8>>, b: &Option<Vec<u8>>| a.is_some() && a == b;
    let rsa = some_eq(&new.n, &old.n) && some_eq(&new.e, &old.e);
    let ec = new.crv.is_some() && new.crv == old.crv && some_eq(&new.x, &old.x) && some_eq(&new.y, &old.y);
    new.kty.is_some() && new.kty == old.kty && (rsa || ec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, der: &[u8]) -> Vec<u8> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n").into_bytes()
    }

    #[test]
    fn an_ec_key_in_pkcs8_and_sec1_gives_the_same_jwk() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
        let from_pkcs8 = jwk(&pem("PRIVATE KEY", pkcs8.as_ref()), "k").unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let sec1 = aws_lc_rs::encoding::AsDer::as_der(&pair.private_key()).unwrap();
        let from_sec1 = jwk(&pem("EC PRIVATE KEY", sec1.as_ref()), "k").unwrap();
        assert_eq!(from_pkcs8.crv, Some(CurveName::P384));
        assert_eq!((from_pkcs8.x.as_ref().unwrap().len(), from_pkcs8.d.as_ref().unwrap().len()), (48, 48));
        assert_eq!((&from_pkcs8.x, &from_pkcs8.y, &from_pkcs8.d), (&from_sec1.x, &from_sec1.y, &from_sec1.d));
        assert!(same_public_key(&from_pkcs8, &from_sec1));
    }

    #[test]
    fn bytes_without_pem_are_a_symmetric_key_as_eso() {
        let k = jwk(b"0123456789abcdef", "k").unwrap();
        assert_eq!((k.kty, k.k.as_deref()), (Some(KeyType::Oct), Some(&b"0123456789abcdef"[..])));
    }

    #[test]
    fn bad_keys_are_named_errors_that_show_no_key_bytes() {
        let secretish = "c2VjcmV0LWJ5dGVz";
        for (value, why) in [
            (format!("-----BEGIN PRIVATE KEY-----\n{secretish}\n-----END PRIVATE KEY-----\n"), "malformed PKCS#8"),
            (format!("-----BEGIN RSA PRIVATE KEY-----\n{secretish}\n-----END RSA PRIVATE KEY-----\n"), "malformed RSA"),
            (format!("-----BEGIN EC PRIVATE KEY-----\n{secretish}\n-----END EC PRIVATE KEY-----\n"), "malformed EC"),
            (format!("-----BEGIN CERTIFICATE-----\n{secretish}\n-----END CERTIFICATE-----\n"), "not supported"),
            (format!("-----BEGIN PRIVATE KEY-----\n{secretish}\n"), "without its END"),
            ("-----BEGIN PRIVATE KEY-----\n%%%\n-----END PRIVATE KEY-----\n".to_string(), "not valid base64"),
            (format!("-----BEGIN {secretish}-----\nAAAA\n-----END {secretish}-----\n"), "malformed PEM header"),
            (String::new(), "empty"),
        ] {
            let e = jwk(value.as_bytes(), "signing").unwrap_err().to_string();
            assert!(e.contains("key signing: could not load the private key") && e.contains(why), "{e}");
            assert!(!e.contains(secretish), "{e}");
        }
    }

    #[test]
    fn same_key_compares_type_and_public_half_only() {
        let a = JsonWebKey { kty: Some(KeyType::Rsa), n: Some(vec![1]), e: Some(vec![3]), d: Some(vec![9]), ..Default::default() };
        let public = JsonWebKey { d: None, kid: Some("https://v/keys/a/1".into()), ..a.clone() };
        assert!(same_public_key(&a, &public));
        assert!(!same_public_key(&a, &JsonWebKey { n: Some(vec![2]), ..a.clone() }));
        assert!(!same_public_key(&a, &JsonWebKey { kty: Some(KeyType::RsaHsm), ..a.clone() }));
        assert!(!same_public_key(&JsonWebKey::default(), &JsonWebKey::default()));
    }
}
