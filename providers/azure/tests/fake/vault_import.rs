//! Key Vault's key and certificate writes, from the REST reference: Import Key
//! (`PUT /keys/{name}`, a JsonWebKey with its private members; the vault answers the public half),
//! Import Certificate (`POST /certificates/{name}/import`: `value` is base64 of a PKCS#12 archive,
//! `pwd` its password, or, with `policy.secret_props.contentType: application/x-pem-file`, of a
//! PEM file holding the certificates and a PKCS#8 key — the only key form Key Vault takes), and
//! Delete Key / Delete Certificate (soft deletes; a deleted name is not reusable until purged).
//! A standard (non-HSM) vault refuses symmetric (`oct`) keys. Not modelled: the key and secret of
//! the same name Key Vault creates behind an imported certificate.
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use super::server::{Req, Resp, json};
use super::vault::{common_fields, error};
use super::vault_write::tags;
use super::{Fake, Object, State, now};

fn bad(message: &str) -> Resp {
    error(400, "BadParameter", message, None)
}

fn deleted_conflict(noun: &str, name: &str) -> Resp {
    let message = format!(
        "{noun} {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the {} can only be recovered or purged.",
        noun.to_lowercase()
    );
    error(409, "Conflict", &message, Some("ObjectIsDeletedButRecoverable"))
}

#[allow(clippy::result_large_err)]
fn body_object(req: &Req) -> Result<Map<String, Value>, Resp> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(body)) => Ok(body),
        _ => Err(bad("The request body is not a JSON object.")),
    }
}

fn member(jwk: &Value, name: &str) -> Option<Vec<u8>> {
    jwk.get(name).and_then(Value::as_str).and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
}

/// The public JWK the vault keeps and answers, after checking the imported private one.
fn public_jwk(jwk: &Value) -> Result<Value, String> {
    let kty = jwk["kty"].as_str().unwrap_or_default();
    let need = |names: &[&str]| match names.iter().find(|n| member(jwk, n).is_none_or(|v| v.is_empty())) {
        Some(missing) => Err(format!("The JSON Web Key is missing the {missing} parameter.")),
        None => Ok(()),
    };
    match kty {
        "RSA" | "RSA-HSM" => {
            need(&["n", "e", "d", "p", "q"])?;
            let bits = member(jwk, "n").unwrap_or_default().len() * 8;
            if ![2048, 3072, 4096].contains(&bits) {
                return Err(format!("RSA key size {bits} is not supported (2048, 3072 or 4096)."));
            }
            let ops = json!(["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]);
            Ok(json!({"kty": kty, "n": jwk["n"], "e": jwk["e"], "key_ops": ops}))
        }
        "EC" | "EC-HSM" => {
            need(&["x", "y", "d"])?;
            let size = match jwk["crv"].as_str().unwrap_or_default() {
                "P-256" | "P-256K" => 32,
                "P-384" => 48,
                "P-521" => 66,
                other => return Err(format!("Curve {other:?} is not supported.")),
            };
            if [member(jwk, "x"), member(jwk, "y"), member(jwk, "d")].iter().any(|m| m.as_ref().is_none_or(|m| m.len() != size)) {
                return Err("The EC key parameters do not match the curve.".into());
            }
            Ok(json!({"kty": kty, "crv": jwk["crv"], "x": jwk["x"], "y": jwk["y"], "key_ops": ["sign", "verify"]}))
        }
        "oct" | "oct-HSM" => Err("Symmetric keys (oct) can only be imported into a Managed HSM.".into()),
        other => Err(format!("Key type {other:?} is not supported.")),
    }
}

pub fn import_key(state: &mut State, req: &Req, name: &str) -> Resp {
    if state.deleted_keys.contains_key(name) {
        return deleted_conflict("Key", name);
    }
    let body = match body_object(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Some(jwk) = body.get("key").filter(|k| k.is_object()) else {
        return bad("Property key is required.");
    };
    let public = match public_jwk(jwk) {
        Ok(p) => p,
        Err(message) => return bad(&message),
    };
    let tags = match tags(&body) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let attributes = body.get("attributes").cloned().unwrap_or(Value::Null);
    let object = Object {
        enabled: attributes["enabled"].as_bool().unwrap_or(true),
        exp: attributes["exp"].as_i64(),
        nbf: attributes["nbf"].as_i64(),
        tags,
        version: Fake::next_version(state),
        created: now(),
        key: Some(public),
        ..Default::default()
    };
    let mut key = object.key.clone().unwrap_or_default();
    key["kid"] = json!(format!("https://{}/keys/{name}/{}", req.host, object.version));
    let mut out = Map::new();
    out.insert("key".into(), key);
    common_fields(&mut out, &object);
    state.keys.entry(name.to_string()).or_default().push(object);
    json(200, Value::Object(out))
}

/// The leaf certificate (DER) of what Import Certificate was given, or Key Vault's complaint.
fn leaf_of(body: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let value = body.get("value").and_then(Value::as_str).ok_or("Property value is required.")?;
    let pem = body.get("policy").and_then(|p| p["secret_props"]["contentType"].as_str()) == Some("application/x-pem-file");
    if pem {
        let unreadable =
            "The specified PEM X.509 certificate content is in an unexpected format. Please check if certificate is in valid PEM format.";
        // The SDKs send base64 of the PEM file; the CLI the PEM text itself. Both are taken.
        let text =
            if value.starts_with("-----BEGIN") { value.as_bytes().to_vec() } else { STANDARD.decode(value).map_err(|_| unreadable)? };
        let blocks = pem_blocks(&text).ok_or(unreadable)?;
        let leaf = blocks.iter().find(|(label, _)| label == "CERTIFICATE").ok_or(unreadable)?.1.clone();
        p12_keystore::Certificate::from_der(&leaf).map_err(|_| unreadable)?;
        let key = blocks.iter().find(|(label, _)| label.ends_with("PRIVATE KEY"));
        match key {
            Some((label, der)) if label == "PRIVATE KEY" && pkcs8_usable(der) => Ok(leaf),
            Some((label, _)) if label == "PRIVATE KEY" => Err(unreadable.into()),
            Some(_) => Err("Only PKCS#8 private keys are supported in PEM certificate imports.".into()),
            None => Err("Private key is not specified in the specified X.509 PEM certificate content. Please specify private key in the X.509 PEM certificate content.".into()),
        }
    } else {
        let unreadable =
            "The specified PKCS#12 X.509 certificate content can not be read. Please check if certificate is in valid PKCS#12 format.";
        let der = STANDARD.decode(value).map_err(|_| unreadable)?;
        let password = body.get("pwd").and_then(Value::as_str).unwrap_or_default();
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&der, password).map_err(|_| unreadable)?;
        if archive.keys.is_empty() {
            return Err("Private key is not specified in the specified X.509 PKCS#12 certificate content.".into());
        }
        Ok(archive.certs.first().ok_or(unreadable)?.cert.as_der().to_vec())
    }
}

fn pkcs8_usable(der: &[u8]) -> bool {
    use aws_lc_rs::signature::*;
    aws_lc_rs::rsa::KeyPair::from_pkcs8(der).is_ok()
        || [&ECDSA_P256_SHA256_ASN1_SIGNING, &ECDSA_P384_SHA384_ASN1_SIGNING, &ECDSA_P521_SHA512_ASN1_SIGNING]
            .iter()
            .any(|alg| EcdsaKeyPair::from_pkcs8(alg, der).is_ok())
}

/// A strict PEM reader: every BEGIN has its END and a clean base64 body.
fn pem_blocks(text: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut rest = text;
    let mut out = Vec::new();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label = after[..after.find("-----")?].to_string();
        let body = &after[label.len() + 5..];
        let end = format!("-----END {label}-----");
        let stop = body.find(&end)?;
        let b64: String = body[..stop].chars().filter(|c| !c.is_whitespace()).collect();
        out.push((label, STANDARD.decode(b64).ok()?));
        rest = &body[stop + end.len()..];
    }
    Some(out)
}

pub fn import_certificate(state: &mut State, req: &Req, name: &str) -> Resp {
    if state.deleted_certs.contains_key(name) {
        return deleted_conflict("Certificate", name);
    }
    let body = match body_object(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let leaf = match leaf_of(&body) {
        Ok(leaf) => leaf,
        Err(message) => return bad(&message),
    };
    let tags = match tags(&body) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let object = Object {
        value: STANDARD.encode(&leaf),
        enabled: true,
        tags,
        version: Fake::next_version(state),
        created: now(),
        ..Default::default()
    };
    let mut out = Map::new();
    out.insert("id".into(), json!(format!("https://{}/certificates/{name}/{}", req.host, object.version)));
    out.insert("cer".into(), json!(object.value));
    common_fields(&mut out, &object);
    state.certs.entry(name.to_string()).or_default().push(object);
    json(200, Value::Object(out))
}

/// Delete Key / Delete Certificate: the object moves to the deleted ones, recoverable.
pub fn delete(state: &mut State, host: &str, collection: &str, name: &str) -> Resp {
    let (live, deleted, noun, code, gone) = match collection {
        "keys" => (&mut state.keys, "deletedkeys", "key", "KeyNotFound", &mut state.deleted_keys),
        _ => (&mut state.certs, "deletedcertificates", "certificate", "CertificateNotFound", &mut state.deleted_certs),
    };
    let Some(versions) = live.remove(name) else {
        return error(404, code, &format!("A {noun} with (name/id) {name} was not found in this key vault."), None);
    };
    let latest = versions.last().cloned().unwrap_or_default();
    gone.insert(name.to_string(), versions);
    let at = now();
    let mut out = Map::new();
    out.insert("recoveryId".into(), json!(format!("https://{host}/{deleted}/{name}")));
    out.insert("deletedDate".into(), json!(at));
    out.insert("scheduledPurgeDate".into(), json!(at + 90 * 86_400));
    let id = format!("https://{host}/{collection}/{name}/{}", latest.version);
    if collection == "keys" {
        let mut key = latest.key.clone().unwrap_or_default();
        key["kid"] = json!(id);
        out.insert("key".into(), key);
    } else {
        out.insert("id".into(), json!(id));
        out.insert("cer".into(), json!(latest.value));
    }
    common_fields(&mut out, &latest);
    json(200, Value::Object(out))
}
