//! `dataFrom.extract` as ESO's bitwarden provider renders it (`GetSecretMap`): the value is read
//! as YAML first (so a JSON object too); a text member is kept as is, a mapping is written back
//! as YAML (go-yaml v3: sorted keys, four-space indent, trailing newline trimmed) and anything
//! else as Go's `%v` prints it (`3`, `true`, `<nil>`, `[a b]`, `map[k:v]`, floats as `%g`). A
//! value YAML cannot read falls back to a JSON object, its non-text members as written.
use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sesame_provider_core::{ProviderError, SecretValue, property};

/// The members of `payload`, rendered as ESO renders them.
pub(crate) fn secret_map(payload: &[u8], key: &str) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    let yaml = std::str::from_utf8(payload).ok().and_then(|t| serde_saphyr::from_str::<Value>(t).ok());
    match yaml {
        Some(Value::Object(map)) => Ok(map.into_iter().map(|(k, v)| (k, SecretValue::from(member(&v)))).collect()),
        _ => property::top_level_map(payload, key),
    }
}

fn member(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut out = String::new();
            mapping(&mut out, m, 0);
            out.trim().to_string()
        }
        other => go_v(other),
    }
}

/// Go's `%v` of a decoded YAML value.
fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => go_float(n.as_f64().unwrap_or_default()),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(go_v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", go_v(v))).collect::<Vec<_>>().join(" ")),
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits, with an exponent below 1e-4 and
/// from 1e6.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        return format!("{sign}{first}{frac}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    if exp < 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize));
    }
    let point = (exp + 1) as usize;
    if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn mapping(out: &mut String, m: &Map<String, Value>, indent: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push_str(&scalar(&Value::String(k.clone())));
        out.push(':');
        block(out, &m[k], indent);
    }
}

/// A value after `key:` or `- `: nested collections on the following lines.
fn block(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            pad(out, indent + 4);
            mapping(out, m, indent + 4);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                pad(out, indent + 4);
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        out.push(' ');
                        mapping(out, m, indent + 6);
                    }
                    other => block(out, other, indent + 4),
                }
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => go_float(n.as_f64().unwrap_or_default()),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => text(s),
    }
}

/// A string as go-yaml v3 writes it: plain when it reads back as the same string, double-quoted
/// when it would read as another type, single-quoted when YAML syntax needs it.
fn text(s: &str) -> String {
    let resolves_elsewhere = matches!(serde_saphyr::from_str::<Value>(s), Ok(Value::Null | Value::Bool(_) | Value::Number(_)))
        || ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"].contains(&s);
    if s.is_empty() || resolves_elsewhere || s.chars().any(|c| c.is_control() && c != '\n') {
        return serde_json::to_string(s).unwrap_or_default();
    }
    if s.contains('\n') {
        return serde_json::to_string(s).unwrap_or_default();
    }
    let first = s.chars().next().unwrap_or(' ');
    let needs_quotes = "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #");
    if needs_quotes { format!("'{}'", s.replace('\'', "''")) } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_gos_shortest_g() {
        for (f, go) in [(1.5, "1.5"), (3.0, "3"), (100.0, "100"), (1e6, "1e+06"), (123456789.0, "1.23456789e+08"), (0.0001, "0.0001")] {
            assert_eq!(go_float(f), go, "{f}");
        }
        assert_eq!((go_float(1e-5), go_float(-2.25), go_float(123456.0)), ("1e-05".into(), "-2.25".into(), "123456".into()));
    }
}
