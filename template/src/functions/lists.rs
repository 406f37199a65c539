//! sprig's list functions. Lists are `[]interface{}`; sprig's `slice`
//! replaces the text/template builtin of the same name, as in ESO.

use gotmpl::Value;

use super::super::value::{FnResult, ITEM, arg_int, arg_list, kind_name, list, to_i64, truthy};
use super::defaults::deep_equal;
use super::{ANY, Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("list", 0, ANY, |_, a| Ok(list(a.to_vec())));
    r.add("tuple", 0, ANY, |_, a| Ok(list(a.to_vec())));
    for name in ["append", "push", "mustAppend", "mustPush"] {
        r.add(name, 2, 2, |_, a| {
            let mut l = arg_list(a, 0, "push")?.to_vec();
            l.push(a[1].clone());
            Ok(list(l))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        r.add(name, 2, 2, |_, a| {
            let mut l = vec![a[1].clone()];
            l.extend(arg_list(a, 0, "prepend")?.iter().cloned());
            Ok(list(l))
        });
    }
    for name in ["first", "mustFirst"] {
        r.add(name, 1, 1, |_, a| Ok(arg_list(a, 0, "find first")?.first().cloned().unwrap_or(Value::Nil)));
    }
    for name in ["last", "mustLast"] {
        r.add(name, 1, 1, |_, a| Ok(arg_list(a, 0, "find last")?.last().cloned().unwrap_or(Value::Nil)));
    }
    for name in ["rest", "mustRest"] {
        r.add(name, 1, 1, |_, a| {
            let l = arg_list(a, 0, "find rest")?;
            Ok(list(l.get(1..).unwrap_or_default().to_vec()))
        });
    }
    for name in ["initial", "mustInitial"] {
        r.add(name, 1, 1, |_, a| {
            let l = arg_list(a, 0, "find initial")?;
            Ok(list(l[..l.len().saturating_sub(1)].to_vec()))
        });
    }
    for name in ["reverse", "mustReverse"] {
        r.add(name, 1, 1, |_, a| Ok(list(arg_list(a, 0, "find reverse")?.iter().rev().cloned().collect())));
    }
    for name in ["uniq", "mustUniq"] {
        r.add(name, 1, 1, |c, a| {
            let mut out: Vec<Value> = Vec::new();
            for (i, v) in arg_list(a, 0, "find uniq")?.iter().enumerate() {
                // Quadratic: the time budget and the cancel flag are checked as it runs.
                if i % 256 == 0 {
                    c.check_time()?;
                }
                if !out.iter().any(|o| deep_equal(o, v)) {
                    out.push(v.clone());
                }
            }
            Ok(list(out))
        });
    }
    for name in ["without", "mustWithout"] {
        r.add(name, 1, ANY, |_, a| {
            let l = arg_list(a, 0, "find without")?;
            Ok(list(l.iter().filter(|v| !a[1..].iter().any(|o| deep_equal(o, v))).cloned().collect()))
        });
    }
    for name in ["has", "mustHas"] {
        r.add(name, 2, 2, |_, a| match &a[1] {
            Value::Nil => Ok(Value::Bool(false)),
            Value::List(l) => Ok(Value::Bool(l.iter().any(|v| deep_equal(v, &a[0])))),
            other => Err(format!("Cannot find has on type {}", kind_name(other))),
        });
    }
    for name in ["compact", "mustCompact"] {
        r.add(name, 1, 1, |_, a| Ok(list(arg_list(a, 0, "compact")?.iter().filter(|v| truthy(v)).cloned().collect())));
    }
    for name in ["slice", "mustSlice"] {
        r.add(name, 1, ANY, slice);
    }
    r.add("concat", 0, ANY, |_, a| {
        let mut out = Vec::new();
        for v in a {
            match v {
                Value::List(l) => out.extend(l.iter().cloned()),
                other => return Err(format!("Cannot concat type {} as list", kind_name(other))),
            }
        }
        Ok(list(out))
    });
    for name in ["chunk", "mustChunk"] {
        r.add(name, 2, 2, |_, a| {
            let size = arg_int(a, 0)?;
            if size < 1 {
                return Err("chunk size must be positive".into());
            }
            let l = arg_list(a, 1, "chunk")?;
            Ok(list(l.chunks(size as usize).map(|c| list(c.to_vec())).collect()))
        });
    }
    r.add("until", 1, 1, |c, a| range_list(c, 0, arg_int(a, 0)?, if arg_int(a, 0)? < 0 { -1 } else { 1 }));
    r.add("untilStep", 3, 3, |c, a| range_list(c, arg_int(a, 0)?, arg_int(a, 1)?, arg_int(a, 2)?));
}

/// sprig's `slice list [start [end]]`.
fn slice(_: &Ctx, a: &[Value]) -> FnResult {
    let l = match &a[0] {
        Value::List(l) => l.clone(),
        other => {
            return Err(format!("list should be type of slice or array but {}", kind_name(other)));
        }
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map_or(0, to_i64);
    let end = a.get(2).map_or(l.len() as i64, to_i64);
    if start < 0 || end < start || end > l.len() as i64 {
        return Err(format!("slice bounds out of range [{start}:{end}]"));
    }
    Ok(list(l[start as usize..end as usize].to_vec()))
}

/// sprig's `untilStep`: integers from `start` towards `stop` by `step`.
pub(super) fn range_list(ctx: &Ctx, start: i64, stop: i64, step: i64) -> FnResult {
    if step == 0 || (start < stop && step < 0) || (start > stop && step > 0) {
        return Ok(list(Vec::new()));
    }
    let count = (i128::from(stop) - i128::from(start)).abs() / i128::from(step).abs() + 1;
    ctx.ensure(count as u128 * ITEM as u128)?;
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(Value::Int(i));
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(list(out))
}
