//! The README and the guide hold: every TOML example is a scene or
//! strategies file that `needlemap check` accepts, every command they show
//! exists with the flags they give it, and every literal command in a code
//! block parses as the program would parse it.

use crate::{Sandbox, stderr};
use clap::{CommandFactory, Parser};
use needlemap::app::Cli;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page of docs/guide/.
fn pages() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    let guide = root().join("docs/guide");
    let mut guide_pages: Vec<PathBuf> = std::fs::read_dir(&guide)
        .expect("docs/guide")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guide_pages.sort();
    out.extend(guide_pages);
    out
}

/// A code block: its info string (`toml`, `sh`, `` for indented), first line
/// number (1-based, of its first content line) and its lines.
struct Block {
    info: String,
    line: usize,
    lines: Vec<String>,
}

/// The fenced and indented code blocks of a Markdown page.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(info) = l.trim_start().strip_prefix("```") {
            let start = i + 1;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                body.push(lines[i].to_string());
                i += 1;
            }
            out.push(Block { info: info.trim().to_string(), line: start + 1, lines: body });
        } else if l.starts_with("    ") && !l.trim().is_empty() && (i == 0 || lines[i - 1].trim().is_empty()) {
            let start = i;
            let mut body = Vec::new();
            while i < lines.len() && (lines[i].starts_with("    ") || lines[i].trim().is_empty()) {
                body.push(lines[i].trim_start().to_string());
                i += 1;
            }
            out.push(Block { info: String::new(), line: start + 1, lines: body });
            continue;
        }
        i += 1;
    }
    out
}

/// Copies a folder tree (scenes and their traces, test meshes).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for e in std::fs::read_dir(from).expect("read") {
        let p = e.expect("entry").path();
        let dest = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

#[test]
fn every_toml_example_is_a_file_needlemap_check_accepts() {
    let sb = Sandbox::new();
    copy_tree(&root().join("scenes"), &sb.path("scenes"));
    copy_tree(&root().join("tests/data"), &sb.path("tests/data"));
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for (k, b) in blocks(&text).iter().enumerate().filter(|(_, b)| b.info == "toml") {
            let name = format!("scenes/_doc_{k}.toml");
            sb.write(&name, &b.lines.join("\n"));
            let o = sb.run(&["check", &name]);
            assert!(
                o.status.success(),
                "{}:{}: this TOML example is refused by `needlemap check`:\n{}",
                page.display(),
                b.line,
                stderr(&o)
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} TOML examples found in the README and the guide");
}

/// Splits a command line into words (double and single quotes group).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The program's arguments in a shown command (`needlemap ...` or
/// `cargo run --release -- ...`), up to a pipe or a comment.
fn command_args(line: &str) -> Option<Vec<String>> {
    let line = line.trim().trim_start_matches("$ ");
    let line = line.split(" | ").next().unwrap_or("").split(" # ").next().unwrap_or("");
    let line = line.strip_prefix("xvfb-run -a ").unwrap_or(line);
    let rest = line.strip_prefix("needlemap ").or_else(|| line.strip_prefix("cargo run --release -- "))?;
    let rest = rest.split(" > ").next().unwrap_or("");
    Some(words(rest))
}

#[test]
fn every_literal_command_in_a_code_block_parses() {
    let mut parsed = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for b in blocks(&text).iter().filter(|b| matches!(b.info.as_str(), "" | "sh" | "bash" | "console" | "shell")) {
            for (j, l) in b.lines.iter().enumerate() {
                let Some(args) = command_args(l) else { continue };
                let argv = std::iter::once("needlemap".to_string()).chain(args);
                if let Err(e) = Cli::try_parse_from(argv) {
                    // `--help` and `--version` "fail" by printing; anything else is wrong.
                    let kind = e.kind();
                    assert!(
                        matches!(kind, clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion),
                        "{}:{}: `{}` does not parse: {e}",
                        page.display(),
                        b.line + j,
                        l.trim()
                    );
                }
                parsed += 1;
            }
        }
    }
    assert!(parsed >= 10, "only {parsed} commands found in code blocks");
}

#[test]
fn every_command_mentioned_exists_with_the_flags_given() {
    let cli = Cli::command();
    let mut seen = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        // Lines of code blocks (1-based), whole; elsewhere only code spans.
        let code: std::collections::HashSet<usize> =
            blocks(&text).iter().flat_map(|b| b.line..b.line + b.lines.len()).collect();
        for (n, line) in text.lines().enumerate() {
            // Inline code spans and code-block lines that name a command.
            let spans: Vec<&str> =
                if code.contains(&(n + 1)) { vec![line] } else { line.split('`').skip(1).step_by(2).collect() };
            for span in spans {
                let Some(args) = command_args(span) else { continue };
                let Some(sub) = args.first() else { continue };
                if sub.starts_with('-') || sub.starts_with('<') || sub.chars().all(|c| c.is_ascii_uppercase()) {
                    continue; // `needlemap --help`, `needlemap <command> --help`
                }
                let cmd = cli.find_subcommand(sub).unwrap_or_else(|| {
                    panic!("{}:{}: `needlemap {sub}` is not a command: {span}", page.display(), n + 1)
                });
                for flag in args.iter().filter_map(|a| a.trim_start_matches('[').strip_prefix("--")) {
                    let flag = flag.split(['=', ']', ' ']).next().unwrap_or("");
                    if flag.is_empty() || flag == "help" {
                        continue;
                    }
                    assert!(
                        cmd.get_arguments().any(|a| a.get_long() == Some(flag)),
                        "{}:{}: `needlemap {sub}` has no flag --{flag}: {span}",
                        page.display(),
                        n + 1
                    );
                }
                seen += 1;
            }
        }
    }
    assert!(seen >= 20, "only {seen} commands mentioned");
}

#[test]
fn the_readme_is_short_and_links_to_every_guide_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    assert!(readme.len() <= 12 * 1024, "README.md is {} bytes; the limit is 12 KB", readme.len());
    for page in pages().iter().skip(1) {
        let name = page.file_name().expect("name").to_string_lossy();
        if name == "README.md" {
            continue;
        }
        assert!(readme.contains(&format!("docs/guide/{name}")), "README.md does not link docs/guide/{name}");
    }
}

#[test]
fn the_scanners_find_what_they_should() {
    let md = "text\n\n```toml\na = 1\n```\n\n    needlemap check scenes/cheek.toml\n\n```sh\ncargo run --release -- view x.toml --frames 3 | tail\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 3);
    assert_eq!((b[0].info.as_str(), b[0].line, b[0].lines.len()), ("toml", 4, 1));
    assert_eq!(command_args(&b[1].lines[0]), Some(vec!["check".to_string(), "scenes/cheek.toml".to_string()]));
    assert_eq!(command_args(&b[2].lines[0]).map(|a| a.len()), Some(4));
    assert_eq!(words(r#"score "a b.csv" --out 'x'"#), ["score", "a b.csv", "--out", "x"]);
    assert!(Cli::try_parse_from(["needlemap", "simulate", "s.toml", "--no-such-flag"]).is_err());
}

#[test]
fn the_guides_example_summary_is_what_simulate_prints_today() {
    // The summary quoted in commands.md must not go stale when the model moves.
    let page = std::fs::read_to_string(root().join("docs/guide/commands.md")).unwrap();
    let at = page.find("Example summary (`scenes/cheek.toml`)").expect("the example in commands.md");
    let block = blocks(&page[at..]).into_iter().next().expect("its code block");
    let sb = Sandbox::new();
    let o = sb.run(&["simulate", &crate::scene_path("cheek.toml"), "--out", "o"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed = crate::stdout(&o);
    for line in block.lines.iter().filter(|l| !l.trim().is_empty()) {
        assert!(
            printed.lines().any(|p| p == line),
            "commands.md shows a line simulate no longer prints:\n{line}\nprinted:\n{printed}"
        );
    }
}
