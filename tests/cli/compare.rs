//! `compare`, `passes` and `tune` from the command line: their files, their
//! tables, and clear errors for bad strategies.

use crate::{Sandbox, scene_path, stderr, stdout};

#[test]
fn compare_writes_its_tables_and_charts_and_ranks_the_shipped_strategies() {
    let sb = Sandbox::new();
    let out = sb.path("cmp");
    let o = sb.run(&["compare", &scene_path("cheek-strategies.toml"), "--seeds", "4", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for name in ["H+V", "H+V+D", "H+V+D+AD", "random stamping", "roller x16"] {
        assert!(text.contains(name), "{name} missing from the table:\n{text}");
    }
    // The roller lays about 15 /cm2 a roll: it cannot reach the band.
    assert!(text.lines().any(|l| l.contains("roller x16") && l.contains("under-target bound missed")), "{text}");
    for f in ["compare.md", "compare.csv", "compare.json", "compare.png", "compare-time.png"] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert!(csv.starts_with("strategy,zone,metric,unit,n,mean,sd,ci_low,ci_high\n"));
    assert!(csv.lines().any(|l| l.starts_with("H+V+D,left cheek,coverage,fraction,4,")), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["ranking"].as_array().unwrap().len(), 5);
    assert_eq!(json["seeds"].as_array().unwrap().len(), 4);
}

#[test]
fn compare_takes_scene_files_and_a_scene_against_itself_is_indistinguishable() {
    let sb = Sandbox::new();
    let out = sb.path("cmp");
    let cheek = scene_path("cheek.toml");
    let o =
        sb.run(&["compare", &cheek, &cheek, "--seeds", "3", "--objective", "coverage", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("≈ cheek #2") && text.contains("≈ cheek"), "{text}");
    // Different zones cannot be compared.
    let o = sb.run(&["compare", &cheek, &scene_path("forehead.toml"), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("same zones"), "{}", stderr(&o));
}

#[test]
fn a_bad_strategy_names_its_line_and_key_and_writes_nothing() {
    let sb = Sandbox::new();
    let cheek = scene_path("cheek.toml");
    let out = sb.path("cmp");
    for (text, needle) in [
        (
            format!("base = {cheek:?}\n[[strategy]]\nname = \"a\"\nlane_spacing_mm = -1\n"),
            "s.toml:4:19: strategy[0].lane_spacing_mm",
        ),
        (
            format!("base = {cheek:?}\n[[strategy]]\nname = \"a\"\npatterns = [\"circles\"]\n"),
            "`circles` is not a pattern",
        ),
        (
            format!(
                "base = {cheek:?}\n[[strategy]]\nname = \"a\"\ncartridge = \"roller-192\"\npatterns = [\"random\"]\nrandom_stamps = 9\n"
            ),
            "roller cannot stamp at random",
        ),
        ("base = \"missing.toml\"\n[[strategy]]\nname = \"a\"\n".to_string(), "base: the base scene"),
        (format!("base = {cheek:?}\nzones = [\"chin\"]\n[[strategy]]\nname = \"a\"\n"), "no zone `chin`"),
    ] {
        let file = sb.write("s.toml", &text);
        let o = sb.run(&["compare", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "expected `{needle}` in: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
        assert!(!out.exists(), "nothing written on bad input");
    }
}

#[test]
fn passes_shows_the_marginal_gain_of_each_pass() {
    let sb = Sandbox::new();
    let out = sb.path("p");
    let o = sb.run(&["passes", &scene_path("cheek.toml"), "--seeds", "3", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("pass 1 (horizontal)") && text.contains("pass 3 (diagonal)"), "{text}");
    for f in ["passes.md", "passes.csv", "passes.json", "passes.png"] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
}

#[test]
fn tune_recommends_a_plan_in_words_and_writes_a_scene_that_runs() {
    let sb = Sandbox::new();
    let out = sb.path("t");
    let o = sb.run(&["tune", &scene_path("cheek.toml"), "--seeds", "4", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("left cheek: 3 passes (horizontal, vertical, diagonal)"), "{text}");
    let tuned = out.join("tuned.toml");
    let o = sb.run(&["simulate", tuned.to_str().unwrap(), "--out", sb.path("sim").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "the tuned scene runs: {}", stderr(&o));
    assert!(std::fs::read_to_string(out.join("tune.md")).unwrap().contains("| horizontal, vertical |"));
    // A band out of reach: a reason, exit 0 (the answer is the reason).
    let o = sb.run(&[
        "tune",
        &scene_path("cheek.toml"),
        "--target",
        "20000..30000",
        "--seeds",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("cannot reach that density"), "{}", stdout(&o));
    // Bad arguments: exit 2, a clear line.
    let o = sb.run(&["tune", &scene_path("cheek.toml"), "--zone", "chin"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--zone chin: no such zone"), "{}", stderr(&o));
    let o = sb.run(&["tune", &scene_path("cheek.toml"), "--max-under", "1.5"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn check_validates_a_strategies_file() {
    let sb = Sandbox::new();
    let o = sb.run(&["check", &scene_path("cheek-strategies.toml")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: strategies file, 5 strategies"), "{}", stdout(&o));
}

#[test]
fn ctrl_c_stops_a_long_compare_and_writes_what_finished() {
    let sb = Sandbox::new();
    let out = sb.path("cmp");
    // Five strategies: a batch of seeds (4 seeds x 5 runs) takes a fraction of
    // a second even on a loaded machine, and 5000 seeds take minutes.
    let file = scene_path("cheek-strategies.toml");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(["compare", &file, "--seeds", "5000", "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("stopped by Ctrl-C"), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["stopped"], true);
    let finished = json["seeds_finished"].as_array().unwrap().len();
    assert!(finished < 5000, "{finished} seeds: the run was not cut short");
    assert!(out.join("compare.png").is_file());
}

#[test]
fn a_reader_closing_the_pipe_early_costs_no_files_and_no_panic() {
    // `needlemap compare ... | head -1`: stdout closed before the table is printed.
    let sb = Sandbox::new();
    let out = sb.path("cmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(["compare", &scene_path("cheek-strategies.toml"), "--seeds", "3", "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    for f in ["compare.md", "compare.csv", "compare.json", "compare.png", "compare-time.png"] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
}
