//! sprig's hashing, password, randomness and AES functions.

use aes::Aes256;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gotmpl::Value;
use rand::RngExt;
use sha1::{Digest as _, Sha1};
use sha2::{Digest as _, Sha256, Sha512};

use super::super::binstr;
use super::super::value::{FnResult, arg_int, arg_str, string};
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("sha1sum", 1, 1, |_, a| Ok(string(hex::encode(Sha1::digest(bytes(a, 0)?)))));
    r.add("sha256sum", 1, 1, |_, a| Ok(string(hex::encode(Sha256::digest(bytes(a, 0)?)))));
    r.add("sha512sum", 1, 1, |_, a| Ok(string(hex::encode(Sha512::digest(bytes(a, 0)?)))));
    r.add("adler32sum", 1, 1, |_, a| Ok(string(adler32(&bytes(a, 0)?).to_string())));
    r.add("bcrypt", 1, 1, |_, a| Ok(string(bcrypt_hash(&bytes(a, 0)?))));
    r.add("htpasswd", 3, 3, htpasswd);
    r.add("randAlphaNum", 1, 1, |c, a| random_from(c, a, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"));
    r.add("randAlpha", 1, 1, |c, a| random_from(c, a, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"));
    r.add("randNumeric", 1, 1, |c, a| random_from(c, a, b"0123456789"));
    r.add("randAscii", 1, 1, |c, a| {
        let printable: Vec<u8> = (32u8..127).collect();
        random_from(c, a, &printable)
    });
    r.add("randBytes", 1, 1, |c, a| {
        let n = count(c, a)?;
        let mut buf = vec![0u8; n];
        rand::rng().fill(&mut buf[..]);
        Ok(string(STANDARD.encode(buf)))
    });
    r.add("uuidv4", 0, 0, |_, _| Ok(string(uuid_v4())));
    r.add("shuffle", 1, 1, |_, a| {
        let mut chars: Vec<char> = arg_str(a, 0)?.chars().collect();
        let mut rng = rand::rng();
        for i in (1..chars.len()).rev() {
            chars.swap(i, rng.random_range(0..=i));
        }
        Ok(string(chars.into_iter().collect::<String>()))
    });
    r.add("encryptAES", 2, 2, encrypt_aes);
    r.add("decryptAES", 2, 2, decrypt_aes);
}

fn bytes(a: &[Value], i: usize) -> Result<Vec<u8>, String> {
    Ok(binstr::to_bytes(arg_str(a, i)?))
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Go's `bcrypt.GenerateFromPassword(p, 10)`: a `$2a$10$` hash.
fn bcrypt_hash(password: &[u8]) -> String {
    match bcrypt::hash_with_result(password, 10) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(_) => "failed to encrypt string with bcrypt".into(),
    }
}

/// ESO's `htpasswd user password algorithm` (`sha` or bcrypt).
fn htpasswd(_: &Ctx, a: &[Value]) -> FnResult {
    let (user, password, algorithm) = (arg_str(a, 0)?, bytes(a, 1)?, arg_str(a, 2)?);
    if user.contains(':') {
        return Ok(string(format!("invalid username: {user}")));
    }
    Ok(string(match algorithm {
        "sha" => format!("{user}:{{SHA}}{}", STANDARD.encode(Sha1::digest(&password))),
        _ => format!("{user}:{}", bcrypt_hash(&password)),
    }))
}

fn count(ctx: &Ctx, a: &[Value]) -> Result<usize, String> {
    let n = arg_int(a, 0)?;
    if n < 0 {
        return Err("count must be non-negative".into());
    }
    ctx.ensure(n as u128)?;
    Ok(n as usize)
}

/// Cryptographically random characters from `alphabet`.
fn random_from(ctx: &Ctx, a: &[Value], alphabet: &[u8]) -> FnResult {
    let n = count(ctx, a)?;
    let mut rng = rand::rng();
    let s: String = (0..n).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect();
    Ok(string(s))
}

fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// sprig's AES-256-CBC key: the password's bytes, zero-padded or cut to 32.
fn aes_key(password: &str) -> Result<Aes256, String> {
    let mut key = [0u8; 32];
    let pw = binstr::to_bytes(password);
    let n = pw.len().min(32);
    key[..n].copy_from_slice(&pw[..n]);
    Aes256::new_from_slice(&key).map_err(|_| "invalid AES key".to_string())
}

/// `encryptAES password plaintext`: base64(IV ‖ AES-256-CBC(PKCS#7 padded)).
fn encrypt_aes(_: &Ctx, a: &[Value]) -> FnResult {
    let (cipher, mut content) = (aes_key(arg_str(a, 0)?)?, bytes(a, 1)?);
    if content.is_empty() {
        return Ok(string(""));
    }
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut iv = [0u8; 16];
    rand::rng().fill(&mut iv);
    let mut out = iv.to_vec();
    let mut prev = iv;
    for chunk in content.chunks(16) {
        let mut block = aes::Block::default();
        for (i, b) in block.iter_mut().enumerate() {
            *b = chunk[i] ^ prev[i];
        }
        cipher.encrypt_block(&mut block);
        prev.copy_from_slice(&block);
        out.extend_from_slice(&block);
    }
    Ok(string(STANDARD.encode(out)))
}

/// `decryptAES password ciphertext`, the inverse of `encryptAES`.
fn decrypt_aes(_: &Ctx, a: &[Value]) -> FnResult {
    let cipher = aes_key(arg_str(a, 0)?)?;
    let data = STANDARD.decode(bytes(a, 1)?).map_err(|_| "illegal base64 data".to_string())?;
    if data.len() < 16 || data.len() % 16 != 0 {
        return Err("ciphertext too short or not a multiple of the block size".into());
    }
    let mut prev = [0u8; 16];
    prev.copy_from_slice(&data[..16]);
    let mut out = Vec::with_capacity(data.len() - 16);
    for chunk in data[16..].chunks(16) {
        let mut block = aes::Block::default();
        block.copy_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        out.extend(block.iter().zip(prev.iter()).map(|(b, p)| b ^ p));
        prev.copy_from_slice(chunk);
    }
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad > out.len() {
        return Err("invalid padding".into());
    }
    out.truncate(out.len() - pad);
    Ok(string(binstr::from_bytes(&out)))
}
