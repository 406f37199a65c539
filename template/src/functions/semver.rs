//! sprig's `semver` and `semverCompare` (Masterminds/semver v3 rules:
//! lenient versions, `||` alternatives, `,`/space conjunctions, `~`, `^`,
//! wildcards and hyphen ranges; pre-releases only match constraints that
//! name a pre-release).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;

use super::super::value::{FnResult, arg_str, map, string};
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("semver", 1, 1, |_, a| {
        let v = Version::parse(arg_str(a, 0)?).ok_or("Invalid Semantic Version")?;
        let mut m = BTreeMap::new();
        m.insert(Arc::from("Major"), Value::Int(v.parts[0] as i64));
        m.insert(Arc::from("Minor"), Value::Int(v.parts[1] as i64));
        m.insert(Arc::from("Patch"), Value::Int(v.parts[2] as i64));
        m.insert(Arc::from("Prerelease"), string(v.pre.clone()));
        m.insert(Arc::from("Metadata"), string(v.meta.clone()));
        m.insert(Arc::from("Original"), string(arg_str(a, 0)?));
        Ok(map(m))
    });
    r.add("semverCompare", 2, 2, compare);
}

#[derive(Debug, Clone)]
struct Version {
    parts: [u64; 3],
    /// How many of the parts were given as numbers (wildcards end it).
    given: usize,
    pre: String,
    meta: String,
}

impl Version {
    fn parse(s: &str) -> Option<Version> {
        Self::parse_pattern(s).filter(|v| v.given > 0 || s.is_empty())
    }

    /// Also accepts wildcards (`1.2.x`, `*`) and partial versions.
    fn parse_pattern(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let (s, meta) = s.split_once('+').unwrap_or((s, ""));
        let (core, pre) = s.split_once('-').unwrap_or((s, ""));
        let mut parts = [0u64; 3];
        let mut given = 0;
        for (i, p) in core.split('.').enumerate() {
            if i > 2 {
                return None;
            }
            if matches!(p, "x" | "X" | "*") {
                break;
            }
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
                return None;
            }
            parts[i] = p.parse().ok()?;
            given = i + 1;
        }
        Some(Version { parts, given, pre: pre.to_owned(), meta: meta.to_owned() })
    }

    fn cmp(&self, other: &Version) -> Ordering {
        self.parts.cmp(&other.parts).then_with(|| cmp_pre(&self.pre, &other.pre))
    }

    fn bump(&self, index: usize) -> Version {
        let mut parts = [0u64; 3];
        parts[..index].copy_from_slice(&self.parts[..index]);
        parts[index] = self.parts[index].saturating_add(1);
        Version { parts, given: 3, pre: String::new(), meta: String::new() }
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (xs, ys): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in xs.iter().zip(ys.iter()) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    xs.len().cmp(&ys.len())
}

/// One comparison, already reduced to a lower and/or upper bound or `!=`.
fn satisfies(op: &str, c: &Version, v: &Version) -> bool {
    if !v.pre.is_empty() && c.pre.is_empty() {
        return false;
    }
    let lower = |inclusive: bool| {
        if inclusive { v.cmp(c) != Ordering::Less } else { v.cmp(c) == Ordering::Greater }
    };
    let below = |bound: &Version| v.cmp(bound) == Ordering::Less;
    match op {
        "" | "=" if c.given == 0 => true,
        "" | "=" if c.given < 3 => lower(true) && below(&c.bump(c.given - 1)),
        "" | "=" => v.cmp(c) == Ordering::Equal,
        "!=" if c.given < 3 && c.given > 0 => !(lower(true) && below(&c.bump(c.given - 1))),
        "!=" => v.cmp(c) != Ordering::Equal,
        ">" if c.given < 3 && c.given > 0 => !below(&c.bump(c.given - 1)),
        ">" => lower(false),
        ">=" | "=>" => lower(true),
        "<" => below(c),
        "<=" | "=<" if c.given < 3 && c.given > 0 => below(&c.bump(c.given - 1)),
        "<=" | "=<" => v.cmp(c) != Ordering::Greater,
        "~" | "~>" => lower(true) && (c.given == 0 || below(&c.bump(if c.given == 1 { 0 } else { 1 }))),
        "^" => {
            let idx = if c.parts[0] > 0 || c.given <= 1 {
                0
            } else if c.parts[1] > 0 || c.given == 2 {
                1
            } else {
                2
            };
            lower(true) && (c.given == 0 || below(&c.bump(idx)))
        }
        _ => false,
    }
}

fn check_and(group: &str, v: &Version) -> Result<bool, String> {
    let group = group.trim();
    if let Some((lo, hi)) = group.split_once(" - ") {
        return Ok(check_and(&format!(">= {lo}"), v)? && check_and(&format!("<= {hi}"), v)?);
    }
    // Tokens: an operator may be separated from its version by spaces.
    let mut tokens: Vec<String> = Vec::new();
    for t in group.split([',', ' ']).filter(|t| !t.is_empty()) {
        match tokens.last_mut() {
            Some(prev) if prev.chars().all(|c| "=<>!~^".contains(c)) => prev.push_str(t),
            _ => tokens.push(t.to_owned()),
        }
    }
    for t in tokens {
        let split = t.find(|c: char| !"=<>!~^".contains(c)).unwrap_or(t.len());
        let (op, ver) = t.split_at(split);
        let c = Version::parse_pattern(ver).ok_or("improper constraint")?;
        if !satisfies(op, &c, v) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn compare(_: &Ctx, a: &[Value]) -> FnResult {
    let v = Version::parse(arg_str(a, 1)?).ok_or("Invalid Semantic Version")?;
    for group in arg_str(a, 0)?.split("||") {
        if check_and(group, &v)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}
