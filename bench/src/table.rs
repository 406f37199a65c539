//! The report as a Markdown table (what BENCHMARKS.md holds), targets alongside.
use crate::Report;

const MIB: f64 = 1024.0 * 1024.0;

fn flags(args: &[String]) -> String {
    if args.is_empty() { String::new() } else { format!(" (`{}`)", args.join(" ")) }
}

pub fn render(r: &Report) -> String {
    let mut rows: Vec<[String; 3]> = Vec::new();
    let mut row = |what: &str, measured: String, target: &str| rows.push([what.into(), measured, target.into()]);
    // `--openbao-only` measures no floor.
    if r.floor_secs > 0.0 {
        row("floor: bare client writes N Secrets", format!("{:.1} s ({:.0}/s)", r.floor_secs, r.n as f64 / r.floor_secs.max(1e-9)), "—");
    }
    // `--first-sync-only` measures no fake population: no rows for it.
    let fake = r.first_sync_secs > 0.0;
    if fake {
        // `--memory-only` measures no floor either: no ratio to one.
        let ratio = match r.floor_secs > 0.0 {
            true => format!(" ({:.2} × floor)", r.first_sync_secs / r.floor_secs),
            false => String::new(),
        };
        row("first sync: N ExternalSecrets to all Ready", format!("{:.1} s{ratio}", r.first_sync_secs), "≤ 1.3 × floor");
        let by = r.first_sync_requests.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
        row("… of which creating the ExternalSecrets", format!("{:.1} s", r.first_sync_create_secs), "—");
        row("apiserver requests during the first sync", by, "—");
    }
    if let Some(c) = &r.controller_first_sync {
        let ratio = c.secs / r.floor_secs.max(1e-9);
        row(
            "first sync, controller side: N created before sesame starts, process start to all Ready",
            format!("{:.1} s ({ratio:.2} × floor; ready after {:.1} s)", c.secs, c.ready_secs),
            "≤ 1.3 × floor",
        );
        let (per, once) = crate::scenarios::prestarted::per_sync(c);
        let per = per.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>().join(", ");
        let once = once.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
        row("… apiserver requests per sync (requests ÷ N)", per, "—");
        if r.status_floor_secs > 0.0 {
            let both = r.floor_secs + r.status_floor_secs;
            row(
                "… bare client writes N ExternalSecret statuses (status floor); floor + status floor",
                format!("{:.1} s; {both:.1} s (sesame took {:.2} × that)", r.status_floor_secs, c.secs / both.max(1e-9)),
                "—",
            );
        }
        row("… and in all, not per object (start-up lists and watches)", once, "—");
        row(
            "… sesame peak RSS and CPU at the last Ready; the harness's peak RSS",
            format!(
                "{:.1} MiB, {:.1} s CPU; harness {:.1} MiB",
                c.peak_rss_bytes as f64 / MIB,
                c.cpu_secs,
                c.harness_peak_rss_bytes as f64 / MIB
            ),
            "—",
        );
    }
    if fake {
        row(
            "idle RSS, 0 ExternalSecrets",
            format!("{:.1} MiB (of which file-backed {:.1})", r.idle_rss_bytes as f64 / MIB, r.idle_rss_file_bytes as f64 / MIB),
            "≤ 25 MiB",
        );
    }
    if let Some(s) = &r.steady {
        row(
            "steady RSS, N synced (mean)",
            format!(
                "{:.1} MiB (peak {:.1}; of which file-backed {:.1})",
                s.rss_bytes as f64 / MIB,
                s.hwm_bytes as f64 / MIB,
                s.rss_file_bytes as f64 / MIB
            ),
            "≤ 48 MiB",
        );
        row("bytes per ExternalSecret", format!("{:.0}", s.bytes_per_external_secret), "—");
        row(&format!("idle CPU over {:.0} s", s.window_secs), format!("{:.2} % of a core", s.cpu_percent), "≤ 1 %");
    }
    if let Some(a) = &r.aws {
        row(
            &format!("AWS first sync: {} ES over K = {} keys{}", a.n, a.k, flags(&a.args)),
            format!("{} BatchGetSecretValue + {} GetSecretValue", a.first_sync_batch, a.first_sync_single),
            &format!("⌈K/20⌉ = {}", a.expected_first_sync),
        );
        if a.cycle_secs > 0.0 {
            row(
                "AWS calls over one refresh cycle",
                format!("{} BatchGetSecretValue + {} GetSecretValue", a.cycle_batch, a.cycle_single),
                "—",
            );
        }
    }
    if let Some(o) = &r.openbao {
        row(
            &format!("OpenBao first sync: {} ES over K = {} paths, one store, created before sesame starts", o.n, o.k),
            format!(
                "{} reads; {:.1} s process start to all Ready (ready after {:.1} s); {:.1} MiB peak RSS, {:.1} s CPU",
                o.first_sync_reads,
                o.secs,
                o.ready_secs,
                o.peak_rss_bytes as f64 / MIB,
                o.cpu_secs
            ),
            &format!("K = {} reads", o.k),
        );
        if o.cycle_secs > 0.0 {
            row(
                "… OpenBao reads re-syncing all N after their refreshInterval changed",
                format!("{} reads", o.resync_reads),
                &format!("K = {}", o.k),
            );
            row(
                &format!("… OpenBao reads over one refresh cycle ({:.0} s interval)", o.interval_secs),
                format!("{} reads (every object refreshed in {:.0} s)", o.cycle_reads, o.cycle_secs),
                &format!("K = {}", o.k),
            );
        }
    }
    if let Some(q) = &r.quiet_restart {
        row(
            "provider calls in the first minute after a restart, nothing due",
            format!("{} ({} objects seen Ready)", q.provider_calls, q.ready_seen),
            "0",
        );
    }
    if let Some(s) = &r.storm {
        let per = s.calls_per_minute.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        row(
            &format!("restart under refresh ({:.0} s interval): calls per minute", s.interval_secs),
            format!("[{per}]; storm factor {:.2}", s.storm_factor),
            "storm factor ≤ 2",
        );
    }
    if let Some(o) = &r.new_objects {
        row(
            &format!("{} new ExternalSecrets while N refresh", o.count),
            format!("p50 {:.2} s, p100 {:.2} s (all in {:.2} s)", o.p50_secs, o.p100_secs, o.all_ready_secs),
            "all ≤ 10 s",
        );
    }
    if let Some(a) = &r.apiserver {
        let by = a.requests.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
        row(&format!("apiserver requests, one idle cycle ({:.0} s)", a.interval_secs), by, "no Secret writes");
    }
    let mut out = format!("N = {}, commit {}, load {:.2} → {:.2}\n\n", r.n, r.commit, r.load_before, r.load_after);
    out.push_str("| measurement | measured | target (N = 10,000) |\n| --- | --- | --- |\n");
    for [a, b, c] in rows {
        out.push_str(&format!("| {a} | {b} | {c} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Steady;

    #[test]
    fn the_table_shows_the_ratio_to_the_floor_and_skipped_phases_leave_no_row() {
        let r = Report { n: 10, floor_secs: 2.0, first_sync_secs: 3.0, steady: Some(Steady::default()), ..Default::default() };
        let t = render(&r);
        assert!(t.contains("1.50 × floor"), "{t}");
        assert!(t.contains("idle CPU"));
        assert!(!t.contains("storm factor "), "{t}");
        let memory_only = render(&Report { floor_secs: 0.0, ..r });
        assert!(memory_only.contains("3.0 s |") && !memory_only.contains("× floor)"), "no floor, no ratio: {memory_only}");
    }

    #[test]
    fn the_controller_side_first_sync_shows_its_ratio_and_requests_per_sync() {
        let requests = [("APPLY secrets".to_string(), 1000), ("LIST secrets".to_string(), 1)].into();
        let c = crate::ControllerFirstSync { n: 1000, secs: 2.6, requests, ..Default::default() };
        let t = render(&Report { n: 1000, floor_secs: 2.0, controller_first_sync: Some(c), ..Default::default() });
        assert!(t.contains("2.6 s (1.30 × floor"), "{t}");
        assert!(t.contains("| APPLY secrets 1.00 |"), "{t}");
        assert!(t.contains("| LIST secrets 1 |"), "{t}");
        assert!(!t.contains("idle RSS"), "no fake population was measured: {t}");
    }

    #[test]
    fn the_status_floor_is_added_to_the_floor_as_what_n_syncs_cost_the_apiserver() {
        let c = crate::ControllerFirstSync { n: 1000, secs: 6.0, ..Default::default() };
        let t = render(&Report { n: 1000, floor_secs: 1.0, status_floor_secs: 2.0, controller_first_sync: Some(c), ..Default::default() });
        assert!(t.contains("2.0 s; 3.0 s (sesame took 2.00 × that)"), "{t}");
    }

    #[test]
    fn the_openbao_row_sets_reads_against_k_and_an_openbao_only_run_has_no_floor_row() {
        let o = crate::OpenBaoCalls {
            n: 200,
            k: 20,
            first_sync_reads: 20,
            resync_reads: 21,
            cycle_reads: 22,
            cycle_secs: 130.0,
            ..Default::default()
        };
        let t = render(&Report { n: 200, openbao: Some(o), ..Default::default() });
        assert!(t.contains("| OpenBao first sync: 200 ES over K = 20 paths, one store, created before sesame starts | 20 reads;"), "{t}");
        assert!(t.contains("| 21 reads | K = 20 |"), "{t}");
        assert!(t.contains("| 22 reads (every object refreshed in 130 s) | K = 20 |"), "{t}");
        assert!(!t.contains("floor"), "no floor was measured: {t}");
    }
}
