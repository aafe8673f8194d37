//! The layer rules, checked on the sources:
//! - the simulation core (src/core) parses strings and returns values; it
//!   never touches files, images, windows or the GPU, and never imports the
//!   application;
//! - the core's parts are layered (error and timing, geometry, input, engine,
//!   study, trainer, report): each imports only from the parts below it;
//! - the renderer (src/gpu) imports nothing from the application;
//! - no two files of src/core or src/gpu import each other, directly or
//!   through others (no import circle).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::path",
    "File::",
    "image::",
    "plotters",
    "wgpu",
    "winit",
    "egui",
    "crate::app",
    "crate::gpu",
    "println!",
    "eprintln!",
];

/// Each part of the core and the parts it may import from (besides itself).
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("format", &[]),
    ("timing", &[]),
    ("geometry", &["error", "format", "timing"]),
    ("input", &["error", "format", "timing", "geometry"]),
    ("engine", &["error", "format", "timing", "geometry", "input"]),
    ("study", &["error", "format", "timing", "geometry", "input", "engine"]),
    ("trainer", &["error", "format", "timing", "geometry", "input", "engine", "study"]),
    ("report", &["error", "format", "timing", "geometry", "input", "engine"]),
];

use crate::{repo_root as root, rust_files as sources};

/// The code of a file without its comments (line comments and doc comments).
fn code_lines(text: &str) -> Vec<(usize, String)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string())).collect()
}

/// The module path of a source file under src (`src/core/engine/zone.rs` ->
/// `["core", "engine", "zone"]`; a `mod.rs` is its folder's module).
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root().join("src")).expect("under src");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    if last != "mod.rs" && last != "lib.rs" {
        parts.push(last.trim_end_matches(".rs").to_string());
    }
    parts
}

/// The source file holding the longest prefix of a module path.
fn file_of(path: &[String]) -> Option<PathBuf> {
    for n in (1..=path.len()).rev() {
        let base = path[..n].iter().fold(root().join("src"), |p, s| p.join(s));
        for candidate in [base.with_extension("rs"), base.join("mod.rs")] {
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Module paths a file refers to: `crate::a::b`, `super::a`, `self::a`, a
/// child module it declares (`mod a;` then `a::b`), and grouped imports
/// `crate::a::{b, c::d}` (their first level inside the braces).
fn references(file: &Path, text: &str) -> Vec<(usize, Vec<String>)> {
    let me = module_of(file);
    // `super` is the module's parent (for a `mod.rs`, its folder's parent).
    let sup: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
    // The child modules this file declares, for paths that start with one.
    let children: Vec<String> = code_lines(text)
        .iter()
        .filter_map(|(_, l)| {
            let l = l.trim().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            l.strip_prefix("mod ")?.strip_suffix(';').map(|m| m.trim().to_string())
        })
        .collect();
    let mut starts: Vec<(String, Vec<String>)> = vec![
        ("crate::".to_string(), Vec::new()),
        ("super::".to_string(), sup.clone()),
        ("self::".to_string(), me.clone()),
    ];
    for c in &children {
        let mut base = me.clone();
        base.push(c.clone());
        starts.push((format!("{c}::"), base));
    }
    let mut out = Vec::new();
    for (line, code) in code_lines(text) {
        for (start, base) in starts.iter().map(|(s, b)| (s.as_str(), b.clone())) {
            let mut rest = code.as_str();
            while let Some(i) = rest.find(start) {
                let before = rest[..i].chars().last();
                rest = &rest[i + start.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut path = base.clone();
                let mut tail = rest;
                loop {
                    let seg: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if seg.is_empty() {
                        break;
                    }
                    path.push(seg.clone());
                    tail = &tail[seg.len()..];
                    if let Some(t) = tail.strip_prefix("::") {
                        tail = t;
                    } else {
                        break;
                    }
                }
                if let Some(group) = tail.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap_or("");
                    for item in inner.split(',') {
                        let first: Vec<String> = item
                            .trim()
                            .split("::")
                            .next()
                            .unwrap_or("")
                            .split(" as ")
                            .next()
                            .map(|s| s.trim().to_string())
                            .into_iter()
                            .filter(|s| !s.is_empty() && s != "self" && s != "*")
                            .collect();
                        let mut p = path.clone();
                        p.extend(first);
                        out.push((line, p));
                    }
                } else if !path.is_empty() {
                    out.push((line, path));
                }
            }
        }
    }
    out
}

#[test]
fn the_core_has_no_file_image_window_or_gpu_dependency() {
    let files = sources(&root().join("src/core"));
    for path in &files {
        let text = std::fs::read_to_string(path).expect("source");
        for (i, code) in code_lines(&text) {
            for f in FORBIDDEN {
                assert!(!code.contains(f), "{}:{i}: the core must not use `{f}`: {code}", path.display());
            }
        }
    }
    assert!(files.len() >= 25, "found only {} core files", files.len());
}

#[test]
fn each_part_of_the_core_imports_only_from_the_parts_below_it() {
    let mut checked = 0;
    for path in sources(&root().join("src/core")) {
        let me = module_of(&path);
        let Some(part) = me.get(1) else { continue };
        let allowed = LAYERS.iter().find(|(p, _)| p == part).unwrap_or_else(|| panic!("{part}: not a known layer")).1;
        let text = std::fs::read_to_string(&path).expect("source");
        for (line, r) in references(&path, &text) {
            if r.first().map(String::as_str) != Some("core") || r.len() < 2 {
                continue;
            }
            let target = r[1].as_str();
            assert!(
                target == part || allowed.contains(&target),
                "{}:{line}: core::{part} must not import from core::{target} ({})",
                path.display(),
                r.join("::")
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} imports checked: is the scan finding them?");
}

#[test]
fn the_renderer_imports_nothing_from_the_app() {
    let files = sources(&root().join("src/gpu"));
    assert!(files.len() >= 6, "found only {} gpu files", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source");
        for (line, r) in references(&path, &text) {
            assert_ne!(r.first().map(String::as_str), Some("app"), "{}:{line}: gpu imports the app", path.display());
        }
    }
}

/// Import edges between the files of a folder, and a circle if there is one.
fn import_circle(dir: &str) -> Option<Vec<PathBuf>> {
    let mut edges: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for path in sources(&root().join(dir)) {
        let text = std::fs::read_to_string(&path).expect("source");
        let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
        let targets = edges.entry(path.clone()).or_default();
        for (_, r) in references(&path, &text[..cut]) {
            if let Some(f) = file_of(&r)
                && f != path
                && f.starts_with(root().join(dir))
                && !targets.contains(&f)
            {
                targets.push(f);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        f: &PathBuf,
        edges: &BTreeMap<PathBuf, Vec<PathBuf>>,
        state: &mut BTreeMap<PathBuf, u8>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        match state.get(f) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|s| s == f).expect("on the stack");
                return Some(stack[i..].to_vec());
            }
            _ => {}
        }
        state.insert(f.clone(), 1);
        stack.push(f.clone());
        for t in edges.get(f).into_iter().flatten() {
            if let Some(c) = visit(t, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(f.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for f in edges.keys() {
        if let Some(c) = visit(f, &edges, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_circle_among_the_files_of_the_core_or_the_renderer() {
    for dir in ["src/core", "src/gpu"] {
        if let Some(circle) = import_circle(dir) {
            let names: Vec<String> = circle.iter().map(|p| p.display().to_string()).collect();
            panic!("{dir}: an import circle: {}", names.join(" -> "));
        }
    }
}

#[test]
fn the_circle_check_finds_a_circle() {
    // The scan itself, on two modules that name each other.
    let a = root().join("src/core/engine/plan.rs");
    let refs = references(&a, "use crate::core::engine::simulate::Simulation;\nuse super::zone::{ZoneMetrics, self};");
    let files: Vec<PathBuf> = refs.iter().filter_map(|(_, r)| file_of(r)).collect();
    assert!(files.contains(&root().join("src/core/engine/simulate.rs")), "{refs:?}");
    assert!(files.contains(&root().join("src/core/engine/zone.rs")), "{refs:?}");
    // A child module named by the file that declares it.
    let m = root().join("src/core/engine/mod.rs");
    let refs = references(&m, "pub mod zone;\nuse zone::ZoneMetrics;\nfn f() { let _ = self::plan::Plan; }");
    let files: Vec<PathBuf> = refs.iter().filter_map(|(_, r)| file_of(r)).collect();
    assert!(files.contains(&root().join("src/core/engine/zone.rs")), "{refs:?}");
    assert!(files.contains(&root().join("src/core/engine/plan.rs")), "{refs:?}");
}
