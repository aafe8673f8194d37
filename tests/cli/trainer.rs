//! Trainer mode from the command line: a plan written as a trace scores at
//! the top; the shipped trainee trace shows its faults; bad trajectories are
//! refused with the row named and nothing written; the lesson report is one
//! HTML page that headless Chromium renders with its pictures.

use crate::{Sandbox, scene_path, stderr, stdout};
use std::path::Path;
use std::process::Command;

fn trace_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/traces").join(name).display().to_string()
}

#[test]
fn the_plan_written_as_a_trace_scores_at_the_top() {
    let sb = Sandbox::new();
    let o = sb.run(&["trace", &scene_path("cheek.toml"), "--out", "plan.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sb.run(&["score", "plan.csv", "--reference", &scene_path("cheek.toml"), "--out", "s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("score: 100/100"), "{out}");
    assert!(out.contains("on plan"), "{out}");
    for f in [
        "score.json",
        "score.md",
        "trainee-density.png",
        "reference-bands.png",
        "difference.png",
        "progress.png",
        "passes.png",
    ] {
        assert!(sb.path("s").join(f).is_file(), "{f} written");
    }
}

#[test]
fn the_shipped_trainee_trace_shows_its_gaps_and_hot_spots() {
    let sb = Sandbox::new();
    let o =
        sb.run(&["score", &trace_path("cheek-trainee.csv"), "--reference", &scene_path("cheek.toml"), "--out", "s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("s/score.json")).unwrap()).expect("score.json");
    let score = json["score"].as_f64().unwrap();
    assert!(score < 90.0, "a trainee with skipped lanes and slow lanes scores {score}");
    assert!(out.contains("over target") && out.contains("speed up"), "{out}");
    assert!(out.contains("mm between horizontal lanes"), "{out}");
    assert_eq!(json["progress_trainee"].as_array().unwrap().len(), 12);
}

#[test]
fn a_scene_with_a_trajectory_pass_simulates() {
    let sb = Sandbox::new();
    let o = sb.run(&["simulate", &scene_path("cheek-traced.toml"), "--out", "t"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("left cheek"), "{}", stdout(&o));
}

#[test]
fn bad_trajectories_name_the_row_and_write_nothing() {
    let sb = Sandbox::new();
    let cases = [
        ("time_s,zone,u_mm,v_mm\n0,left cheek,30,20\n0.5,left cheek,31,abc\n", ":3:", "v_mm"),
        ("time_s,zone,u_mm,v_mm\n1,left cheek,30,20\n0.5,left cheek,31,20\n", ":3:", "time order"),
        ("time_s,zone,u_mm,v_mm\n0,left cheek,30,20\n0.5,left cheek,31,90\n", ":3:", "off zone `left cheek`"),
        ("time_s,zone,u_mm,v_mm\n0,nose,30,20\n0.5,nose,31,20\n", ":2:", "zone `nose` is not in the reference"),
        ("time_s,zone,u_mm\n0,left cheek,30\n", ":1:", "no `v_mm` column"),
        ("time_s,zone,u_mm,v_mm,pressure\n0,left cheek,30,20,1.5\n", ":2:", "pressure"),
    ];
    for (i, (csv, line, what)) in cases.iter().enumerate() {
        let name = format!("bad{i}.csv");
        sb.write(&name, csv);
        let o = sb.run(&["score", &name, "--reference", &scene_path("cheek.toml"), "--out", "s"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(&format!("{name}{line}")) && err.contains(what), "case {i}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"));
        assert!(!sb.path("s").exists(), "case {i}: nothing written");
    }
}

#[test]
fn the_lesson_report_is_one_page_chromium_renders_with_its_pictures() {
    let sb = Sandbox::new();
    let o =
        sb.run(&["score", &trace_path("cheek-trainee.csv"), "--reference", &scene_path("cheek.toml"), "--out", "run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sb.run(&["report", "run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(sb.path("run/report.html")).unwrap();
    assert!(html.contains("Lesson report") && html.contains("mm between horizontal lanes"));
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 7, "every picture embedded");
    assert!(!html.contains("src=\"http") && !html.contains("src=\"file"), "nothing outside the page");
    // Headless Chromium (Debian's chromium, installed by scripts/test) renders it.
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium is installed (scripts/test installs it)");
    let shot = sb.path("report.png");
    let o = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", sb.path("run/report.html").display()))
        .env("HOME", sb.dir.path())
        .output()
        .expect("run chromium");
    assert!(shot.is_file(), "chromium wrote no screenshot: {}", stderr(&o));
    let img = image::open(&shot).expect("screenshot").to_rgb8();
    // The difference map's reds and blues and the band map's colours show:
    // the pictures were decoded and drawn, not left as broken-image boxes.
    let (mut red, mut blue, mut ink) = (0u32, 0u32, 0u32);
    for p in img.pixels() {
        let [r, g, b] = p.0;
        if r > 150 && g < 110 && b < 110 {
            red += 1;
        }
        if b > 140 && r < 110 && g < 160 {
            blue += 1;
        }
        if r < 90 && g < 90 && b < 90 {
            ink += 1;
        }
    }
    eprintln!("screenshot {}x{}: {red} red, {blue} blue, {ink} dark pixels", img.width(), img.height());
    assert!(red > 5_000 && blue > 5_000, "{red} red and {blue} blue pixels: the maps are not shown");
    assert!(ink > 2_000, "text is drawn: {ink}");
}

#[test]
fn a_scene_scores_like_its_trajectory_and_a_simulate_folder_reports() {
    let sb = Sandbox::new();
    let score_of = |input: &str, out: &str| {
        let o = sb.run(&["score", input, "--reference", &scene_path("cheek.toml"), "--out", out]);
        assert!(o.status.success(), "{}", stderr(&o));
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sb.path(out).join("score.json")).unwrap()).unwrap();
        j["score"].as_f64().unwrap()
    };
    // scenes/cheek-traced.toml is the cheek with the trainee's trajectory as its pass.
    let (a, b) = (score_of(&trace_path("cheek-trainee.csv"), "a"), score_of(&scene_path("cheek-traced.toml"), "b"));
    assert!((a - b).abs() < 1e-9, "the trace scores {a}, the scene of it {b}");
    let o = sb.run(&["simulate", &scene_path("cheek.toml"), "--out", "sim"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sb.run(&["report", "sim"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(sb.path("sim/report.html")).unwrap();
    assert!(html.contains("Treatment report: cheek") && html.matches("data:image/png;base64,").count() == 3);
    let o = sb.run(&["report", "nowhere"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not a folder"), "{}", stderr(&o));
}
