//! Specification of the public API (the golden corpus under the repo's
//! tests/templates covers the template language and the functions).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ErrorKind, Limits, Renderer, TemplateScope, render, render_keys_and_values, render_scoped, render_string};

fn data(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
}

#[test]
fn renders_secret_values_into_the_template() {
    let d = data(&[("user", b"admin"), ("db-host", b"db.internal")]);
    let out = render("{{ .user }}@{{ index . \"db-host\" }}", &d).unwrap();
    assert_eq!(out, b"admin@db.internal");
}

#[test]
fn string_maps_work_as_data_too() {
    let d: BTreeMap<String, String> = [("k".to_string(), "v".to_string())].into();
    assert_eq!(render_string("{{ .k | upper }}", &d).unwrap(), "V");
}

#[test]
fn binary_values_pass_through_byte_for_byte() {
    let bytes: Vec<u8> = (0..=255u8).collect();
    let d = data(&[("blob", &bytes)]);
    assert_eq!(render("{{ .blob }}", &d).unwrap(), bytes);
    assert_eq!(render("{{ .blob | len }}", &d).unwrap(), b"256");
    assert_eq!(render("{{ .blob | b64enc | b64dec }}", &d).unwrap(), bytes);
}

#[test]
fn render_string_rejects_binary_output() {
    let d = data(&[("blob", &[0xff, 0xfe])]);
    assert_eq!(render_string("{{ .blob }}", &d).unwrap_err().kind, ErrorKind::Output);
}

#[test]
fn missing_keys_are_errors_with_a_position() {
    let err = render("ok\n  {{ .nope }}", &data(&[])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execute);
    assert_eq!((err.line, err.column), (2, 6), "1-based position of `.nope`");
    assert!(err.message.contains("nope"), "{err}");
}

#[test]
fn parse_errors_carry_line_and_column() {
    let err = render("a\nb {{ .x ", &data(&[])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Parse);
    assert_eq!(err.line, 2);
    assert!(err.column > 0);
    let err = render("{{ range . }}\n{{ . }}", &data(&[])).unwrap_err();
    assert!(err.message.contains("unexpected EOF"), "{err}");
}

#[test]
fn errors_never_contain_secret_values() {
    let d = data(&[("token", b"hunter2-super-secret")]);
    for template in ["{{ range .token }}{{ end }}", "{{ .token.x }}", "{{ .token | int | len }}", "{{ slice .token 1 }}"] {
        let err = render(template, &d).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{template}: {err}");
    }
}

#[test]
fn keys_and_values_scope_renders_a_string_map() {
    let d = data(&[("a", b"1")]);
    let out = render_keys_and_values("first: {{ .a | quote }}\nsecond: two\n", &d).unwrap();
    assert_eq!(out, BTreeMap::from([("first".into(), b"1".to_vec()), ("second".into(), b"two".to_vec())]));
    let values = render_scoped(TemplateScope::Values, "k", "{{ .a }}", &d).unwrap();
    assert_eq!(values, BTreeMap::from([("k".into(), b"1".to_vec())]));
    assert_eq!(render_keys_and_values("- a\n- b", &d).unwrap_err().kind, ErrorKind::Output);
}

#[test]
fn custom_delimiters() {
    let r = Renderer::default().with_delimiters("<<", ">>");
    assert_eq!(r.render("<< .a >> {{ .a }}", &data(&[("a", b"x")])).unwrap(), b"x {{ .a }}");
}

#[test]
fn limits_stop_runaway_templates() {
    let tight = Limits { max_output: 10, max_range_iterations: 50, ..Limits::default() };
    let r = Renderer::default().with_limits(tight);
    let d = data(&[]);
    assert_eq!(r.render("{{ repeat 11 \"x\" }}", &d).unwrap_err().kind, ErrorKind::Limit);
    assert_eq!(r.render("{{ range until 100 }}{{ end }}", &d).unwrap_err().kind, ErrorKind::Limit);
    let slow = Limits { max_duration: Duration::ZERO, ..Limits::default() };
    let err = Renderer::default().with_limits(slow).render("{{ upper \"a\" }}", &d).unwrap_err();
    assert!(err.message.contains("too long"), "{err}");
    let huge = "x".repeat(Limits::default().max_template + 1);
    assert_eq!(render(&huge, &d).unwrap_err().kind, ErrorKind::Limit);
}

#[test]
fn functions_eso_removed_are_unknown() {
    for f in ["env", "expandenv", "getHostByName"] {
        let err = render(&format!("{{{{ {f} \"x\" }}}}"), &data(&[])).unwrap_err();
        assert!(err.message.contains("not defined"), "{f}: {err}");
    }
}

#[test]
fn every_eso_helper_is_registered() {
    let names = super::functions::names();
    for f in [
        "pkcs12key",
        "pkcs12keyPass",
        "pkcs12cert",
        "pkcs12certPass",
        "pemToPkcs12",
        "pemToPkcs12Pass",
        "fullPemToPkcs12",
        "fullPemToPkcs12Pass",
        "pemTruststoreToPKCS12",
        "pemTruststoreToPKCS12Pass",
        "filterPEM",
        "filterCertChain",
        "certSANs",
        "jwkPublicKeyPem",
        "jwkPrivateKeyPem",
        "rsaDecrypt",
        "toYaml",
        "fromYaml",
    ] {
        assert!(names.contains(&f), "{f} is missing");
    }
}

#[test]
fn no_input_makes_it_panic() {
    let corpus = [
        "{{ if .a }}é{{ else if .b }}ü{{ end }}{{/* c */}}{{ range $k, $v := . }}{{ $k | quote }}{{ end }}",
        "{{ define \"x\" }}{{ template \"x\" . }}{{ end }}{{ `raw` | printf \"%q\" }}{{ 'a' }}",
        "{{- $d := dict \"k\" (list 1 2.5 \"✓\") -}}{{ $_ := set $d \"z\" nil }}{{ toYaml $d | nindent 2 }}",
        "{{ .a | b64dec | fromJson | toJson }}{{ index . \"a\" 0 }}{{ slice (list 1) 0 1 }}{{ 1e21 }}",
    ];
    let d = data(&[("a", b"\xff\x00{}"), ("b", "✓".as_bytes())]);
    for template in corpus {
        for end in (0..=template.len()).filter(|i| template.is_char_boundary(*i)) {
            let _ = render(&template[..end], &d);
            let _ = render(&template[end..], &d);
        }
    }
}
