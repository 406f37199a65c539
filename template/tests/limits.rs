//! The sandbox against hostile templates: each bomb a tenant could put in an ExternalSecret fails
//! with a limit error naming the limit, before it allocates what it asks for, and the whole run
//! stays within a small memory footprint (the process's peak RSS is checked at the end).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sesame_template::{ErrorKind, Limits, Renderer, TemplateError};

fn data() -> BTreeMap<String, Vec<u8>> {
    [("password".to_string(), b"hunter2-very-secret".to_vec())].into()
}

fn limit_error(limits: Limits, template: &str) -> TemplateError {
    match Renderer::default().with_limits(limits).render(template, &data()) {
        Ok(out) => panic!("{template:.80}: rendered {} bytes instead of failing", out.len()),
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Limit, "{template:.80}: {e}");
            e
        }
    }
}

fn bomb(template: &str) -> TemplateError {
    limit_error(Limits::default(), template)
}

/// `t0` calls `t1` twice, … down to `t{depth}`: 2^depth calls, no output, no function.
pub fn nested_calls(depth: usize) -> String {
    let mut t = String::new();
    for i in 0..depth {
        t.push_str(&format!("{{{{define \"t{i}\"}}}}{{{{template \"t{}\" .}}}}{{{{template \"t{}\" .}}}}{{{{end}}}}", i + 1, i + 1));
    }
    t.push_str(&format!("{{{{define \"t{depth}\"}}}}{{{{end}}}}{{{{template \"t0\" .}}}}"));
    t
}

#[test]
fn replace_computes_its_size_before_building_it() {
    let e = bomb(r#"{{ replace "" (repeat 1000 "y") (repeat 1000000 "x") }}"#);
    assert!(e.message.contains("replace") && e.message.contains("value size limit"), "{e}");
    // The reviewer's bomb: its arguments are already over the value size limit.
    let e = bomb(r#"{{ replace "" (repeat 2000000 "y") (repeat 2000000 "x") }}"#);
    assert!(e.message.contains("value size limit"), "{e}");
}

#[test]
fn indent_wrap_and_join_compute_their_size_first() {
    let e = bomb(r#"{{ indent 10000 (repeat 500000 "\n") }}"#);
    assert!(e.message.contains("indent") && e.message.contains("value size limit"), "{e}");
    let e = bomb(r#"{{ nindent 10000 (repeat 500000 "\n") }}"#);
    assert!(e.message.contains("nindent"), "{e}");
    let e = bomb(r#"{{ wrapWith 1 (repeat 100000 "z") (repeat 500000 "x") }}"#);
    assert!(e.message.contains("wrapWith") && e.message.contains("value size limit"), "{e}");
    let e = bomb(r#"{{ join (repeat 100000 "s") (until 30000) }}"#);
    assert!(e.message.contains("join"), "{e}");
}

#[test]
fn wrap_with_width_one_stays_linear() {
    let out = Renderer::default().render(r#"{{ wrap 1 (repeat 1000 "a ") }}"#, &data()).expect("renders");
    assert_eq!(out, "a\n".repeat(1000).into_bytes());
}

#[test]
fn regex_replacements_count_empty_matches_and_references() {
    let e = bomb(r#"{{ regexReplaceAll "" (repeat 500000 "x") (repeat 1000 "y") }}"#);
    assert!(e.message.contains("regexReplaceAll") && e.message.contains("value size limit"), "{e}");
    let e = bomb(r#"{{ regexReplaceAllLiteral "x*?" (repeat 500000 "x") (repeat 1000 "y") }}"#);
    assert!(e.message.contains("regexReplaceAllLiteral"), "{e}");
    let e = bomb(r#"{{ regexReplaceAll "(.*)" (repeat 500000 "x") (repeat 100 "$1") }}"#);
    assert!(e.message.contains("regexReplaceAll"), "{e}");
}

#[test]
fn lists_and_formats_are_sized_first() {
    let e = bomb(r#"{{ splitList "" (repeat 1000000 "x") }}"#);
    assert!(e.message.contains("splitList"), "{e}");
    let e = bomb(r#"{{ printf "%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s" (repeat 100000 "x") }}"#);
    assert!(e.message.contains("printf"), "{e}");
    let e = bomb(r#"{{ printf "%999999d%999999d" 1 2 }}"#);
    assert!(e.message.contains("printf"), "{e}");
}

#[test]
fn nested_template_calls_run_into_the_step_limit() {
    // (A smaller budget than the default so that a debug build reaches it before the time limit.)
    let e = limit_error(Limits { max_steps: 100_000, ..Limits::default() }, &nested_calls(40));
    assert!(e.message.contains("more than 100000 steps executed (step limit)"), "{e}");
    // Loops too: each iteration charges its body.
    let e = limit_error(Limits { max_steps: 1000, ..Limits::default() }, "{{ range until 5000 }}x{{ end }}");
    assert!(e.message.contains("more than 1000 steps"), "{e}");
}

#[test]
fn values_held_in_variables_count_against_the_memory_limit() {
    let template: String = (0..40).map(|i| format!("{{{{ $v{i} := repeat 1000000 \"x\" }}}}")).collect();
    let e = bomb(&template);
    assert!(e.message.contains("memory limit"), "{e}");
    // Passing values on costs nothing: a large secret read many times is fine.
    let ok = Renderer::default().with_limits(Limits { max_memory: 5000, ..Limits::default() });
    let big: BTreeMap<String, Vec<u8>> = [("k".to_string(), vec![b'v'; 100_000])].into();
    let out = ok.render("{{ range until 50 }}{{ $x := index $ \"k\" }}{{ $y := $.k | default \"d\" }}{{ end }}done", &big);
    assert_eq!(out.expect("renders"), b"done");
}

#[test]
fn the_deadline_is_checked_as_steps_run() {
    let e = limit_error(Limits { max_duration: Duration::from_millis(100), ..Limits::default() }, "{{ uniq (until 30000) | len }}");
    assert!(e.message.contains("time limit"), "{e}");
    let shared = Limits { deadline: Some(Instant::now()), ..Limits::default() };
    let e = limit_error(shared, &nested_calls(40));
    assert!(e.message.contains("time budget for this render ran out"), "{e}");
}

#[test]
fn a_cancelled_render_stops() {
    let cancel = Arc::new(AtomicBool::new(false));
    let limits = Limits { max_steps: u64::MAX, max_duration: Duration::from_secs(3600), cancel: Some(cancel.clone()), ..Limits::default() };
    let running = std::thread::spawn(move || Renderer::default().with_limits(limits).render(&nested_calls(40), &data()));
    // The render would run for hours; cancel it once it is under way.
    while !running.is_finished() {
        cancel.store(true, Ordering::Relaxed);
        std::thread::yield_now();
    }
    let e = running.join().expect("no panic").expect_err("cancelled");
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("cancelled"), "{e}");
}

#[test]
fn fail_text_is_the_templates_own_and_can_be_hidden() {
    let e = Renderer::default().render("{{ fail (b64enc .password) }}", &data()).expect_err("fails");
    assert!(e.template_text, "{e:?}");
    assert!(!e.value_free().contains("aHVudGVy"), "{}", e.value_free());
    assert!(e.value_free().contains("fail"), "{}", e.value_free());
    let other = Renderer::default().render("{{ .nope }}", &data()).expect_err("fails");
    assert!(!other.template_text);
    assert_eq!(other.value_free(), other.to_string());
}

#[test]
fn every_bomb_together_stays_within_a_small_footprint() {
    let bombs = [
        r#"{{ replace "" (repeat 1000 "y") (repeat 1000000 "x") }}"#.to_string(),
        r#"{{ indent 10000 (repeat 500000 "\n") }}"#.to_string(),
        r#"{{ wrapWith 1 (repeat 100000 "z") (repeat 500000 "x") }}"#.to_string(),
        r#"{{ regexReplaceAll "" (repeat 500000 "x") (repeat 1000 "y") }}"#.to_string(),
        (0..40).map(|i| format!("{{{{ $v{i} := repeat 1000000 \"x\" }}}}")).collect(),
        nested_calls(40),
    ];
    for b in &bombs {
        bomb(b);
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    assert!(peak_kb < 512 * 1024, "peak RSS {peak_kb} kB while rendering the bombs");
}
