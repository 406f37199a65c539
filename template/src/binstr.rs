//! Lossless transport of arbitrary bytes through the engine's UTF-8 strings.
//!
//! Go strings are byte strings: a secret holding a binary PKCS#12 archive is a
//! valid template value, and `b64dec` may produce bytes that are not UTF-8.
//! The engine stores strings as UTF-8, so every byte that is not part of valid
//! UTF-8 is carried as one code point `U+10FF00 + byte` (the end of
//! Supplementary Private Use Area-B). Real occurrences of those 256 code
//! points are escaped the same way, byte by byte, so [`to_bytes`] ∘
//! [`from_bytes`] is the identity on every input.

const BASE: u32 = 0x10_FF00;

fn escape(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from_u32(BASE + u32::from(b)).unwrap_or('\u{FFFD}'));
    }
}

/// Bytes → engine string (valid UTF-8 passes through unchanged).
pub fn from_bytes(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !s.chars().any(is_escape)
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                push_valid(&mut out, s);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                push_valid(&mut out, std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len());
                escape(&mut out, &after[..bad]);
                rest = &after[bad..];
            }
        }
    }
    out
}

fn push_valid(out: &mut String, s: &str) {
    for c in s.chars() {
        if is_escape(c) {
            let mut buf = [0u8; 4];
            escape(out, c.encode_utf8(&mut buf).as_bytes());
        } else {
            out.push(c);
        }
    }
}

fn is_escape(c: char) -> bool {
    (BASE..=BASE + 0xFF).contains(&u32::from(c))
}

/// Engine string → bytes (inverse of [`from_bytes`]).
pub fn to_bytes(s: &str) -> Vec<u8> {
    if !s.chars().any(is_escape) {
        return s.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if is_escape(c) {
            out.push((u32::from(c) - BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// The raw byte an escape code point stands for.
pub fn raw_byte(c: char) -> Option<u8> {
    is_escape(c).then(|| (u32::from(c) - BASE) as u8)
}

/// Length in bytes as Go's `len` would count it.
pub fn byte_len(s: &str) -> usize {
    s.chars().map(|c| if is_escape(c) { 1 } else { c.len_utf8() }).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_text_is_unchanged() {
        assert_eq!(from_bytes("héllo ✓".as_bytes()), "héllo ✓");
        assert_eq!(to_bytes("héllo ✓"), "héllo ✓".as_bytes());
    }

    #[test]
    fn arbitrary_bytes_round_trip() {
        let all: Vec<u8> = (0..=255u8).chain([0xF4, 0x8F, 0xBC, 0x80]).collect();
        let s = from_bytes(&all);
        assert_eq!(to_bytes(&s), all);
        assert_eq!(byte_len(&s), all.len());
    }

    #[test]
    fn real_escape_code_points_round_trip() {
        let text = "a\u{10FF41}b";
        assert_eq!(to_bytes(&from_bytes(text.as_bytes())), text.as_bytes());
    }
}
