//! Go/sprig value semantics on the engine's dynamic values: argument
//! conversion, `%v` formatting, truthiness and sizes.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;

/// Result of a template function: a value or a message (never a secret).
pub(crate) type FnResult = Result<Value, String>;

pub(crate) fn string(s: impl Into<Arc<str>>) -> Value {
    Value::String(s.into())
}

pub(crate) fn list(items: Vec<Value>) -> Value {
    Value::List(items.into())
}

pub(crate) fn map(m: BTreeMap<Arc<str>, Value>) -> Value {
    Value::Map(Arc::new(m))
}

pub(crate) fn strings(items: impl IntoIterator<Item = String>) -> Value {
    list(items.into_iter().map(string).collect())
}

/// Go's name for a value's dynamic type, as `typeOf` prints it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

/// Go's reflect kind name, as `kindOf` prints it.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Function(_) => "func",
        other => type_name(other),
    }
}

/// A string parameter: Go refuses other types.
pub(crate) fn arg_str(args: &[Value], i: usize) -> Result<&str, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!("wrong type for value; expected string; got {}", type_name(v))),
        None => Err("missing argument".into()),
    }
}

/// An `int` parameter: Go accepts integer values only.
pub(crate) fn arg_int(args: &[Value], i: usize) -> Result<i64, String> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::Uint(n)) => i64::try_from(*n).map_err(|_| "integer overflows int".to_string()),
        Some(v) => Err(format!("wrong type for value; expected int; got {}", type_name(v))),
        None => Err("missing argument".into()),
    }
}

/// A `bool` parameter.
pub(crate) fn arg_bool(args: &[Value], i: usize) -> Result<bool, String> {
    match args.get(i) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("wrong type for value; expected bool; got {}", type_name(v))),
        None => Err("missing argument".into()),
    }
}

/// sprig's `strval`: strings as they are, everything else as `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => display(other),
    }
}

/// Go's `%v` formatting.
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::Float(f) => go_float(*f),
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(display).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", display(v))).collect();
            format!("map[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` uses: shortest
/// digits, in exponent form (`1.5e+06`, `1e-05`) when the decimal exponent is
/// below -4 or at least 6.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{f:e}"); // shortest digits, e.g. "1.234567e6"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// spf13/cast `ToInt64` as sprig uses it: errors become 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        Value::Uint(n) => *n as i64,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_go_int(s).unwrap_or(0),
        _ => 0,
    }
}

/// `strconv.ParseInt(s, 0, 64)` after cast's trimming of a `.0…` suffix.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let s = match s.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        _ => s,
    };
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        (10, lower)
    };
    let digits = digits.replace('_', "");
    let n = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// spf13/cast `ToFloat64`: errors become 0.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Uint(n) => *n as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go template truth, which is also sprig's "not empty".
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(n) => *n != 0,
        Value::Uint(n) => *n != 0,
        Value::Float(f) => *f != 0.0,
        Value::String(s) => !s.is_empty(),
        Value::List(l) => !l.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::Function(_) => true,
    }
}

/// Approximate memory held by a value, for the sandbox's value-size limit;
/// values nested deeper than [`MAX_DEPTH`] count as unbounded.
pub(crate) fn deep_size(v: &Value) -> usize {
    sized(v, 0)
}

/// Deepest nesting of lists and maps a function may produce.
pub(crate) const MAX_DEPTH: usize = 200;

/// What one list item or map entry costs besides its contents (the engine's value cell).
pub(crate) const ITEM: usize = 24;

fn sized(v: &Value, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return usize::MAX / 4;
    }
    match v {
        Value::String(s) => s.len(),
        Value::List(l) => l.iter().fold(0usize, |acc, x| acc.saturating_add(ITEM + sized(x, depth + 1))),
        Value::Map(m) => m.iter().fold(0usize, |acc, (k, x)| acc.saturating_add(ITEM + k.len() + sized(x, depth + 1))),
        _ => 8,
    }
}

/// A list parameter (sprig accepts any slice).
pub(crate) fn arg_list(args: &[Value], i: usize, func: &str) -> Result<Arc<[Value]>, String> {
    match args.get(i) {
        Some(Value::List(l)) => Ok(l.clone()),
        Some(v) => Err(format!("Cannot {func} on type {}", kind_name(v))),
        None => Err("missing argument".into()),
    }
}

/// A map parameter (`map[string]interface{}` in sprig).
pub(crate) fn arg_map(args: &[Value], i: usize) -> Result<Arc<BTreeMap<Arc<str>, Value>>, String> {
    match args.get(i) {
        Some(Value::Map(m)) => Ok(m.clone()),
        Some(v) => Err(format!("wrong type for value; expected map[string]interface {{}}; got {}", type_name(v))),
        None => Err("missing argument".into()),
    }
}
