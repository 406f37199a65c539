//! The template engine (`sesame_template::render`): templates come from ExternalSecrets and
//! ConfigMaps, data from providers. No panic, bounded by the engine's own limits (time, output),
//! and no secret value in an error message.
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use proptest::prelude::*;
use sesame_template::{ErrorKind, Limits, Renderer, render};

use crate::{fuzz, inputs};

const MARK: &str = "S3CR3T";

/// Template syntax, functions (sprig and ESO's) and arguments, to be strung together at random.
/// Left out: `fail` (prints what it is given, by design) and the key generators and KDFs
/// (`genPrivateKey`, `derivePassword`), whose single call outlasts the budget in a debug build.
const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "text",
    "\n",
    ".a",
    ".b",
    ".c",
    ".missing",
    ".",
    "$",
    "$x := .a",
    "$x",
    "range",
    "end",
    "if",
    "else",
    "with",
    "define \"t\"",
    "template \"t\" .",
    "block \"b\" .",
    "index . \"a\"",
    "|",
    "upper",
    "lower",
    "b64enc",
    "b64dec",
    "toJson",
    "fromJson",
    "toYaml",
    "fromYaml",
    "printf \"%s\"",
    "printf \"%d\"",
    "repeat 3",
    "repeat 99999999",
    "trunc 2",
    "default \"d\"",
    "quote",
    "squote",
    "split \",\"",
    "join \",\"",
    "list",
    "dict",
    "dict \"k\"",
    "get",
    "set",
    "merge",
    "keys",
    "values",
    "sha256sum",
    "int",
    "atoi",
    "int64",
    "float64",
    "toString",
    "replace \"a\" \"b\"",
    "nindent 2",
    "indent 99999",
    "(",
    ")",
    "\"str\"",
    "1",
    "-1",
    "99999999999999999999",
    "nil",
    "true",
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "len",
    "slice",
    "first",
    "last",
    "until 5",
    "until 99999999",
    "seq 1 3",
    "pkcs12key",
    "pkcs12cert",
    "filterPEM \"CERTIFICATE\"",
    "jwkPublicKeyPem",
    "jwkPrivateKeyPem",
    "getHostByName",
    "env \"HOME\"",
    "expandenv",
    "regexFind \"a+\"",
    "regexReplaceAll \"(\" ",
    "mustRegexMatch \"[\"",
    "semverCompare \">1\"",
    "date \"2006\"",
    "now",
    "uuidv4",
    "randAlpha 4",
    "htpasswd \"u\"",
    "tpl",
    "required \"r\"",
    "fromJsonArray",
    "toRawJson",
    "deepCopy",
    "ternary",
    "coalesce",
    "empty",
    "hasKey",
    "pluck",
    "cat",
    "trim",
    // Pieces of the template bombs (see BOMBS).
    "replace \"\"",
    "repeat 1000000",
    "repeat 2000000 \"x\"",
    "indent 10000",
    "wrapWith 1",
    "wrap 1",
    "regexReplaceAll \"\"",
    "regexReplaceAll \"(.*)\"",
    "join",
    "splitList \"\"",
    "printf \"%[1]s%[1]s%[1]s%[1]s\"",
    "uniq",
    "template \"t\" . }}{{ template \"t\" .",
];

/// Templates that asked the engine for gigabytes or 2^40 steps before it computed sizes first
/// and counted steps: each must fail with a limit error, alone and inside random surroundings.
pub const BOMBS: &[&str] = &[
    r#"{{ replace "" (repeat 2000000 "y") (repeat 2000000 "x") }}"#,
    r#"{{ replace "" (repeat 1000 "y") (repeat 1000000 "x") }}"#,
    r#"{{ indent 10000 (repeat 500000 "\n") }}"#,
    r#"{{ nindent 10000 (repeat 500000 "\n") }}"#,
    r#"{{ wrapWith 1 (repeat 100000 "z") (repeat 500000 "x") }}"#,
    r#"{{ regexReplaceAll "" (repeat 500000 "x") (repeat 1000 "y") }}"#,
    r#"{{ regexReplaceAll "(.*)" (repeat 500000 "x") (repeat 100 "$1") }}"#,
    r#"{{ join (repeat 100000 "s") (until 30000) }}"#,
    r#"{{ splitList "" (repeat 1000000 "x") }}"#,
    r#"{{ printf "%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s" (repeat 100000 "x") }}"#,
    r#"{{ $a := repeat 1000000 "x" }}{{ $b := repeat 1000000 "x" }}{{ $c := repeat 1000000 "x" }}{{ $d := repeat 1000000 "x" }}{{ $e := repeat 1000000 "x" }}{{ $f := repeat 1000000 "x" }}{{ $g := repeat 1000000 "x" }}{{ $h := repeat 1000000 "x" }}{{ $i := repeat 1000000 "x" }}{{ $j := repeat 1000000 "x" }}{{ $k := repeat 1000000 "x" }}{{ $l := repeat 1000000 "x" }}{{ $m := repeat 1000000 "x" }}{{ $n := repeat 1000000 "x" }}{{ $o := repeat 1000000 "x" }}{{ $p := repeat 1000000 "x" }}{{ $q := repeat 1000000 "x" }}{{ $r := repeat 1000000 "x" }}{{ $s := repeat 1000000 "x" }}{{ $t := repeat 1000000 "x" }}{{ $u := repeat 1000000 "x" }}{{ $v := repeat 1000000 "x" }}{{ $w := repeat 1000000 "x" }}{{ $x := repeat 1000000 "x" }}{{ $y := repeat 1000000 "x" }}{{ $z := repeat 1000000 "x" }}{{ $aa := repeat 1000000 "x" }}{{ $ab := repeat 1000000 "x" }}{{ $ac := repeat 1000000 "x" }}{{ $ad := repeat 1000000 "x" }}{{ $ae := repeat 1000000 "x" }}{{ $af := repeat 1000000 "x" }}{{ $ag := repeat 1000000 "x" }}{{ $ah := repeat 1000000 "x" }}"#,
];

/// `t0` calls `t1` twice, … down to `t{depth}`.
fn nested_calls(depth: usize) -> String {
    let mut t = String::new();
    for i in 0..depth {
        t.push_str(&format!("{{{{define \"t{i}\"}}}}{{{{template \"t{}\" .}}}}{{{{template \"t{}\" .}}}}{{{{end}}}}", i + 1, i + 1));
    }
    t.push_str(&format!("{{{{define \"t{depth}\"}}}}{{{{end}}}}{{{{template \"t0\" .}}}}"));
    t
}

fn template() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => inputs::text(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.join(" "))
}

fn data() -> BTreeMap<String, Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{MARK}-b64"));
    [
        ("a".to_string(), format!("{MARK}-plain").into_bytes()),
        ("b".to_string(), format!("{{\"k\":\"{MARK}-json\",\"n\":[1,2]}}").into_bytes()),
        ("c".to_string(), b64.into_bytes()),
    ]
    .into()
}

#[test]
fn render_never_panics_stays_within_its_limits_and_errors_name_no_value() {
    let limits = Limits::default();
    let ceiling = limits.max_duration + Duration::from_secs(3);
    let data = data();
    fuzz("template::render", 3000, template(), |t| {
        let started = std::time::Instant::now();
        let out = render(&t, &data);
        let took = started.elapsed();
        prop_assert!(took < ceiling, "render took {took:?}, budget {:?}", limits.max_duration);
        match out {
            Ok(bytes) => prop_assert!(bytes.len() <= limits.max_output, "output of {} bytes", bytes.len()),
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!text.contains(MARK), "a secret value leaked into a template error: {text}");
            }
        }
        Ok(())
    });
}

#[test]
fn well_formed_actions_on_values_never_panic() {
    // `{{ <pipeline> }}` with 1–4 stages, so most inputs parse and reach the functions.
    let stage = prop::sample::select(PIECES).prop_filter("no delimiters", |p| !p.contains("{{") && !p.contains("}}"));
    let pipeline = prop::collection::vec(stage, 1..5).prop_map(|v| format!("{{{{ {} }}}}", v.join(" | ")));
    let data = data();
    fuzz("template::render pipelines", 3000, pipeline, |t| {
        let out = crate::bounded("render", || render(&t, &data));
        // A render may use its whole 5 s budget; `bounded` allows 2 s, so only fail on a panic.
        if let Ok(Err(e)) = out {
            prop_assert!(!e.to_string().contains(MARK), "a secret value leaked into a template error: {e}");
        }
        Ok(())
    });
}

#[test]
fn bombs_fail_on_a_limit_alone_and_in_random_surroundings() {
    // A smaller step budget than the default, so that a debug build reaches it before its time limit.
    let renderer = Renderer::default().with_limits(Limits { max_steps: 100_000, ..Limits::default() });
    let data = data();
    let bombs: Vec<String> = BOMBS.iter().map(|b| b.to_string()).chain([nested_calls(40)]).collect();
    for b in &bombs {
        let e = renderer.render(b, &data).expect_err(b);
        assert_eq!(e.kind, ErrorKind::Limit, "{b:.80}: {e}");
    }
    let around = (prop::sample::select(bombs), template(), template());
    fuzz("template bombs in random surroundings", 60, around, |(bomb, before, after)| {
        let t = format!("{before}{bomb}{after}");
        match renderer.render(&t, &data) {
            Ok(out) => prop_assert!(out.len() <= Limits::default().max_output),
            Err(e) => prop_assert!(!e.to_string().contains(MARK), "a secret value leaked into a template error: {e}"),
        }
        Ok(())
    });
}
