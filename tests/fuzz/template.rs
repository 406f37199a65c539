//! The template engine (`sesame_template::render`): templates come from ExternalSecrets and
//! ConfigMaps, data from providers. No panic, bounded by the engine's own limits (time, output),
//! and no secret value in an error message.
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use proptest::prelude::*;
use sesame_template::{Limits, render};

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
];

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
