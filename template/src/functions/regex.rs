//! sprig's regular-expression functions (Go RE2 syntax, which the `regex`
//! crate shares for everything but a few rarely used escapes).

use gotmpl::Value;
use regex::Regex;

use super::super::value::{FnResult, ITEM, arg_int, arg_str, string, strings};
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("regexMatch", 2, 2, |_, a| Ok(Value::Bool(compile(a).map(|re| re.is_match(arg_str(a, 1).unwrap_or(""))).unwrap_or(false))));
    r.add("mustRegexMatch", 2, 2, |_, a| Ok(Value::Bool(compile(a)?.is_match(arg_str(a, 1)?))));
    r.add("regexFindAll", 3, 3, find_all);
    r.add("mustRegexFindAll", 3, 3, find_all);
    r.add("regexFind", 2, 2, |_, a| Ok(string(compile(a)?.find(arg_str(a, 1)?).map_or("", |m| m.as_str()))));
    r.add("mustRegexFind", 2, 2, |_, a| Ok(string(compile(a)?.find(arg_str(a, 1)?).map_or("", |m| m.as_str()))));
    r.add("regexReplaceAll", 3, 3, replace_all);
    r.add("mustRegexReplaceAll", 3, 3, replace_all);
    r.add("regexReplaceAllLiteral", 3, 3, replace_literal);
    r.add("mustRegexReplaceAllLiteral", 3, 3, replace_literal);
    r.add("regexSplit", 3, 3, split);
    r.add("mustRegexSplit", 3, 3, split);
    r.add("regexQuoteMeta", 1, 1, |_, a| Ok(string(quote_meta(arg_str(a, 0)?))));
}

fn compile(a: &[Value]) -> Result<Regex, String> {
    Regex::new(arg_str(a, 0)?).map_err(|_| "error parsing regexp".to_string())
}

fn find_all(ctx: &Ctx, a: &[Value]) -> FnResult {
    let (re, s, n) = (compile(a)?, arg_str(a, 1)?, arg_int(a, 2)?);
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let (mut count, mut bytes) = (0u128, 0u128);
    for m in re.find_iter(s).take(limit) {
        count += 1;
        bytes += m.len() as u128;
        ctx.ensure(bytes + count * ITEM as u128)?;
    }
    Ok(strings(re.find_iter(s).take(limit).map(|m| m.as_str().to_owned())))
}

/// `regexReplaceAll`: `$1`-style references expand. Built piece by piece, checking the size as
/// it grows (an empty match inserts the replacement at every position); one expansion is at most
/// the replacement plus, per reference in it, the whole match.
fn replace_all(ctx: &Ctx, a: &[Value]) -> FnResult {
    let (re, s, repl) = (compile(a)?, arg_str(a, 1)?, arg_str(a, 2)?);
    let references = repl.matches('$').count() as u128;
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let m = caps.get(0).expect("group 0 is the match");
        ctx.ensure(out.len() as u128 + (m.start() - last) as u128 + repl.len() as u128 + references * m.len() as u128)?;
        out.push_str(&s[last..m.start()]);
        caps.expand(repl, &mut out);
        last = m.end();
    }
    ctx.ensure(out.len() as u128 + (s.len() - last) as u128)?;
    out.push_str(&s[last..]);
    Ok(string(out))
}

/// `regexReplaceAllLiteral`: the replacement is inserted as it is.
fn replace_literal(ctx: &Ctx, a: &[Value]) -> FnResult {
    let (re, s, repl) = (compile(a)?, arg_str(a, 1)?, arg_str(a, 2)?);
    let matched: u128 = re.find_iter(s).map(|m| m.len() as u128).sum();
    let count = re.find_iter(s).count() as u128;
    ctx.ensure(s.len() as u128 - matched + count * repl.len() as u128)?;
    Ok(string(re.replace_all(s, regex::NoExpand(repl)).into_owned()))
}

/// Go's `Regexp.Split(s, n)`.
fn split(ctx: &Ctx, a: &[Value]) -> FnResult {
    let (re, s, n) = (compile(a)?, arg_str(a, 1)?, arg_int(a, 2)?);
    ctx.ensure(s.len() as u128 + (re.find_iter(s).count() as u128 + 1) * ITEM as u128)?;
    if n == 0 {
        return Ok(strings(Vec::new()));
    }
    if !re.as_str().is_empty() && s.is_empty() {
        return Ok(strings(vec![String::new()]));
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(s) {
        if n > 0 && parts.len() == limit - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            parts.push(s[beg..end].to_owned());
        }
        beg = m.end();
    }
    if end != s.len() {
        parts.push(s[beg..].to_owned());
    }
    Ok(strings(parts))
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
