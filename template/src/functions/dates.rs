//! sprig's date functions. Go's `time.Time` travels through templates as its
//! `String()` form (`2006-01-02 15:04:05.999999999 -0700 MST`), which is
//! also what Go prints for it. Layouts are Go reference layouts. The local
//! zone is UTC (as in ESO's container image); named zones other than `UTC`
//! and `Local` fall back to UTC (no zone database is bundled).

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use gotmpl::Value;

use super::super::value::{FnResult, arg_str, string, to_i64};
use super::{Ctx, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add("now", 0, 0, |_, _| Ok(time_value(&Utc::now().fixed_offset())));
    r.add("date", 2, 2, |_, a| Ok(string(go_format(&to_time(&a[1]), arg_str(a, 0)?))));
    r.add("dateInZone", 3, 3, |_, a| Ok(string(go_format(&to_time(&a[1]), arg_str(a, 0)?))));
    r.add("date_in_zone", 3, 3, |_, a| Ok(string(go_format(&to_time(&a[1]), arg_str(a, 0)?))));
    r.add("htmlDate", 1, 1, |_, a| Ok(string(go_format(&to_time(&a[0]), "2006-01-02"))));
    r.add("htmlDateInZone", 2, 2, |_, a| Ok(string(go_format(&to_time(&a[0]), "2006-01-02"))));
    for name in ["dateModify", "date_modify"] {
        r.add(name, 2, 2, |_, a| {
            let t = to_time(&a[1]);
            Ok(match parse_duration(arg_str(a, 0)?) {
                Some(d) => time_value(&t.checked_add_signed(d).unwrap_or(t)),
                None => time_value(&t),
            })
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        r.add(name, 2, 2, |_, a| {
            let d = parse_duration(arg_str(a, 0)?).ok_or("time: invalid duration")?;
            let t = to_time(&a[1]);
            Ok(time_value(&t.checked_add_signed(d).ok_or("time out of range")?))
        });
    }
    r.add("ago", 1, 1, |_, a| {
        let secs = (Utc::now().fixed_offset() - to_time(&a[0])).num_seconds();
        Ok(string(go_duration(i128::from(secs) * 1_000_000_000)))
    });
    r.add("duration", 1, 1, |_, a| {
        let n = match &a[0] {
            Value::String(s) => s.parse::<i64>().unwrap_or(0),
            other => to_i64(other),
        };
        Ok(string(go_duration(i128::from(n) * 1_000_000_000)))
    });
    r.add("durationRound", 1, 1, duration_round);
    r.add("toDate", 2, 2, |_, a| Ok(time_value(&parse_layout(arg_str(a, 0)?, arg_str(a, 1)?).unwrap_or_else(zero_time))));
    r.add("mustToDate", 2, 2, |_, a| {
        let t = parse_layout(arg_str(a, 0)?, arg_str(a, 1)?).ok_or("parsing time: value does not match layout")?;
        Ok(time_value(&t))
    });
    r.add("unixEpoch", 1, 1, |_, a| Ok(string(to_time(&a[0]).timestamp().to_string())));
}

fn zero_time() -> DateTime<FixedOffset> {
    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single().unwrap_or_default().fixed_offset()
}

/// A time as Go's `Time.String()` prints it.
pub(crate) fn time_value(t: &DateTime<FixedOffset>) -> Value {
    string(go_format(t, "2006-01-02 15:04:05.999999999 -0700 MST"))
}

/// A template value as a time: a time string, or Unix seconds; else now.
fn to_time(v: &Value) -> DateTime<FixedOffset> {
    match v {
        Value::String(s) => parse_time_string(s).unwrap_or_else(|| Utc::now().fixed_offset()),
        Value::Int(_) | Value::Uint(_) => Utc.timestamp_opt(to_i64(v), 0).single().unwrap_or_default().fixed_offset(),
        _ => Utc::now().fixed_offset(),
    }
}

fn parse_time_string(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.split(" m=").next().unwrap_or(s);
    let mut parts: Vec<&str> = s.rsplitn(2, ' ').collect();
    let without_zone = parts.pop().filter(|_| parts.len() == 1)?;
    DateTime::parse_from_str(without_zone, "%Y-%m-%d %H:%M:%S%.f %z").ok()
}

/// Converts a Go reference layout to chrono's format syntax.
fn layout_to_chrono(layout: &str) -> String {
    const TOKENS: &[(&str, &str)] = &[
        ("January", "%B"),
        ("Monday", "%A"),
        ("2006", "%Y"),
        ("-07:00:00", "%::z"),
        ("-07:00", "%:z"),
        ("Z07:00", "%:z"),
        ("-0700", "%z"),
        ("Z0700", "%z"),
        ("-07", "%z"),
        (".000000000", "%.9f"),
        (".999999999", "%.f"),
        (".000000", "%.6f"),
        (".999999", "%.f"),
        (".000", "%.3f"),
        (".999", "%.f"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("002", "%j"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("06", "%y"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("PM", "%p"),
        ("pm", "%P"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
        ("5", "%-S"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, ch) in TOKENS {
            if let Some(after) = rest.strip_prefix(go) {
                out.push_str(ch);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Formats a time with a Go layout.
pub(crate) fn go_format(t: &DateTime<FixedOffset>, layout: &str) -> String {
    let utc = t.offset().local_minus_utc() == 0;
    // Go writes "Z" for a zero offset in the Z07:00 / Z0700 forms.
    let layout = if utc { layout.replace("Z07:00", "Z").replace("Z0700", "Z") } else { layout.to_owned() };
    let fmt = layout_to_chrono(&layout);
    // Go prints the zone abbreviation; for UTC that is "UTC".
    let fmt = fmt.replace("%Z", if utc { "UTC" } else { "%:z" });
    let mut out = String::new();
    if std::fmt::write(&mut out, format_args!("{}", t.format(&fmt))).is_err() {
        return String::new();
    }
    // ".999…" trims trailing zeros and the dot entirely when zero.
    out
}

fn parse_layout(layout: &str, value: &str) -> Option<DateTime<FixedOffset>> {
    let fmt = layout_to_chrono(layout);
    if let Ok(t) = DateTime::parse_from_str(value, &fmt) {
        return Some(t);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(value, &fmt) {
        return Some(t.and_utc().fixed_offset());
    }
    chrono::NaiveDate::parse_from_str(value, &fmt).ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().fixed_offset())
}

/// Go's `time.ParseDuration` (units ns, us, µs, ms, s, m, h).
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(Duration::zero());
    }
    let mut nanos: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += number * scale;
        rest = &rest[unit_len..];
    }
    let d = Duration::nanoseconds(nanos.round() as i64);
    Some(if neg { -d } else { d })
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let frac = |value: u128, unit: u128| -> String {
        let (whole, rem) = (value / unit, value % unit);
        if rem == 0 {
            return whole.to_string();
        }
        let digits = format!("{rem:0width$}", width = unit.ilog10() as usize);
        format!("{whole}.{}", digits.trim_end_matches('0'))
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", frac(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", frac(n, 1_000_000));
    }
    let (h, rem) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
    let s = frac(rem, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// sprig's `durationRound`: the largest whole unit (y, mo, d, h, m, s).
fn duration_round(_: &Ctx, a: &[Value]) -> FnResult {
    let nanos: i128 = match &a[0] {
        Value::String(s) => match parse_time_string(s) {
            Some(t) => i128::from((Utc::now().fixed_offset() - t).num_nanoseconds().unwrap_or(0)),
            None => parse_duration(s).and_then(|d| d.num_nanoseconds()).map_or(0, i128::from),
        },
        other => i128::from(to_i64(other)),
    };
    let u = nanos.unsigned_abs();
    const S: u128 = 1_000_000_000;
    let units = [(365 * 24 * 3600 * S, "y"), (30 * 24 * 3600 * S, "mo"), (24 * 3600 * S, "d"), (3600 * S, "h"), (60 * S, "m"), (S, "s")];
    for (size, name) in units {
        if u > size {
            return Ok(string(format!("{}{name}", u / size)));
        }
    }
    Ok(string("0s"))
}
