//! sprig's dictionary functions on `map[string]interface{}` values.
//!
//! Go maps are references: `set`, `unset` and `merge` change the dict in
//! place and return it. Template values here are immutable, so these return
//! the changed dict and leave the argument as it was; `$d = set $d "k" "v"`
//! and `$_ := set $d …; … $d …` therefore differ (see the module notes).

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;

use super::super::value::{FnResult, arg_map, arg_str, list, map, string, strings, strval};
use super::{ANY, Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("dict", 0, ANY, |_, a| {
        let mut m = BTreeMap::new();
        for pair in a.chunks(2) {
            m.insert(Arc::from(strval(&pair[0])), pair.get(1).cloned().unwrap_or_else(|| string("")));
        }
        Ok(map(m))
    });
    r.add("get", 2, 2, |_, a| Ok(arg_map(a, 0)?.get(arg_str(a, 1)?).cloned().unwrap_or_else(|| string(""))));
    r.add("set", 3, 3, |_, a| {
        let mut m = (*arg_map(a, 0)?).clone();
        m.insert(Arc::from(arg_str(a, 1)?), a[2].clone());
        Ok(map(m))
    });
    r.add("unset", 2, 2, |_, a| {
        let mut m = (*arg_map(a, 0)?).clone();
        m.remove(arg_str(a, 1)?);
        Ok(map(m))
    });
    r.add("hasKey", 2, 2, |_, a| Ok(Value::Bool(arg_map(a, 0)?.contains_key(arg_str(a, 1)?))));
    r.add("pluck", 1, ANY, |_, a| {
        let key = arg_str(a, 0)?;
        let mut out = Vec::new();
        for i in 1..a.len() {
            if let Some(v) = arg_map(a, i)?.get(key) {
                out.push(v.clone());
            }
        }
        Ok(list(out))
    });
    r.add("keys", 0, ANY, |_, a| {
        let mut out = Vec::new();
        for i in 0..a.len() {
            out.extend(arg_map(a, i)?.keys().map(|k| k.to_string()));
        }
        Ok(strings(out))
    });
    r.add("values", 1, 1, |_, a| Ok(list(arg_map(a, 0)?.values().cloned().collect())));
    r.add("pick", 1, ANY, |_, a| select(a, true));
    r.add("omit", 1, ANY, |_, a| select(a, false));
    r.add("merge", 1, ANY, |c, a| merge(c, a, false));
    r.add("mustMerge", 1, ANY, |c, a| merge(c, a, false));
    r.add("mergeOverwrite", 1, ANY, |c, a| merge(c, a, true));
    r.add("mustMergeOverwrite", 1, ANY, |c, a| merge(c, a, true));
    r.add("dig", 2, ANY, dig);
    r.add("deepCopy", 1, 1, |_, a| Ok(a[0].clone()));
    r.add("mustDeepCopy", 1, 1, |_, a| Ok(a[0].clone()));
}

fn select(a: &[Value], keep: bool) -> FnResult {
    let m = arg_map(a, 0)?;
    let names: Vec<String> = a[1..].iter().map(strval).collect();
    Ok(map(m.iter().filter(|(k, _)| names.iter().any(|n| n == k.as_ref()) == keep).map(|(k, v)| (k.clone(), v.clone())).collect()))
}

/// mergo semantics: keys missing (or, with `overwrite`, present) in the
/// destination are taken from the sources, maps merged recursively.
fn merge(_: &Ctx, a: &[Value], overwrite: bool) -> FnResult {
    let mut dst = (*arg_map(a, 0)?).clone();
    for i in 1..a.len() {
        let src = arg_map(a, i)?;
        merge_into(&mut dst, &src, overwrite);
    }
    Ok(map(dst))
}

fn merge_into(dst: &mut BTreeMap<Arc<str>, Value>, src: &BTreeMap<Arc<str>, Value>, overwrite: bool) {
    for (k, v) in src {
        match (dst.get(k), v) {
            (Some(Value::Map(d)), Value::Map(s)) => {
                let mut inner = (**d).clone();
                merge_into(&mut inner, s, overwrite);
                dst.insert(k.clone(), map(inner));
            }
            (Some(existing), _) if !overwrite && super::super::value::truthy(existing) => {}
            (Some(_), _) if !overwrite => {
                dst.insert(k.clone(), v.clone());
            }
            (Some(_), Value::Nil) => {}
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `dig "a" "b" default dict`: nested lookup with a default.
fn dig(_: &Ctx, a: &[Value]) -> FnResult {
    let n = a.len();
    let m = arg_map(a, n - 1)?;
    let default = a[n - 2].clone();
    let mut cur = Value::Map(m);
    for key in &a[..n - 2] {
        let key = match key {
            Value::String(s) => s.clone(),
            _ => return Err("dig keys must be strings".into()),
        };
        cur = match &cur {
            Value::Map(m) => match m.get(key.as_ref()) {
                Some(v) => v.clone(),
                None => return Ok(default),
            },
            _ => return Err("dig: value is not a map".into()),
        };
    }
    Ok(cur)
}
