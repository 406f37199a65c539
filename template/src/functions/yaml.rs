//! ESO's `toYaml` / `fromYaml` (sigs.k8s.io/yaml): values go through JSON,
//! then are written the way go-yaml v2 writes them (sorted keys with its
//! natural order, sequences not indented under keys, literal blocks for
//! multi-line strings, quoting only where a plain scalar would change type).

use std::cmp::Ordering;
use std::sync::Arc;

use gotmpl::Value;

use super::super::value::{FnResult, arg_str, go_float, string};
use super::json;
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("toYaml", 1, 1, |_, a| Ok(string(to_yaml(&a[0]).unwrap_or_default())));
    r.add("fromYaml", 1, 1, from_yaml);
}

fn from_yaml(_: &Ctx, a: &[Value]) -> FnResult {
    let text = arg_str(a, 0)?;
    match serde_saphyr::from_str::<serde_json::Value>(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(json::from_serde(&v)),
        Ok(serde_json::Value::Null) => Ok(super::super::value::map(Default::default())),
        Ok(other) => {
            let kind = match other {
                serde_json::Value::Array(_) => "array",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            };
            Ok(json::error_map(&format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} \
                 into Go value of type map[string]interface {{}}"
            )))
        }
        Err(_) => Ok(json::error_map("error converting YAML to JSON: invalid YAML")),
    }
}

/// `yaml.Marshal` followed by ESO's trimming of the final newline.
pub(crate) fn to_yaml(v: &Value) -> Option<String> {
    // JSON first: what JSON cannot encode makes the marshal fail ("").
    json::encode(v, false, false).ok()?;
    let mut out = String::new();
    match v {
        Value::Map(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::List(l) if !l.is_empty() => write_list(&mut out, l, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    Some(out.strip_suffix('\n').unwrap_or(&out).to_owned())
}

fn write_map(out: &mut String, m: &std::collections::BTreeMap<Arc<str>, Value>, indent: usize) {
    let mut keys: Vec<&Arc<str>> = m.keys().collect();
    keys.sort_by(|a, b| key_order(a, b));
    for k in keys {
        out.push_str(&" ".repeat(indent));
        out.push_str(&quote(k, indent));
        out.push(':');
        write_child(out, &m[k], indent, indent + 2);
    }
}

fn write_list(out: &mut String, l: &[Value], indent: usize) {
    for item in l {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Map(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                let mut inner = String::new();
                write_map(&mut inner, m, indent + 2);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Value::List(l) if !l.is_empty() => {
                let mut inner = String::new();
                write_list(&mut inner, l, indent + 2);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            other => write_child(out, other, indent, indent + 2),
        }
    }
}

/// Writes a value after `key:` or `-`.
fn write_child(out: &mut String, v: &Value, indent: usize, child_indent: usize) {
    match v {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, child_indent);
        }
        Value::List(l) if !l.is_empty() => {
            out.push('\n');
            write_list(out, l, indent);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, child_indent));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Uint(n) => n.to_string(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f}"),
        Value::Float(f) => go_float(*f),
        Value::String(s) => quote(s, indent),
        Value::Map(_) => "{}".into(),
        Value::List(_) => "[]".into(),
        Value::Function(_) => String::new(),
    }
}

/// go-yaml v2's key order: letters after other characters, digit runs by value.
fn key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let num = |r: &[char]| -> (u128, usize) {
            let digits: String = r[i..].iter().take_while(|c| c.is_ascii_digit()).collect();
            (digits.parse().unwrap_or(0), digits.len())
        };
        let (an, alen) = num(&ar);
        let (bn, blen) = num(&br);
        if an != bn {
            return an.cmp(&bn);
        }
        if alen != blen {
            return alen.cmp(&blen);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Plain scalars go-yaml v2 reads as numbers, sexagesimals or timestamps.
static NUMBER_OR_TIME: std::sync::LazyLock<Result<regex::Regex, regex::Error>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"^([-+]?(0|[1-9][0-9_]*)|[-+]?0[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0b[01_]+|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?)$",
    )
});

/// Whether go-yaml would read the plain scalar as something else than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    NUMBER_OR_TIME.as_ref().is_ok_and(|re| re.is_match(s))
}

/// A string scalar in go-yaml v2's style.
fn quote(s: &str, indent: usize) -> String {
    if resolves_to_non_string(s) {
        return double_quoted(s);
    }
    let special =
        s.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{FEFF}' || super::super::binstr::raw_byte(c).is_some());
    if s.contains('\n') {
        // go-yaml forbids block scalars with a space before a line break
        // or a trailing space; tabs are fine there.
        if special || s.contains(" \n") || s.ends_with(' ') {
            return double_quoted(s);
        }
        return literal(s, indent);
    }
    if special || s.contains('\t') {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn plain_allowed(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let ws = |i: usize| chars.get(i).is_none_or(|c| *c == ' ' || *c == '\t');
    if chars.first().is_some_and(|c| *c == ' ') || chars.last().is_some_and(|c| *c == ' ') {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    for (i, &c) in chars.iter().enumerate() {
        let blocked = if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => true,
                '?' | ':' | '-' => ws(1),
                _ => false,
            }
        } else {
            match c {
                ':' => ws(i + 1),
                '#' => chars[i - 1] == ' ' || chars[i - 1] == '\t',
                _ => false,
            }
        };
        if blocked || c == '\t' {
            return false;
        }
    }
    true
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if super::super::binstr::raw_byte(c).is_some() => out.push('\u{FFFD}'),
            c if c.is_control() || c == '\u{FEFF}' => out.push_str(&format!("\\x{:02X}", c as u32 & 0xFF)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal block scalar (`|`, `|-`, `|+`) indented under its key.
fn literal(s: &str, indent: usize) -> String {
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let hint = if s.starts_with(' ') || s.starts_with('\n') { "2" } else { "" };
    let pad = " ".repeat(indent.max(2));
    let mut out = format!("|{hint}{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}
