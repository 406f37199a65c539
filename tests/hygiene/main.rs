//! Project hygiene that no compiler flag checks for us: no `unsafe` anywhere in the workspace.
//!
//! Every crate root (each workspace member's `src/lib.rs`, `src/main.rs` and `src/bin/*.rs`) must
//! carry `#![forbid(unsafe_code)]`, so `unsafe` cannot come in later through a module of that
//! crate (forbid, unlike deny, cannot be lifted by an inner `#[allow]`). Test, example and bench
//! roots are outside the shipped binary and are not required to.
#![forbid(unsafe_code)]
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `members = [...]` of the root Cargo.toml (a plain list of paths, as this repository writes it).
fn workspace_members() -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let start = manifest.find("members").expect("Cargo.toml has a [workspace] members list");
    let list = &manifest[start..];
    let open = list.find('[').expect("members = [");
    let close = list.find(']').expect("members = [...]");
    let members: Vec<PathBuf> =
        list[open + 1..close].split(',').map(|m| m.trim().trim_matches('"')).filter(|m| !m.is_empty()).map(|m| root().join(m)).collect();
    assert!(members.len() >= 2, "found too few workspace members: {members:?}");
    members
}

fn crate_roots(member: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"].iter().map(|f| member.join(f)).filter(|p| p.is_file()).collect();
    if let Ok(bins) = std::fs::read_dir(member.join("src/bin")) {
        for entry in bins.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "rs") {
                roots.push(p);
            } else if p.join("main.rs").is_file() {
                roots.push(p.join("main.rs"));
            }
        }
    }
    roots
}

/// `#![forbid(unsafe_code)]` as an inner attribute before the first item (comments may precede it).
fn forbids_unsafe(source: &str) -> bool {
    source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .take_while(|l| l.starts_with("#!["))
        .any(|l| l.replace(' ', "").starts_with("#![forbid(") && l.contains("unsafe_code"))
}

#[test]
fn every_crate_root_forbids_unsafe_code() {
    let mut missing = Vec::new();
    let mut checked = 0;
    for member in workspace_members() {
        let roots = crate_roots(&member);
        assert!(!roots.is_empty(), "workspace member {} has no crate root", member.display());
        for file in roots {
            checked += 1;
            let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            if !forbids_unsafe(&source) {
                missing.push(file.strip_prefix(root()).unwrap_or(&file).display().to_string());
            }
        }
    }
    println!("hygiene: {checked} crate roots checked");
    assert!(missing.is_empty(), "crate roots without #![forbid(unsafe_code)]: {missing:?}");
}

/// Belt and braces: no `unsafe` block, fn, impl or trait in any source file of the workspace
/// (tests included), so a crate root that lost its attribute is caught here too.
#[test]
fn no_source_file_uses_unsafe() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() && !matches!(name, "target" | ".git" | ".testenv" | "node_modules") && !name.starts_with('.') {
                walk(&p, out);
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for top in ["src", "template", "providers", "generators", "bench", "tests"] {
        walk(&root().join(top), &mut files);
    }
    let pattern = regex::Regex::new(r"\bunsafe\s*(\{|fn\b|impl\b|trait\b|extern\b)").expect("regex");
    let mut hits = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if pattern.is_match(code) {
                hits.push(format!("{}:{}: {}", f.strip_prefix(root()).unwrap_or(f).display(), n + 1, line.trim()));
            }
        }
    }
    println!("hygiene: {} source files scanned for unsafe", files.len());
    assert!(hits.is_empty(), "unsafe code found:\n{}", hits.join("\n"));
}

/// The image is built from a copy of the repository: every workspace member must be in it, or
/// `cargo build --locked` cannot even read the workspace.
#[test]
fn the_containerfile_copies_every_workspace_member() {
    let containerfile = std::fs::read_to_string(root().join("deploy/image/Containerfile")).expect("read the Containerfile");
    let copied: Vec<&str> = containerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            parts[..parts.len().saturating_sub(1)].to_vec()
        })
        .collect();
    let missing: Vec<String> = workspace_members()
        .iter()
        .map(|m| m.strip_prefix(root()).unwrap_or(m).to_string_lossy().into_owned())
        .map(|m| if m.is_empty() || m == "." { "src".to_string() } else { m })
        .filter(|m| !copied.iter().any(|c| m == c || m.starts_with(&format!("{c}/"))))
        .collect();
    assert!(missing.is_empty(), "deploy/image/Containerfile does not COPY {missing:?} (copies {copied:?})");
    // `.cargo/config.toml` sets how jemalloc is built: without it the image is not what
    // BENCHMARKS.md measured.
    assert!(copied.contains(&".cargo"), "deploy/image/Containerfile does not COPY .cargo (copies {copied:?})");
}
