//! sprig's string functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;

use super::super::binstr;
use super::super::value::{FnResult, ITEM, arg_int, arg_str, map, string, strings, strval};
use super::text;
use super::{ANY, Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("hello", 0, 0, |_, _| Ok(string("Hello!")));
    r.add("trim", 1, 1, |_, a| Ok(string(arg_str(a, 0)?.trim_matches(is_go_space))));
    r.add("upper", 1, 1, |_, a| Ok(string(arg_str(a, 0)?.to_uppercase())));
    r.add("lower", 1, 1, |_, a| Ok(string(arg_str(a, 0)?.to_lowercase())));
    r.add("title", 1, 1, |_, a| Ok(string(text::title(arg_str(a, 0)?))));
    r.add("untitle", 1, 1, |_, a| Ok(string(text::untitle(arg_str(a, 0)?))));
    r.add("substr", 3, 3, substr);
    r.add("repeat", 2, 2, repeat);
    r.add("trimall", 2, 2, trim_all);
    r.add("trimAll", 2, 2, trim_all);
    r.add("trimSuffix", 2, 2, |_, a| {
        let (suffix, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(string(s.strip_suffix(suffix).unwrap_or(s)))
    });
    r.add("trimPrefix", 2, 2, |_, a| {
        let (prefix, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(string(s.strip_prefix(prefix).unwrap_or(s)))
    });
    r.add("nospace", 1, 1, |_, a| Ok(string(arg_str(a, 0)?.chars().filter(|c| !c.is_whitespace()).collect::<String>())));
    r.add("initials", 1, 1, |_, a| Ok(string(text::initials(arg_str(a, 0)?))));
    r.add("swapcase", 1, 1, |_, a| Ok(string(text::swapcase(arg_str(a, 0)?))));
    r.add("snakecase", 1, 1, |_, a| Ok(string(text::snake(arg_str(a, 0)?, '_'))));
    r.add("kebabcase", 1, 1, |_, a| Ok(string(text::snake(arg_str(a, 0)?, '-'))));
    r.add("camelcase", 1, 1, |_, a| Ok(string(text::pascal(arg_str(a, 0)?))));
    r.add("wrap", 2, 2, |c, a| Ok(string(text::wrap(c, arg_str(a, 1)?, arg_int(a, 0)?, "\n", false)?)));
    r.add("wrapWith", 3, 3, |c, a| Ok(string(text::wrap(c, arg_str(a, 2)?, arg_int(a, 0)?, arg_str(a, 1)?, true)?)));
    r.add("contains", 2, 2, |_, a| Ok(Value::Bool(arg_str(a, 1)?.contains(arg_str(a, 0)?))));
    r.add("hasPrefix", 2, 2, |_, a| Ok(Value::Bool(arg_str(a, 1)?.starts_with(arg_str(a, 0)?))));
    r.add("hasSuffix", 2, 2, |_, a| Ok(Value::Bool(arg_str(a, 1)?.ends_with(arg_str(a, 0)?))));
    r.add("quote", 0, ANY, |_, a| Ok(string(join_non_nil(a, |s| go_quote(&s)))));
    r.add("squote", 0, ANY, |_, a| Ok(string(join_non_nil(a, |s| format!("'{s}'")))));
    r.add("cat", 0, ANY, |_, a| Ok(string(join_non_nil(a, |s| s))));
    r.add("indent", 2, 2, |c, a| Ok(string(indent(c, arg_int(a, 0)?, arg_str(a, 1)?)?)));
    r.add("nindent", 2, 2, |c, a| Ok(string(format!("\n{}", indent(c, arg_int(a, 0)?, arg_str(a, 1)?)?))));
    r.add("replace", 3, 3, replace);
    r.add("plural", 3, 3, |_, a| {
        let pick = if arg_int(a, 2)? == 1 { 0 } else { 1 };
        Ok(string(arg_str(a, pick)?))
    });
    r.add("abbrev", 2, 2, |_, a| Ok(string(text::abbrev(arg_str(a, 1)?, arg_int(a, 0)?))));
    r.add("abbrevboth", 3, 3, |_, a| Ok(string(text::abbrevboth(arg_str(a, 2)?, arg_int(a, 0)?, arg_int(a, 1)?))));
    r.add("trunc", 2, 2, trunc);
    r.add("toString", 1, 1, |_, a| Ok(string(strval(&a[0]))));
    r.add("split", 2, 2, |c, a| Ok(indexed(split_checked(c, arg_str(a, 1)?, arg_str(a, 0)?, -1)?)));
    r.add("splitList", 2, 2, |c, a| Ok(strings(split_checked(c, arg_str(a, 1)?, arg_str(a, 0)?, -1)?)));
    r.add("splitn", 3, 3, |c, a| Ok(indexed(split_checked(c, arg_str(a, 2)?, arg_str(a, 0)?, arg_int(a, 1)?)?)));
    r.add("toStrings", 1, 1, |_, a| Ok(strings(strslice(&a[0]))));
    r.add("join", 2, 2, join);
    r.add("sortAlpha", 1, 1, |_, a| {
        let mut items = strslice(&a[0]);
        items.sort();
        Ok(strings(items))
    });
}

/// Go's `unicode.IsSpace`, which `strings.TrimSpace` uses.
fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

fn join_non_nil(args: &[Value], f: impl Fn(String) -> String) -> String {
    let parts: Vec<String> = args.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| f(strval(v))).collect();
    parts.join(" ")
}

/// Go's `%q` / `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if binstr::raw_byte(c).is_some() => {
                out.push_str(&format!("\\x{:02x}", binstr::raw_byte(c).unwrap_or(0)));
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if !go_printable(c) => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint` (approximated: no unassigned-code-point table):
/// letters, marks, numbers, punctuation, symbols and the ASCII space.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let cp = c as u32;
    let format = matches!(cp, 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB);
    let private = matches!(cp, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF);
    !(format || private)
}

fn substr(_: &Ctx, a: &[Value]) -> FnResult {
    let (start, end, s) = (arg_int(a, 0)?, arg_int(a, 1)?, binstr::to_bytes(arg_str(a, 2)?));
    let len = s.len() as i64;
    let (from, to) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    if from < 0 || to < from || to > len {
        return Err(format!("slice bounds out of range [{from}:{to}]"));
    }
    Ok(string(binstr::from_bytes(&s[from as usize..to as usize])))
}

fn repeat(ctx: &Ctx, a: &[Value]) -> FnResult {
    let (count, s) = (arg_int(a, 0)?, arg_str(a, 1)?);
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    ctx.ensure((count as u128) * (s.len() as u128))?;
    Ok(string(s.repeat(count as usize)))
}

fn trim_all(_: &Ctx, a: &[Value]) -> FnResult {
    let (cutset, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
    Ok(string(s.trim_matches(|c| cutset.contains(c))))
}

/// `replace OLD NEW S`; an empty OLD matches before every character and at the end, as in Go.
fn replace(ctx: &Ctx, a: &[Value]) -> FnResult {
    let (old, new, s) = (arg_str(a, 0)?, arg_str(a, 1)?, arg_str(a, 2)?);
    let matches = if old.is_empty() { s.chars().count() + 1 } else { s.matches(old).count() };
    ctx.ensure(s.len() as u128 + matches as u128 * new.len() as u128)?;
    Ok(string(s.replace(old, new)))
}

fn indent(ctx: &Ctx, n: i64, s: &str) -> Result<String, String> {
    let width = n.clamp(0, 10_000) as usize;
    let lines = s.matches('\n').count() + 1;
    ctx.ensure(s.len() as u128 + 1 + lines as u128 * width as u128)?;
    let pad = " ".repeat(width);
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

fn join(ctx: &Ctx, a: &[Value]) -> FnResult {
    let (sep, items) = (arg_str(a, 0)?, strslice(&a[1]));
    let text: u128 = items.iter().map(|i| i.len() as u128).sum();
    ctx.ensure(text + items.len().saturating_sub(1) as u128 * sep.len() as u128)?;
    Ok(string(items.join(sep)))
}

/// [`go_split`] after checking the size of the list it makes.
fn split_checked(ctx: &Ctx, s: &str, sep: &str, n: i64) -> Result<Vec<String>, String> {
    let parts = if sep.is_empty() { s.chars().count() } else { s.matches(sep).count() + 1 };
    let parts = if n > 0 { parts.min(n as usize) } else { parts };
    ctx.ensure(s.len() as u128 + parts as u128 * (ITEM as u128 + 8))?;
    Ok(go_split(s, sep, n))
}

fn trunc(_: &Ctx, a: &[Value]) -> FnResult {
    let (c, s) = (arg_int(a, 0)?, binstr::to_bytes(arg_str(a, 1)?));
    let len = s.len() as i64;
    let out = if c < 0 && len + c > 0 {
        &s[(len + c) as usize..]
    } else if c >= 0 && len > c {
        &s[..c as usize]
    } else {
        &s[..]
    };
    Ok(string(binstr::from_bytes(out)))
}

/// Go's `strings.SplitN` (`n < 0`: all parts).
pub(crate) fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && chars.len() > n as usize {
            let head: Vec<String> = chars[..n as usize - 1].to_vec();
            let tail: String = chars[n as usize - 1..].concat();
            return head.into_iter().chain([tail]).collect();
        }
        return chars;
    }
    if n < 0 { s.split(sep).map(String::from).collect() } else { s.splitn(n as usize, sep).map(String::from).collect() }
}

/// sprig's `split`: a map `_0`, `_1`, … of the parts.
fn indexed(parts: Vec<String>) -> Value {
    let m: BTreeMap<Arc<str>, Value> = parts.into_iter().enumerate().map(|(i, p)| (Arc::from(format!("_{i}")), string(p))).collect();
    map(m)
}

/// sprig's `strslice`: a list's non-nil items as strings, or the value itself.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items.iter().filter(|i| !matches!(i, Value::Nil)).map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}
