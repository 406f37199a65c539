//! Memory and CPU of a process from /proc (Linux), without a libc binding.
use std::time::{Duration, Instant};

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// Resident set size now (`VmRSS`).
    pub rss_bytes: u64,
    /// Of which file-backed (`RssFile`): mostly the binary's own mapped code, the same at any N.
    pub rss_file_bytes: u64,
    /// Peak resident set size (`VmHWM`).
    pub hwm_bytes: u64,
    /// User plus system CPU time consumed so far.
    pub cpu: Duration,
}

pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    Ok(Sample {
        at: Instant::now(),
        rss_bytes: kib("VmRSS:"),
        rss_file_bytes: kib("RssFile:"),
        hwm_bytes: kib("VmHWM:"),
        cpu: cpu_time(&stat)?,
    })
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks converted to time.
fn cpu_time(stat: &str) -> anyhow::Result<Duration> {
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    let after = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow::anyhow!("malformed stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so utime (14) is index 11.
    let ticks: u64 =
        fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0) + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Mean RSS, peak HWM and CPU share of one core over `window`, sampling every `every`.
pub async fn observe(pid: u32, window: Duration, every: Duration) -> anyhow::Result<(u64, u64, f64)> {
    let first = sample(pid)?;
    let mut rss = Vec::new();
    let mut last = first;
    while last.at.duration_since(first.at) < window {
        tokio::time::sleep(every.min(window)).await;
        last = sample(pid)?;
        rss.push(last.rss_bytes);
    }
    let mean = rss.iter().sum::<u64>() / rss.len().max(1) as u64;
    let secs = last.at.duration_since(first.at).as_secs_f64();
    let cpu = (last.cpu.saturating_sub(first.cpu)).as_secs_f64() / secs.max(1e-9) * 100.0;
    Ok((mean, last.hwm_bytes, cpu))
}

/// The 1-minute load average, to record how busy the shared machine was.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok())).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_from_the_last_parenthesis() {
        let stat = "42 (a (b) c) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_time(stat).unwrap(), Duration::from_secs_f64(300.0 / clock_ticks() as f64));
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0 && s.hwm_bytes >= s.rss_bytes);
    }
}
