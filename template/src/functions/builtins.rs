//! Go text/template builtins that are re-implemented or guarded here:
//! `index` and `len` (Go semantics on ESO's `map[string]string` data and on
//! binary strings) and the formatting builtins (`print`, `printf`,
//! `println`, `html`, `js`, `urlquery`), which run in the engine under the
//! sandbox's size checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{Template, Value};

use super::super::binstr;
use super::super::value::{FnResult, arg_int, deep_size, display, string, type_name};
use super::{ANY, Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("index", 1, ANY, index);
    r.add("len", 1, 1, len);
    r.add("print", 0, ANY, |_, a| via_engine("print", a));
    r.add("printf", 1, ANY, printf);
    r.add("println", 0, ANY, |_, a| via_engine("println", a));
    r.add("html", 0, ANY, |_, a| via_engine("html", a));
    r.add("js", 0, ANY, |_, a| via_engine("js", a));
    r.add("urlquery", 0, ANY, |_, a| via_engine("urlquery", a));
    // Charges a list of nodes to the step budget (see `rewrite`); the wrapper already counted one.
    r.add("__sesame_step", 1, 1, |c, a| {
        c.step(u64::try_from(arg_int(a, 0)?).unwrap_or(0).saturating_sub(1))?;
        Ok(string(""))
    });
    // Stands in for the missing data argument of `{{template "name"}}`.
    r.add("__sesame_nil", 0, 0, |_, _| Ok(Value::Nil));
    // Formats an action's value as Go's `fmt.Fprint` does.
    r.add("__sesame_print", 1, 1, |_, a| {
        Ok(match &a[0] {
            Value::String(_) => a[0].clone(),
            Value::Nil => string("<no value>"),
            other => string(display(other)),
        })
    });
}

/// Go's `index`: successive indexing; a missing key yields the map's zero
/// value ("" for the data map, nil for maps built in the template).
fn index(ctx: &Ctx, args: &[Value]) -> FnResult {
    let mut item = args[0].clone();
    for idx in &args[1..] {
        item = match (&item, idx) {
            (Value::Map(m), Value::String(k)) => match m.get(k.as_ref()) {
                Some(v) => v.clone(),
                None if Arc::ptr_eq(m, &ctx.root) => string(""),
                None => Value::Nil,
            },
            (Value::Map(_), other) => {
                return Err(format!("value has type {}; should be string", type_name(other)));
            }
            (Value::List(l), Value::Int(_) | Value::Uint(_)) => {
                let i = position(idx, l.len())?;
                l[i].clone()
            }
            (Value::String(s), Value::Int(_) | Value::Uint(_)) => {
                let bytes = binstr::to_bytes(s);
                Value::Int(i64::from(bytes[position(idx, bytes.len())?]))
            }
            (Value::List(_) | Value::String(_), other) => {
                return Err(format!("cannot index slice/array with type {}", type_name(other)));
            }
            (Value::Nil, _) => return Err("index of untyped nil".into()),
            (other, _) => return Err(format!("can't index item of type {}", type_name(other))),
        };
    }
    Ok(item)
}

fn position(idx: &Value, len: usize) -> Result<usize, String> {
    let i = match idx {
        Value::Int(i) => *i,
        Value::Uint(u) => i64::try_from(*u).unwrap_or(i64::MAX),
        _ => -1,
    };
    if i < 0 || i as u64 >= len as u64 {
        return Err(format!("index out of range: {i}"));
    }
    Ok(i as usize)
}

/// Go's `len`, counting bytes of strings.
fn len(_: &Ctx, args: &[Value]) -> FnResult {
    let n = match &args[0] {
        Value::String(s) => binstr::byte_len(s),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        other => return Err(format!("len of type {}", type_name(other))),
    };
    Ok(Value::Int(n as i64))
}

/// Go's `printf`. Widths and precisions pad: their sum, plus the format and its verbs, bounds
/// the result's size, which is checked before formatting.
fn printf(ctx: &Ctx, args: &[Value]) -> FnResult {
    if let Value::String(format) = &args[0] {
        let (mut run, mut digits, mut padding) = (0, 0u128, 0u128);
        for c in format.chars().chain([' ']) {
            match c.to_digit(10) {
                Some(d) => {
                    run += 1;
                    digits = digits * 10 + u128::from(d);
                }
                None => {
                    padding += digits;
                    (run, digits) = (0, 0);
                }
            }
            if run > 6 {
                return Err("format width or precision too large".into());
            }
        }
        // A verb may name any argument (`%[1]s`), so each may print the largest one.
        let verbs = format.matches('%').count().max(args.len()) as u128;
        let largest = args[1..].iter().map(deep_size).max().unwrap_or(0) as u128;
        ctx.ensure(format.len() as u128 + padding + verbs * largest)?;
    }
    via_engine("printf", args)
}

/// Runs an engine builtin on already evaluated arguments.
fn via_engine(name: &str, args: &[Value]) -> FnResult {
    let mut data = BTreeMap::new();
    let mut src = format!("{{{{{name}");
    for (i, arg) in args.iter().enumerate() {
        let key = format!("a{i}");
        src.push_str(" .");
        src.push_str(&key);
        data.insert(Arc::from(key.as_str()), arg.clone());
    }
    src.push_str("}}");
    let out = Template::new(name).parse(&src).and_then(|t| t.execute_to_string(&Value::Map(Arc::new(data)))).map_err(|e| e.to_string())?;
    Ok(string(out))
}
