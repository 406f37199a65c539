//! sprig's default, flow-control, type, path and URL functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;

use super::super::value::{FnResult, arg_bool, arg_str, kind_name, map, string, strval, truthy, type_name};
use super::{ANY, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("default", 1, ANY, |_, a| {
        Ok(match a.get(1) {
            Some(v) if truthy(v) => v.clone(),
            _ => a[0].clone(),
        })
    });
    r.add("empty", 1, 1, |_, a| Ok(Value::Bool(!truthy(&a[0]))));
    r.add("coalesce", 0, ANY, |_, a| Ok(a.iter().find(|v| truthy(v)).cloned().unwrap_or(Value::Nil)));
    r.add("all", 0, ANY, |_, a| Ok(Value::Bool(a.iter().all(truthy))));
    r.add("any", 0, ANY, |_, a| Ok(Value::Bool(a.iter().any(truthy))));
    r.add("ternary", 3, 3, |_, a| Ok(if arg_bool(a, 2)? { a[0].clone() } else { a[1].clone() }));
    r.add("fail", 1, 1, |_, a| Err(arg_str(a, 0)?.to_owned()));
    r.add("typeOf", 1, 1, |_, a| Ok(string(type_name(&a[0]))));
    r.add("typeIs", 2, 2, |_, a| Ok(Value::Bool(arg_str(a, 0)? == type_name(&a[1]))));
    r.add("typeIsLike", 2, 2, |_, a| {
        let (want, got) = (arg_str(a, 0)?, type_name(&a[1]));
        Ok(Value::Bool(want == got || want == format!("*{got}")))
    });
    r.add("kindOf", 1, 1, |_, a| Ok(string(kind_name(&a[0]))));
    r.add("kindIs", 2, 2, |_, a| Ok(Value::Bool(arg_str(a, 0)? == kind_name(&a[1]))));
    r.add("deepEqual", 2, 2, |_, a| Ok(Value::Bool(deep_equal(&a[0], &a[1]))));
    r.add("base", 1, 1, |_, a| Ok(string(base(arg_str(a, 0)?))));
    r.add("osBase", 1, 1, |_, a| Ok(string(base(arg_str(a, 0)?))));
    r.add("dir", 1, 1, |_, a| Ok(string(dir(arg_str(a, 0)?))));
    r.add("osDir", 1, 1, |_, a| Ok(string(dir(arg_str(a, 0)?))));
    r.add("clean", 1, 1, |_, a| Ok(string(clean(arg_str(a, 0)?))));
    r.add("osClean", 1, 1, |_, a| Ok(string(clean(arg_str(a, 0)?))));
    r.add("ext", 1, 1, |_, a| Ok(string(ext(arg_str(a, 0)?))));
    r.add("osExt", 1, 1, |_, a| Ok(string(ext(arg_str(a, 0)?))));
    r.add("isAbs", 1, 1, |_, a| Ok(Value::Bool(arg_str(a, 0)?.starts_with('/'))));
    r.add("osIsAbs", 1, 1, |_, a| Ok(Value::Bool(arg_str(a, 0)?.starts_with('/'))));
    r.add("urlParse", 1, 1, |_, a| url_parse(arg_str(a, 0)?));
    r.add("urlJoin", 1, 1, |_, a| url_join(&a[0]));
}

/// Go's `reflect.DeepEqual` on template values (ints and floats differ).
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q)),
        (Value::Map(x), Value::Map(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w))),
        _ => false,
    }
}

/// Go's `path.Clean`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

fn dir(p: &str) -> String {
    let cut = p.rfind('/').map_or(0, |i| i + 1);
    clean(&p[..cut])
}

fn ext(p: &str) -> String {
    let last = p.rsplit('/').next().unwrap_or(p);
    last.rfind('.').map_or(String::new(), |i| last[i..].to_owned())
}

/// sprig's `urlParse`: the parts of a URL as a dict.
fn url_parse(s: &str) -> FnResult {
    let (rest, fragment) = s.split_once('#').unwrap_or((s, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, rest) = match rest.split_once("://") {
        Some((sc, r)) if !sc.is_empty() && sc.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => (sc, r),
        _ => ("", rest),
    };
    let (authority, path) = if scheme.is_empty() { ("", rest) } else { rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..])) };
    let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    let hostname = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("scheme", scheme),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query),
        ("opaque", ""),
        ("fragment", fragment),
        ("userinfo", userinfo),
    ] {
        m.insert(Arc::from(k), string(v));
    }
    Ok(map(m))
}

/// sprig's `urlJoin`: builds a URL from `urlParse`'s dict.
fn url_join(v: &Value) -> FnResult {
    let Value::Map(m) = v else {
        return Err("urlJoin expects a dict".into());
    };
    let get = |k: &str| m.get(k).map(strval).unwrap_or_default();
    let mut out = String::new();
    if !get("scheme").is_empty() {
        out.push_str(&format!("{}://", get("scheme")));
    }
    if !get("userinfo").is_empty() {
        out.push_str(&format!("{}@", get("userinfo")));
    }
    out.push_str(&get("host"));
    out.push_str(&get("path"));
    if !get("query").is_empty() {
        out.push_str(&format!("?{}", get("query")));
    }
    if !get("fragment").is_empty() {
        out.push_str(&format!("#{}", get("fragment")));
    }
    Ok(string(out))
}
