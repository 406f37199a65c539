//! A private kube-apiserver (and its own etcd) for tests that stop, restart and compact: the
//! shared servers are never touched. Same binaries, flags, certificates and tokens as the test
//! environment's, read from the running processes (`<state>/pids/<name>.pid` and `/proc`).
use std::path::PathBuf;

/// The binary and arguments of a running test-environment server. Panics (a missing server is a
/// failure, never a skip) when it is not running.
pub fn testenv_process(name: &str) -> (PathBuf, Vec<String>) {
    let pidfile = sesame_testsupport::env().state_dir.join("pids").join(format!("{name}.pid"));
    let text = std::fs::read_to_string(&pidfile).unwrap_or_else(|e| panic!("{name} is not running ({}: {e})", pidfile.display()));
    let pid = text.split_whitespace().next().unwrap_or_default();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_else(|e| panic!("{name} (pid {pid}) is not running: {e}"));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).skip(1).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    (exe, args)
}
