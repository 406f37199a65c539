//! `heap-top PROFILE.json [COUNT] [FRAME-FILTER]`: the allocation sites of a dhat heap profile
//! (a `heap-profile` build of sesame, see BENCHMARKS.md) that hold the most bytes when the profile
//! was written, each with its live bytes and blocks and the frames that say whose they are.
//! Frames in the allocator, serde and std are left out; FRAME-FILTER (default `sesame|kube`) picks
//! the frame a site is grouped under in the summary.
#![forbid(unsafe_code)]
use std::collections::HashMap;

use anyhow::Context;
use serde::Deserialize;

#[derive(Deserialize)]
struct Profile {
    pps: Vec<Site>,
    ftbl: Vec<String>,
}

#[derive(Deserialize)]
struct Site {
    /// Bytes and blocks live at the end (when the profile was written).
    eb: u64,
    ebk: u64,
    fs: Vec<usize>,
}

const NOISE: &[&str] = &[
    "alloc::",
    "core::",
    "std::",
    "serde::",
    "serde_json::",
    "hashbrown::",
    "dhat::",
    "<alloc::",
    "<core::",
    "<serde",
    "<std::",
    "<hashbrown",
    "<T as ",
    "[root]",
];

/// `0x1234: name (file:line:col)` → `name (file:line)`, without the address.
fn frame(text: &str) -> String {
    let text = text.split_once(": ").map_or(text, |(_, rest)| rest);
    text.replace("/rustc/", "").chars().take(200).collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).context("usage: heap-top PROFILE.json [COUNT] [FRAME-FILTER]")?;
    let count: usize = args.get(2).map(|c| c.parse()).transpose()?.unwrap_or(25);
    let filter = regex_lite(args.get(3).map_or("sesame|kube", String::as_str));
    let profile: Profile = serde_json::from_str(&std::fs::read_to_string(path)?).context("not a dhat profile")?;
    let total: u64 = profile.pps.iter().map(|s| s.eb).sum();
    let blocks: u64 = profile.pps.iter().map(|s| s.ebk).sum();
    println!("live at the end: {total} bytes in {blocks} blocks, {} sites\n", profile.pps.len());
    let frames = |s: &Site| -> Vec<String> {
        s.fs.iter().map(|&i| frame(&profile.ftbl[i])).filter(|f| !NOISE.iter().any(|n| f.starts_with(n))).collect()
    };
    let mut by_owner: HashMap<String, (u64, u64)> = HashMap::new();
    for site in &profile.pps {
        let owner = frames(site).into_iter().find(|f| filter.iter().any(|w| f.contains(w.as_str()))).unwrap_or_else(|| "?".into());
        let e = by_owner.entry(owner).or_default();
        e.0 += site.eb;
        e.1 += site.ebk;
    }
    let mut owners: Vec<_> = by_owner.into_iter().collect();
    owners.sort_by_key(|(_, (b, _))| std::cmp::Reverse(*b));
    println!("by first frame matching the filter:");
    for (owner, (bytes, blocks)) in owners.iter().take(count) {
        println!("{bytes:>12} B {blocks:>9} blocks  {:>5.1} %  {owner}", 100.0 * *bytes as f64 / total.max(1) as f64);
    }
    let mut sites: Vec<&Site> = profile.pps.iter().filter(|s| s.eb > 0).collect();
    sites.sort_by_key(|s| std::cmp::Reverse(s.eb));
    println!("\ntop sites:");
    for site in sites.into_iter().take(count) {
        println!("{:>12} B {:>9} blocks", site.eb, site.ebk);
        for f in frames(site).into_iter().take(8) {
            println!("        {f}");
        }
    }
    Ok(())
}

/// `a|b|c` → the alternatives (no regex crate needed for a plain substring match).
fn regex_lite(pattern: &str) -> Vec<String> {
    pattern.split('|').map(str::to_string).collect()
}
