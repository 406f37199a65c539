//! sprig's encoding functions: base64, base32, hex and JSON.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gotmpl::Value;

use super::super::binstr;
use super::super::value::{FnResult, arg_str, string};
use super::json;
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("b64enc", 1, 1, |_, a| Ok(string(STANDARD.encode(binstr::to_bytes(arg_str(a, 0)?)))));
    r.add("b64dec", 1, 1, b64dec);
    r.add("b32enc", 1, 1, |_, a| Ok(string(base32_encode(&binstr::to_bytes(arg_str(a, 0)?)))));
    r.add("b32dec", 1, 1, |_, a| {
        Ok(string(match base32_decode(arg_str(a, 0)?) {
            Ok(bytes) => binstr::from_bytes(&bytes),
            Err(offset) => format!("illegal base32 data at input byte {offset}"),
        }))
    });
    r.add("hexdec", 1, 1, |_, a| {
        let bytes = hex::decode(binstr::to_bytes(arg_str(a, 0)?)).map_err(|_| "invalid hex string".to_string())?;
        Ok(string(binstr::from_bytes(&bytes)))
    });
    r.add("toJson", 1, 1, |_, a| Ok(string(json::encode(&a[0], true, false).unwrap_or_default())));
    r.add("mustToJson", 1, 1, |_, a| Ok(string(json::encode(&a[0], true, false)?)));
    r.add("toPrettyJson", 1, 1, |_, a| Ok(string(json::encode(&a[0], true, true).unwrap_or_default())));
    r.add("mustToPrettyJson", 1, 1, |_, a| Ok(string(json::encode(&a[0], true, true)?)));
    r.add("toRawJson", 1, 1, |_, a| Ok(string(json::encode(&a[0], false, false).unwrap_or_default())));
    r.add("mustToRawJson", 1, 1, |_, a| Ok(string(json::encode(&a[0], false, false)?)));
    r.add("fromJson", 1, 1, |_, a| Ok(json::decode(arg_str(a, 0)?).unwrap_or(Value::Nil)));
    r.add("mustFromJson", 1, 1, |_, a| json::decode(arg_str(a, 0)?));
}

/// Go's `base64.StdEncoding.DecodeString`; on error sprig returns the error
/// text as the result.
fn b64dec(_: &Ctx, a: &[Value]) -> FnResult {
    let input: Vec<u8> = binstr::to_bytes(arg_str(a, 0)?).into_iter().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    // Go reports the first byte outside the alphabet, else the start of an
    // incomplete final quantum.
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let go_offset =
        input.iter().position(|b| !alphabet(b)).or_else(|| (!input.len().is_multiple_of(4)).then_some(input.len() - input.len() % 4));
    Ok(string(match STANDARD.decode(&input) {
        Ok(bytes) => binstr::from_bytes(&bytes),
        Err(_) if go_offset.is_some() => {
            format!("illegal base64 data at input byte {}", go_offset.unwrap_or(0))
        }
        Err(e) => {
            let at = match e {
                base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => i,
                base64::DecodeError::InvalidLength(n) => n - n % 4,
                base64::DecodeError::InvalidPadding => input.len().saturating_sub(1),
            };
            format!("illegal base64 data at input byte {at}")
        }
    }))
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let chars = [2, 4, 5, 7, 8][chunk.len() - 1];
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(s: &str) -> Result<Vec<u8>, usize> {
    let input: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    if !input.len().is_multiple_of(8) {
        return Err(input.len() - input.len() % 8);
    }
    let mut out = Vec::new();
    for (ci, chunk) in input.chunks(8).enumerate() {
        let data_len = chunk.iter().position(|&b| b == b'=').unwrap_or(8);
        if chunk[data_len..].iter().any(|&b| b != b'=') || (data_len < 8 && ci != input.len() / 8 - 1) {
            return Err(ci * 8 + data_len);
        }
        let mut bits = 0u64;
        for (i, &c) in chunk.iter().enumerate() {
            let v = if i < data_len { B32.iter().position(|&x| x == c).ok_or(ci * 8 + i)? as u64 } else { 0 };
            bits = (bits << 5) | v;
        }
        let bytes = match data_len {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => return Err(ci * 8 + data_len),
        };
        out.extend_from_slice(&bits.to_be_bytes()[3..3 + bytes]);
    }
    Ok(out)
}
