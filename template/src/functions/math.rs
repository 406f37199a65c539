//! sprig's integer, float and conversion functions. Float arithmetic
//! (`addf`, `mulf`, …) is decimal, as sprig's shopspring/decimal is, so
//! `addf 1.1 2.2` is 3.3.

use gotmpl::Value;

use super::super::value::{FnResult, arg_int, arg_str, string, strval, to_f64, to_i64};
use super::decimal::{Decimal, Op};
use super::{ANY, Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("atoi", 1, 1, |_, a| Ok(Value::Int(arg_str(a, 0)?.parse().unwrap_or(0))));
    r.add("int", 1, 1, |_, a| Ok(Value::Int(to_i64(&a[0]))));
    r.add("int64", 1, 1, |_, a| Ok(Value::Int(to_i64(&a[0]))));
    r.add("float64", 1, 1, |_, a| Ok(Value::Float(to_f64(&a[0]))));
    r.add("toDecimal", 1, 1, |_, a| Ok(Value::Int(i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0))));
    r.add("add1", 1, 1, |_, a| Ok(Value::Int(to_i64(&a[0]).wrapping_add(1))));
    r.add("add", 0, ANY, |_, a| Ok(Value::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add))));
    r.add("sub", 2, 2, |_, a| Ok(Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1])))));
    r.add("mul", 1, ANY, |_, a| Ok(Value::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul))));
    r.add("div", 2, 2, |_, a| int_op(a, i64::checked_div));
    r.add("mod", 2, 2, |_, a| int_op(a, i64::checked_rem));
    r.add("randInt", 2, 2, |_, a| {
        let (lo, hi) = (arg_int(a, 0)?, arg_int(a, 1)?);
        let span = hi.checked_sub(lo).filter(|s| *s > 0).ok_or("invalid argument to Intn")?;
        Ok(Value::Int(lo + (rand::random::<u64>() % span as u64) as i64))
    });
    r.add("add1f", 1, 1, |_, a| decimal_op(&[a[0].clone(), Value::Int(1)], Op::Add));
    r.add("addf", 0, ANY, |_, a| {
        let mut all = vec![Value::Int(0)];
        all.extend_from_slice(a);
        decimal_op(&all, Op::Add)
    });
    r.add("subf", 1, ANY, |_, a| decimal_op(a, Op::Sub));
    r.add("mulf", 1, ANY, |_, a| decimal_op(a, Op::Mul));
    r.add("divf", 1, ANY, |_, a| decimal_op(a, Op::Div));
    r.add("biggest", 1, ANY, |_, a| Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0))));
    r.add("max", 1, ANY, |_, a| Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0))));
    r.add("min", 1, ANY, |_, a| Ok(Value::Int(a.iter().map(to_i64).min().unwrap_or(0))));
    r.add("maxf", 1, ANY, |_, a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max))));
    r.add("minf", 1, ANY, |_, a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::INFINITY, f64::min))));
    r.add("ceil", 1, 1, |_, a| Ok(Value::Float(to_f64(&a[0]).ceil())));
    r.add("floor", 1, 1, |_, a| Ok(Value::Float(to_f64(&a[0]).floor())));
    r.add("round", 2, 3, round);
    r.add("seq", 0, ANY, seq);
}

fn int_op(a: &[Value], op: fn(i64, i64) -> Option<i64>) -> FnResult {
    op(to_i64(&a[0]), to_i64(&a[1])).map(Value::Int).ok_or_else(|| "runtime error: integer divide by zero".into())
}

fn decimal_op(a: &[Value], op: Op) -> FnResult {
    let mut acc = Decimal::from_f64(to_f64(&a[0]));
    for v in &a[1..] {
        acc = acc.apply(op, &Decimal::from_f64(to_f64(v)))?;
    }
    Ok(Value::Float(acc.to_f64()))
}

/// sprig's `round value places [roundOn]`.
fn round(_: &Ctx, a: &[Value]) -> FnResult {
    let round_on = a.get(2).map_or(0.5, to_f64);
    let (val, places) = (to_f64(&a[0]), arg_int(a, 1)? as f64);
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let frac = digit.fract();
    let r = if frac >= round_on { digit.ceil() } else { digit.floor() };
    Ok(Value::Float(r / pow))
}

/// sprig's `seq` (like the Unix command): a space-separated string.
fn seq(ctx: &Ctx, a: &[Value]) -> FnResult {
    let p = (0..a.len()).map(|i| arg_int(a, i)).collect::<Result<Vec<i64>, String>>()?;
    let (start, stop, step) = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            (1, end.saturating_add(inc), inc)
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            (*start, end.saturating_add(step), step)
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                return Ok(string(""));
            }
            (*start, end.saturating_add(inc), *step)
        }
        _ => return Ok(string("")),
    };
    Ok(string(seq_str(ctx, start, step, stop)?))
}

fn seq_str(ctx: &Ctx, start: i64, step: i64, stop: i64) -> Result<String, String> {
    match super::lists::range_list(ctx, start, stop, step)? {
        Value::List(items) => Ok(items.iter().map(strval).collect::<Vec<_>>().join(" ")),
        _ => Ok(String::new()),
    }
}
