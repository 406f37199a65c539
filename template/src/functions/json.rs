//! JSON as Go's `encoding/json` writes and reads it, on template values.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use gotmpl::Value;

use super::super::binstr;
use super::super::value::{map, string};

/// `json.Marshal` (`escape_html`) or an encoder without HTML escaping; with
/// `pretty`, `json.MarshalIndent(v, "", "  ")`.
pub(crate) fn encode(v: &Value, escape_html: bool, pretty: bool) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, escape_html, pretty.then_some(0))?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<usize>) {
    if let Some(level) = indent {
        out.push('\n');
        out.push_str(&"  ".repeat(level));
    }
}

fn write_value(out: &mut String, v: &Value, html: bool, indent: Option<usize>) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Uint(n) => out.push_str(&n.to_string()),
        Value::Float(f) => out.push_str(&float(*f)?),
        Value::String(s) => write_string(out, s, html),
        Value::List(items) if items.is_empty() => out.push_str("[]"),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent.map(|l| l + 1));
                write_value(out, item, html, indent.map(|l| l + 1))?;
            }
            newline(out, indent);
            out.push(']');
        }
        Value::Map(m) if m.is_empty() => out.push_str("{}"),
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent.map(|l| l + 1));
                write_string(out, k, html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_value(out, item, html, indent.map(|l| l + 1))?;
            }
            newline(out, indent);
            out.push('}');
        }
        Value::Function(_) => return Err("json: unsupported type: func".into()),
    }
    Ok(())
}

/// Go's float encoding: shortest digits, exponent only below 1e-6 or from 1e21.
fn float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err("json: unsupported value".into());
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return Ok(format!("{m}e{sign}{}", e.abs()));
    }
    Ok(format!("{f}"))
}

fn write_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if binstr::raw_byte(c).is_some() => out.push_str("\\ufffd"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.Unmarshal` into `interface{}`: numbers become float64.
pub(crate) fn decode(s: &str) -> Result<Value, String> {
    let parsed: serde_json::Value =
        serde_json::from_str(s).map_err(|e| format!("invalid JSON at line {} column {}", e.line(), e.column()))?;
    Ok(from_serde(&parsed))
}

pub(crate) fn from_serde(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => string(s.as_str()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(from_serde).collect()),
        serde_json::Value::Object(m) => map(m.iter().map(|(k, v)| (Arc::from(k.as_str()), from_serde(v))).collect()),
    }
}

/// sprig's error convention for `fromJson`/`fromYaml`: `{"Error": "..."}`.
pub(crate) fn error_map(message: &str) -> Value {
    let mut m = BTreeMap::new();
    m.insert(Arc::from("Error"), string(message));
    map(m)
}
