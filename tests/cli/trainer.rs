//! Trainer mode from the command line: a plan written as a trace scores at
//! the top; the shipped trainee trace shows its faults; bad trajectories are
//! refused with the row named and nothing written; the lesson report is one
//! HTML page that headless Chromium renders with its pictures.

use crate::{Sandbox, scene_path, stderr, stdout};
use serde_json::Value;
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
    // At the top, not rounded up to it: every criterion scores 100.
    let json: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("s/score.json")).unwrap()).unwrap();
    assert_eq!(json["score"].as_f64(), Some(100.0));
    let criteria = json["zones"][0]["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 12);
    for c in criteria {
        assert_eq!(c["score"].as_f64(), Some(100.0), "{c}");
    }
    // The trace is the plan: its time, glide speed and lane spacing are the
    // plan's, up to the file's rounding (0.1 ms over an 80 s plan, 1 µm over
    // 4 mm lanes and 50 mm strokes: all well under 1e-3).
    for key in ["time", "speed", "lane_spacing"] {
        let c = criteria.iter().find(|c| c["key"] == key).unwrap();
        let f = c["figure"].as_f64().unwrap();
        assert!((f - 1.0).abs() < 1e-3, "{key}: {f} of the plan's");
    }
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
    // The trainee skipped one horizontal lane of the plan's 4 mm: a gap of
    // two spacings, at v = 34 mm, the middle third of the 55 mm zone.
    assert!(out.contains("a gap of 8.0 mm between horizontal lanes in the centre"), "{out}");
    // It went at half speed on the lower lanes: the hot spot is low, and the
    // hand there slower than the plan's 40 mm/s but not below half of it.
    let hot = out.lines().find(|l| l.contains("over target, most in the lower")).unwrap_or_else(|| panic!("{out}"));
    let speed: f64 = hot.split("the hand was slow there (").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((20.0..40.0).contains(&speed) && hot.contains("speed up"), "{hot}");
    assert_eq!(json["progress_trainee"].as_array().unwrap().len(), 12);
}

#[test]
fn every_criterion_scores_by_the_guides_table() {
    let sb = Sandbox::new();
    let o =
        sb.run(&["score", &trace_path("cheek-trainee.csv"), "--reference", &scene_path("cheek.toml"), "--out", "s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("s/score.json")).unwrap()).unwrap();
    let zone = &json["zones"][0];
    let criteria = zone["criteria"].as_array().unwrap();
    let num = |v: &Value| v.as_f64().unwrap();
    // trainer.md's table: the accepted range and where the score reaches 0,
    // from the reference's figure (ref).
    // Shares clamped to 0..1.
    let table = |key: &str, r: f64| -> ([f64; 2], [f64; 2]) {
        match key {
            "coverage" => ([(r - 0.03).max(0.0), 1.0], [(r - 0.2).max(0.0), 1.0]),
            "under" | "over" => ([0.0, (r + 0.02).min(1.0)], [0.0, (r + 0.22).min(1.0)]),
            "in_band" => ([(r - 0.03).max(0.0), 1.0], [(r - 0.25).max(0.0), 1.0]),
            "cv" => ([0.0, 1.25 * r + 0.05], [0.0, 2.5 * r + 0.3]),
            "speed" => ([0.8, 1.25], [0.4, 2.5]),
            "speed_spread" => ([0.0, r + 0.1], [0.0, r + 0.5]),
            "lane_spacing" => ([0.8, 1.2], [0.4, 2.0]),
            "lane_regularity" => ([0.0, r + 0.1], [0.0, r + 0.5]),
            "directions" => ([(r - 0.03).max(0.0), 1.0], [(r - 0.3).max(0.0), 1.0]),
            // Judged absolutely: the default tolerance 0, zero at 50.
            "avoid" => ([0.0, 0.0], [0.0, 50.0]),
            "time" => ([0.8, 1.3], [0.3, 3.0]),
            _ => panic!("criterion {key} is not in the guide's table"),
        }
    };
    let mut sum = 0.0;
    for c in criteria {
        let key = c["key"].as_str().unwrap();
        let (accepted, zero) = table(key, c["reference"].as_f64().unwrap_or(f64::NAN));
        let got = [num(&c["accepted"][0]), num(&c["accepted"][1]), num(&c["zero_at"][0]), num(&c["zero_at"][1])];
        for (g, w) in got.iter().zip([accepted[0], accepted[1], zero[0], zero[1]]) {
            assert!(
                (g - w).abs() < 1e-9,
                "{key}: accepted {:?}, 0 at {:?}; the guide gives {accepted:?}, {zero:?}",
                c["accepted"],
                c["zero_at"]
            );
        }
        // 100 inside the accepted range, falling linearly to 0 at the limit.
        let f = num(&c["figure"]);
        let want = if f < accepted[0] {
            100.0 * (f - zero[0]) / (accepted[0] - zero[0])
        } else if f > accepted[1] {
            100.0 * (zero[1] - f) / (zero[1] - accepted[1])
        } else {
            100.0
        }
        .clamp(0.0, 100.0);
        assert!((num(&c["score"]) - want).abs() < 1e-9, "{key}: figure {f} scores {}, by the table {want}", c["score"]);
        sum += want;
    }
    assert_eq!(criteria.len(), 12);
    // A zone's score is the mean of its criteria; one zone: the treatment's.
    let mean = sum / criteria.len() as f64;
    assert!((num(&zone["score"]) - mean).abs() < 1e-9 && (num(&json["score"]) - mean).abs() < 1e-9, "{mean}: {json}");
}

#[test]
fn points_on_the_skin_may_lie_up_to_0_05_mm_off_the_outline() {
    // The cheek: an ellipse 70 x 55 mm centred at (35, 27.5). At its top and
    // its right end the outline runs along an axis, so these are the points'
    // distances from it.
    let sb = Sandbox::new();
    let head = "time_s,zone,u_mm,v_mm,pressure\n0,left cheek,30,20,1\n";
    // 0.04 mm outside, and a lifted sample anywhere: accepted.
    sb.write(
        "near.csv",
        &format!("{head}0.5,left cheek,35,55.04,1\n1,left cheek,70.04,27.5,1\n1.5,left cheek,200,200,0\n"),
    );
    let o = sb.run(&["score", "near.csv", "--reference", &scene_path("cheek.toml"), "--out", "s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(sb.path("s/score.json").is_file());
    // 0.06 mm outside: refused, naming the row (line 3 of the file).
    for (u, v) in [("35", "55.06"), ("70.06", "27.5")] {
        sb.write("far.csv", &format!("{head}0.5,left cheek,{u},{v},1\n"));
        let o = sb.run(&["score", "far.csv", "--reference", &scene_path("cheek.toml"), "--out", "f"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "({u}, {v}): {err}");
        assert!(
            err.contains("far.csv:3:") && err.contains(&format!("({u}, {v}) mm is off zone `left cheek`")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!sb.path("f").exists());
    }
}

#[test]
fn a_point_0_04_mm_off_a_diagonal_stretch_of_the_outline_is_accepted() {
    // The cheek's ellipse (radii 35 and 27.5 about (35, 27.5)) where its
    // normal points at 45 degrees: t = atan(27.5 / 35) in its parametrisation.
    let t = (27.5f64 / 35.0).atan();
    let (u, v) = (35.0 + 35.0 * t.cos() + 0.04 / 2f64.sqrt(), 27.5 + 27.5 * t.sin() + 0.04 / 2f64.sqrt());
    let sb = Sandbox::new();
    sb.write("near.csv", &format!("time_s,zone,u_mm,v_mm\n0,left cheek,30,20\n0.5,left cheek,{u:.6},{v:.6}\n"));
    let o = sb.run(&["score", "near.csv", "--reference", &scene_path("cheek.toml"), "--out", "s"]);
    assert_eq!(o.status.code(), Some(0), "({u:.6}, {v:.6}) is 0.04 mm off the outline: {}", stderr(&o));
}

/// The rows of a trajectory file: (time_s, u_mm, v_mm, pressure).
fn samples(csv: &str) -> Vec<[f64; 4]> {
    csv.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let num = |i: usize| f.get(i).map_or(1.0, |x| x.trim().parse::<f64>().unwrap());
            [num(0), num(2), num(3), num(4)]
        })
        .collect()
}

#[test]
fn a_scene_with_a_trajectory_pass_simulates() {
    let sb = Sandbox::new();
    let o = sb.run(&["simulate", &scene_path("cheek-traced.toml"), "--out", "t"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("left cheek"), "{}", stdout(&o));
    // The treatment is the trajectory's, computed here from the file.
    let rows = samples(&std::fs::read_to_string(trace_path("cheek-trainee.csv")).unwrap());
    let r: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("t/report.json")).unwrap()).unwrap();
    let z = &r["zones"][0];
    let span = rows.last().unwrap()[0] - rows[0][0];
    assert!((z["time_s"].as_f64().unwrap() - span).abs() < 1e-9, "time {} s, the file spans {span} s", z["time_s"]);
    let path: f64 = rows.windows(2).map(|w| (w[1][1] - w[0][1]).hypot(w[1][2] - w[0][2])).sum();
    let got = z["path_length_mm"].as_f64().unwrap();
    assert!((got - path).abs() < 1e-6 * path, "path {got} mm, the file's {path} mm");
    // pen-12 stamps at 110 Hz while the pen is down; each stroke (a run of
    // pressed rows) may round its stamps by one.
    let down = |s: &[f64; 4]| s[3] > 0.0;
    let pressed: f64 = rows.windows(2).filter(|w| down(&w[0]) && down(&w[1])).map(|w| w[1][0] - w[0][0]).sum();
    let strokes = rows.iter().enumerate().filter(|&(i, s)| down(s) && (i == 0 || !down(&rows[i - 1]))).count();
    let stamps = z["stamps"].as_f64().unwrap();
    assert!(
        (stamps - pressed * 110.0).abs() <= strokes as f64,
        "{stamps} stamps, {pressed} s pressed, {strokes} strokes"
    );
    // Every stamp puts all 12 needles in: on the zone, in the avoid region
    // (not part of the density), or off the outline (dropped).
    let count = |k: &str| z[k].as_u64().unwrap();
    assert_eq!(count("punctures") + count("avoid_violations") + count("outside_punctures"), stamps as u64 * 12);
    let mean = z["density_per_cm2"]["mean"].as_f64().unwrap();
    let n_over_a = count("punctures") as f64 / z["area_cm2"].as_f64().unwrap();
    assert!((mean - n_over_a).abs() < 1e-9 * mean, "density {mean} = N / A = {n_over_a}");
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

/// A trainer's criteria file: weights make a zone's score the weighted mean
/// of its criteria, ranges replace the built-in ones (bounds may follow the
/// reference), and the trainee's name goes on the score and the report.
#[test]
fn a_criteria_file_weighs_and_ranges_the_criteria_and_the_name_is_on_the_report() {
    let sb = Sandbox::new();
    let trainee = trace_path("cheek-trainee.csv");
    let reference = scene_path("cheek.toml");
    let o = sb.run(&["score", &trainee, "--reference", &reference, "--out", "plain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plain: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("plain/score.json")).unwrap()).unwrap();
    sb.write(
        "criteria.toml",
        "# the lesson's criteria\n[coverage]\nweight = 3\naccepted = [\"reference + 0.05\", 1]\nzero_at = [\"reference + 0.04\", 1]\n\
         [time]\nweight = 0\n[speed_spread]\nweight = 0\n[cv]\naccepted = [0, \"reference * 1.25 + 0.05\"]\nzero_at = [0, \"reference * 2.5 + 0.3\"]\n",
    );
    let o = sb.run(&[
        "score",
        &trainee,
        "--reference",
        &reference,
        "--out",
        "weighted",
        "--criteria",
        "criteria.toml",
        "--trainee",
        "Ana <Lima>",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(Ana <Lima> (cheek-trainee.csv) against cheek)"), "{}", stdout(&o));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("weighted/score.json")).unwrap()).unwrap();
    assert_eq!(json["trainee_name"], "Ana <Lima>");
    let zone = &json["zones"][0];
    let crit = |j: &Value, key: &str| {
        j["zones"][0]["criteria"].as_array().unwrap().iter().find(|c| c["key"] == key).unwrap().clone()
    };
    let num = |v: &Value| v.as_f64().unwrap();
    // The shipped trainee's coverage is not 0.04 above the reference's: under
    // the file's range (which follows the reference) it scores 0, by
    // default 100.
    let (cov, cov0) = (crit(&json, "coverage"), crit(&plain, "coverage"));
    assert!(num(&cov["figure"]) < num(&cov["reference"]) + 0.04, "{cov}");
    assert!((num(&cov["accepted"][0]) - num(&cov["reference"]) - 0.05).abs() < 1e-9, "{cov}");
    assert_eq!(num(&cov["score"]), 0.0, "{cov}");
    assert_eq!(num(&cov0["score"]), 100.0, "{cov0}");
    assert_eq!(num(&cov["weight"]), 3.0);
    // The cv range written out as the built-in one scores as the built-in one.
    assert_eq!(crit(&json, "cv")["score"], crit(&plain, "cv")["score"]);
    assert_eq!(crit(&json, "cv")["accepted"], crit(&plain, "cv")["accepted"]);
    // The zone's score is the weighted mean: time (weight 0) left out, coverage thrice.
    let (mut sum, mut weights) = (0.0, 0.0);
    for c in zone["criteria"].as_array().unwrap() {
        sum += num(&c["score"]) * num(&c["weight"]);
        weights += num(&c["weight"]);
    }
    assert!((num(&zone["score"]) - sum / weights).abs() < 1e-9, "{zone}");
    assert!((num(&zone["score"]) - num(&plain["zones"][0]["score"])).abs() > 1.0, "the file moved the score");
    // Advice follows the file: none for a criterion weighing 0.
    let said =
        |j: &Value| j["feedback"].as_array().unwrap().iter().any(|f| f.as_str().unwrap().contains("keep an even pace"));
    assert!(said(&plain) && !said(&json), "{}", json["feedback"]);
    // The name and the weights are on score.md and the lesson report (escaped).
    let md = std::fs::read_to_string(sb.path("weighted/score.md")).unwrap();
    assert!(
        md.contains("# Score of Ana <Lima> (cheek-trainee.csv) against cheek") && md.contains("| weight |"),
        "{md}"
    );
    let o = sb.run(&["report", "weighted"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(sb.path("weighted/report.html")).unwrap();
    assert!(html.contains("Lesson report: Ana &lt;Lima&gt; (cheek-trainee.csv) against cheek"), "name on the report");
    assert!(html.contains("<th>weight</th>"));
}

#[test]
fn a_bad_criteria_file_names_its_line_and_field_and_writes_nothing() {
    let sb = Sandbox::new();
    for (text, line, field, says) in [
        ("[coverage]\nweight = -1\n", 2, "coverage.weight", "give a number from 0"),
        ("[coverage]\naccepted = [0.9, 0.5]\n", 2, "coverage.accepted", "low end first"),
        ("[coverage]\naccepted = [0.9, 1.5]\n", 2, "coverage.accepted", "1.5 is not accepted: coverage is a share"),
        (
            "[coverage]\naccepted = [\"referance - 0.1\", 1]\n",
            2,
            "coverage.accepted",
            "\"referance - 0.1\" is not accepted",
        ),
        ("\n[speeed]\nweight = 1\n", 2, "criteria", "tables named for criteria (coverage, under"),
        ("[time]\nwieght = 1\n", 2, "criteria", "unknown field"),
        ("avoid_tolerance = -3\n", 1, "avoid_tolerance", "number of punctures >= 0"),
        ("avoid_tolerance = 2\n[avoid]\naccepted = [0, 5]\n", 1, "avoid_tolerance", "give one"),
        ("[coverage]\nweight = 1e300\n", 2, "coverage.weight", "give a number from 0 to 1000000"),
    ] {
        sb.write("bad.toml", text);
        let o = sb.run(&[
            "score",
            &trace_path("cheek-trainee.csv"),
            "--reference",
            &scene_path("cheek.toml"),
            "--criteria",
            "bad.toml",
            "--out",
            "s",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(&format!("bad.toml:{line}:")) && err.contains(field) && err.contains(says),
            "{text}: {err}"
        );
        assert!(!sb.path("s").exists(), "nothing written");
    }
    // `check` reads a misspelt criteria file as a criteria file, not a scene.
    sb.write("typo.toml", "[time]\nweight = 1\n[coverag]\nweight = 3\n");
    let o = sb.run(&["check", "typo.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("typo.toml:3:") && stderr(&o).contains("tables named for criteria"), "{}", stderr(&o));
}

/// `score` over a folder: every trainee against one reference, a class
/// table in CSV and HTML, and each trainee's score and lesson report in a
/// folder of their own; one bad file and nothing is written.
#[test]
fn a_class_folder_is_scored_into_one_table() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("class")).unwrap();
    std::fs::copy(trace_path("cheek-trainee.csv"), sb.path("class/ana.csv")).unwrap();
    let o = sb.run(&["trace", &scene_path("cheek.toml"), "--out", "class/ben.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    sb.write("class/notes.txt", "not a trace");
    sb.write("class/._ana.csv", "macOS metadata, not a trace");
    sb.write("class/criteria.toml", "[time]\nweight = 0\n");
    // Three files whose names make the same folder name, and one named for the class table.
    for name in ["a b.csv", "a+b.csv", "a_b.csv", "class.html.csv"] {
        std::fs::copy(sb.path("class/ben.csv"), sb.path(&format!("class/{name}"))).unwrap();
    }
    std::os::unix::fs::symlink(sb.path("class/ana.csv"), sb.path("class/linked.csv")).unwrap();
    let o = sb.run(&[
        "score",
        "class",
        "--reference",
        &scene_path("cheek.toml"),
        "--criteria",
        "class/criteria.toml",
        "--out",
        "c",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("class: 6 trainees"), "the note, the link, hidden and criteria files are passed over: {out}");
    // Each trainee a folder of their own, none the class table's.
    let mut folders: Vec<String> = std::fs::read_dir(sb.path("c"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(folders, ["a_b", "a_b.csv", "a_b.csv-2", "ana", "ben", "class.html.csv"], "{out}");
    for f in &folders {
        assert!(sb.path(&format!("c/{f}/score.json")).is_file(), "{f}");
    }
    for f in ["a b.csv", "a+b.csv", "a_b.csv", "class.html.csv"] {
        std::fs::remove_file(sb.path(&format!("class/{f}"))).unwrap();
    }
    std::fs::remove_file(sb.path("class/criteria.toml")).unwrap();
    let o = sb.run(&["score", "class", "--reference", &scene_path("cheek.toml"), "--out", "c"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("class: 2 trainees"), "{out}");
    let csv = std::fs::read_to_string(sb.path("c/class.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], ["trainee", "file", "score", "score_left cheek", "weakest"], "{csv}");
    assert_eq!(rows.len(), 3, "{csv}");
    // Each row's score is that trainee's own score.json.
    for (row, name) in rows[1..].iter().zip(["ana", "ben"]) {
        assert_eq!(row[0], name);
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(sb.path(&format!("c/{name}/score.json"))).unwrap()).unwrap();
        assert_eq!(json["trainee_name"], name);
        assert_eq!(row[2], format!("{:.1}", json["score"].as_f64().unwrap()), "{csv}");
        assert!(sb.path(&format!("c/{name}/report.html")).is_file());
    }
    assert_eq!(rows[2][2], "100.0", "the plan's own trace scores 100");
    assert_eq!(rows[2][4], "none", "and has no weak criterion");
    assert!(rows[1][2].parse::<f64>().unwrap() < 90.0 && rows[1][4].starts_with("left cheek: "), "{csv}");
    let html = std::fs::read_to_string(sb.path("c/class.html")).unwrap();
    assert!(html.contains("<a href=\"ana/report.html\">ana</a>") && html.contains("class mean"), "{html}");
    // A bad trace in the class: exit 2 naming it, nothing written.
    sb.write("class/cara.csv", "time_s,zone,u_mm,v_mm\n0,cheek-left,nan,1\n");
    let o = sb.run(&["score", "class", "--reference", &scene_path("cheek.toml"), "--out", "d"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cara.csv"), "{}", stderr(&o));
    assert!(!sb.path("d").exists(), "nothing written");
    // --trainee names one trainee, not a class.
    let o = sb.run(&["score", "class", "--reference", &scene_path("cheek.toml"), "--trainee", "x"]);
    assert_eq!(o.status.code(), Some(2));
}
