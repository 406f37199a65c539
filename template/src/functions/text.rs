//! Word-level string helpers behind sprig's `title`, `untitle`, `initials`,
//! `swapcase`, `snakecase`/`kebabcase`/`camelcase`, `wrap`/`wrapWith` and
//! `abbrev`/`abbrevboth` (Go `strings.Title`, goutils and xstrings rules).

use super::super::binstr;
use super::Ctx;

/// Go's `strings.Title` separator rule.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

pub(super) fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) { c.to_uppercase().collect::<String>() } else { c.to_string() };
            prev = c;
            out
        })
        .collect()
}

pub(super) fn untitle(s: &str) -> String {
    let mut at_start = true;
    s.chars()
        .map(|c| {
            let out = if at_start && !c.is_whitespace() { c.to_lowercase().collect() } else { c.to_string() };
            at_start = c.is_whitespace();
            out
        })
        .collect()
}

pub(super) fn initials(s: &str) -> String {
    let mut gap = true;
    let mut out = String::new();
    for c in s.chars() {
        if c.is_whitespace() {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

pub(super) fn swapcase(s: &str) -> String {
    s.chars()
        .flat_map(|c| -> Vec<char> {
            if c.is_uppercase() {
                c.to_lowercase().collect()
            } else if c.is_lowercase() {
                c.to_uppercase().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Splits identifiers into words: at separators, lower→upper changes and
/// the end of an acronym (`HTTPServer` → `HTTP`, `Server`).
fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = c.is_uppercase() && (prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower));
            if boundary && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

pub(super) fn snake(s: &str, sep: char) -> String {
    words(s).iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join(&sep.to_string())
}

pub(super) fn pascal(s: &str) -> String {
    s.split(|c: char| c == '_' || c == '-' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next().map(|f| f.to_uppercase().chain(cs).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

/// goutils `WrapCustom` (byte offsets, spaces as break points). The size of
/// the result is counted before it is built (`wrapWith 1 (repeat …)` would
/// otherwise multiply its input).
pub(super) fn wrap(ctx: &Ctx, s: &str, width: i64, newline: &str, long_words: bool) -> Result<String, String> {
    let b = binstr::to_bytes(s);
    if b.is_empty() {
        return Ok(String::new());
    }
    let nl = if newline.is_empty() { b"\n".to_vec() } else { binstr::to_bytes(newline) };
    let w = width.max(1) as usize;
    let mut size = 0u128;
    wrap_pieces(&b, w, long_words, |piece, brk| size += piece.len() as u128 + if brk { nl.len() as u128 } else { 0 });
    ctx.ensure(size)?;
    let mut out = Vec::with_capacity(size as usize);
    wrap_pieces(&b, w, long_words, |piece, brk| {
        out.extend_from_slice(piece);
        if brk {
            out.extend_from_slice(&nl);
        }
    });
    Ok(binstr::from_bytes(&out))
}

/// Walks the wrapped text: each piece of `b` in order, and whether a line break follows it.
fn wrap_pieces<'b>(b: &'b [u8], w: usize, long_words: bool, mut emit: impl FnMut(&'b [u8], bool)) {
    let (len, mut off) = (b.len(), 0usize);
    while len - off > w {
        if b[off] == b' ' {
            off += 1;
            continue;
        }
        let end = (w + off + 1).min(len);
        match b[off..end].iter().rposition(|&c| c == b' ') {
            Some(p) => {
                emit(&b[off..off + p], true);
                off += p + 1;
            }
            None if long_words => {
                emit(&b[off..off + w], true);
                off += w;
            }
            None => match b[off + w..].iter().position(|&c| c == b' ') {
                None => {
                    emit(&b[off..], false);
                    off = len;
                }
                Some(p) => {
                    emit(&b[off..off + w + p], true);
                    off += w + p + 1;
                }
            },
        }
    }
    emit(&b[off..], false);
}

/// sprig `abbrev`: `s` cut to `width` bytes ending in "...".
pub(super) fn abbrev(s: &str, width: i64) -> String {
    let b = binstr::to_bytes(s);
    if width < 4 || b.len() <= width as usize {
        return s.to_owned();
    }
    let mut out = b[..width as usize - 3].to_vec();
    out.extend_from_slice(b"...");
    binstr::from_bytes(&out)
}

/// sprig `abbrevboth` (goutils `AbbreviateFull`).
pub(super) fn abbrevboth(s: &str, left: i64, right: i64) -> String {
    let b = binstr::to_bytes(s);
    if right < 4 || (left > 0 && right < 7) || b.len() <= right as usize {
        return s.to_owned();
    }
    let (len, w) = (b.len() as i64, right);
    let mut off = left.clamp(0, len);
    if len - off < w - 3 {
        off = len - (w - 3);
    }
    if off <= 4 {
        return abbrev(s, w);
    }
    let mut out = b"...".to_vec();
    if off + w - 3 < len {
        let rest = binstr::from_bytes(&b[off as usize..]);
        out.extend_from_slice(&binstr::to_bytes(&abbrev(&rest, w - 3)));
    } else {
        out.extend_from_slice(&b[(len - (w - 3)) as usize..]);
    }
    binstr::from_bytes(&out)
}
