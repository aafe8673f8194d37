//! The sources' documentation holds: every Rust file opens with a `//!`
//! module comment, and every file a comment names (in src/, tests/,
//! benches/), or ARCHITECTURE.md, the README or the guide names, exists.

use std::path::{Path, PathBuf};

use crate::{repo_root as root, rust_files};

/// Every file of the repository (not under target/ or .git/), for names
/// given without a folder.
fn all_names() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("folder") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(&path, out);
                }
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &mut out);
    out
}

/// File names in a text: words ending in `.rs`, `.md`, `.wgsl` or `.toml`
/// (the repository's own kinds of file; outputs such as report.json are not
/// files of the repository). Globs (`*.wgsl`) and placeholders are skipped.
fn named_files(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || "._/-".contains(c)))
        .map(|w| w.trim_matches(|c| c == '.' || c == '/'))
        .filter(|w| [".rs", ".md", ".wgsl", ".toml"].iter().any(|e| w.ends_with(e)))
        .filter(|w| w.len() > 4 && !w.contains('*') && !w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

/// Files the program writes (named in comments as outputs, not sources),
/// and the generic name of a user's scene.
const NOT_SOURCES: &[&str] =
    &["compare.md", "passes.md", "tune.md", "tuned.toml", "score.md", "report.md", "scene.toml", "mod.rs"];

/// Whether a named file exists: a path from the repository root (or from
/// `../shared`), or a bare name some file of the repository has. Output
/// names and scene placeholders in capitals (`REFERENCE.toml`) count as
/// existing.
fn exists(name: &str, names: &[String]) -> bool {
    exists_from(name, names, &root())
}

/// Where a bare file name may live without its folder being given: beside
/// the file that names it, at the root, or in the folders a name alone
/// points to (shaders, scenes, the guide, test data).
const BARE_NAME_FOLDERS: &[&str] = &["", "shaders", "scenes", "docs/guide", "tests/data", "tests/golden"];

/// `exists`, with bare names resolved beside `dir` (the naming file's folder)
/// or in [`BARE_NAME_FOLDERS`]; `names` is every file name of the repository
/// (a bare name found nowhere there cannot exist).
fn exists_from(name: &str, names: &[String], dir: &Path) -> bool {
    let stem = name.rsplit('/').next().unwrap_or(name).split('.').next().unwrap_or("");
    let placeholder = name.ends_with(".toml") && stem.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    if NOT_SOURCES.contains(&name) || (!stem.is_empty() && placeholder) {
        return true;
    }
    if name.contains('/') {
        root().join(name).exists() || root().join("..").join(name).exists() || dir.join(name).exists()
    } else {
        names.iter().any(|n| n == name)
            && (dir.join(name).exists() || BARE_NAME_FOLDERS.iter().any(|f| root().join(f).join(name).exists()))
    }
}

#[test]
fn every_source_file_opens_with_a_module_comment() {
    let mut files = rust_files(&root().join("src"));
    files.extend(rust_files(&root().join("tests")));
    files.extend(rust_files(&root().join("benches")));
    assert!(files.len() > 60, "only {} Rust files found", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        let first = text.lines().find(|l| !l.trim().is_empty() && !l.starts_with("#!["));
        assert!(first.is_some_and(|l| l.starts_with("//!")), "{}: no `//!` module comment at the top", f.display());
    }
}

#[test]
fn every_file_a_comment_names_exists() {
    let names = all_names();
    let mut checked = 0;
    let mut missing = Vec::new();
    let mut sources = rust_files(&root().join("src"));
    sources.extend(rust_files(&root().join("tests")));
    sources.extend(rust_files(&root().join("benches")));
    for f in sources {
        let text = std::fs::read_to_string(&f).expect("source");
        for (i, line) in text.lines().enumerate() {
            let Some(k) = line.find("//") else { continue };
            for name in named_files(&line[k..]) {
                checked += 1;
                if !exists_from(&name, &names, f.parent().expect("a folder")) {
                    missing.push(format!("{}:{}: names `{name}`, which does not exist", f.display(), i + 1));
                }
            }
        }
    }
    let mut docs = vec!["ARCHITECTURE.md".to_string(), "README.md".to_string()];
    for e in std::fs::read_dir(root().join("docs/guide")).expect("docs/guide") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            docs.push(format!("docs/guide/{name}"));
        }
    }
    for doc in &docs {
        let text = std::fs::read_to_string(root().join(doc)).expect("a doc");
        // The folder a bare name is in: the code map's headings (`src/core/`),
        // numbered parts (`geometry/`) and bullets that open with a folder.
        let (mut base, mut part, mut bullet) = (root(), None::<PathBuf>, None::<PathBuf>);
        // (example error messages name the user's files, not the repository's)
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("error: ")) {
            let t = line.trim_start();
            let spans: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
            let first_folder = spans.first().filter(|s| s.ends_with('/')).map(|s| s.to_string());
            if t.starts_with('#') {
                if let Some(f) = first_folder.as_deref().filter(|f| f.starts_with("src/") || f.starts_with("tests/")) {
                    base = root().join(f);
                }
                (part, bullet) = (None, None);
            } else if t.chars().next().is_some_and(|c| c.is_ascii_digit()) && t.contains(". ") {
                part = first_folder.as_deref().map(|f| base.join(f));
                bullet = None;
            } else if t.starts_with("- ") {
                bullet = first_folder.as_deref().map(|f| part.clone().unwrap_or(base.clone()).join(f));
            } else if t.is_empty() {
                bullet = None;
            }
            let dir = bullet.clone().or(part.clone()).unwrap_or(base.clone());
            for name in named_files(line) {
                checked += 1;
                if !exists_from(&name, &names, &dir) {
                    missing.push(format!("{doc}:{}: names `{name}`, which does not exist", i + 1));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(checked > 50, "only {checked} file names found in comments");
}

#[test]
fn the_scanner_sees_a_missing_file() {
    let names = all_names();
    let found = named_files("see `tests/layering.rs` and DESIGN.md, shaders/*.wgsl, and scenes/cheek.toml.");
    assert_eq!(found, ["tests/layering.rs", "DESIGN.md", "scenes/cheek.toml"]);
    assert!(!exists("tests/layering.rs", &names));
    assert!(!exists("DESIGN.md", &names));
    assert!(exists("shared/DESIGN.md", &names) || !root().join("../shared/DESIGN.md").exists());
    assert!(exists("scenes/cheek.toml", &names) && exists("mesh.wgsl", &names));
    assert!(exists("SCENE.toml", &names) && exists("tuned.toml", &names), "placeholders and outputs");
}

/// Test names in a text: code spans (after a `::`, if any) that look like a
/// test's name (lower case words joined by at least three underscores).
fn named_tests(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.rsplit("::").next().unwrap_or(span))
        .filter(|w| {
            w.matches('_').count() >= 3 && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_test_the_architecture_and_the_testing_page_name_exists() {
    let mut code = String::new();
    for f in rust_files(&root().join("tests")).into_iter().chain(rust_files(&root().join("src"))) {
        code.push_str(&std::fs::read_to_string(f).expect("source"));
    }
    // The Python package's tests (pytest: `def test_...(`).
    for f in std::fs::read_dir(root().join("python/tests")).expect("python/tests") {
        let f = f.expect("an entry").path();
        if f.extension().is_some_and(|e| e == "py") {
            code.push_str(&std::fs::read_to_string(&f).expect("source").replace("def test_", "fn test_"));
        }
    }
    for (doc, least) in [("ARCHITECTURE.md", 15), ("docs/guide/testing.md", 40)] {
        let text = std::fs::read_to_string(root().join(doc)).expect("the doc");
        let tests = named_tests(&text);
        assert!(tests.len() >= least, "{doc} names only {} tests", tests.len());
        for t in tests {
            assert!(code.contains(&format!("fn {t}(")), "{doc} names the test `{t}`, which does not exist");
        }
    }
    assert_eq!(named_tests("see `a/b.rs::one_two_three_four` and `x_y`"), ["one_two_three_four"]);
}
