//! What `simulate` writes: report.json in the agreed shape, zones.csv, PNG
//! maps that show something, no temporary files; `check` and `presets`.

use crate::{Sandbox, scene_path, stderr, stdout};
use serde_json::Value;

fn simulate(sb: &Sandbox, scene: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = sb.path("out");
    let mut args = vec!["simulate", scene, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = sb.run(&args);
    assert_eq!(o.status.code(), Some(0), "simulate {scene}: {}", stderr(&o));
    out
}

#[test]
fn report_json_has_the_contract_fields_with_their_types() {
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("cheek.toml"), &[]);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["scene"], "cheek");
    assert_eq!(r["seed"], 7);
    assert!(r["punctures"].as_u64().unwrap() > 10_000);
    assert!(r["time_s"].as_f64().unwrap() > 0.0 && r["path_length_mm"].as_f64().unwrap() > 0.0);
    let z = &r["zones"][0];
    assert_eq!(z["name"], "left cheek");
    for k in ["area_cm2", "coverage_fraction", "overlap_fraction"] {
        assert!(z[k].as_f64().is_some(), "{k}");
    }
    for k in ["punctures", "avoid_violations"] {
        assert!(z[k].as_u64().is_some(), "{k}");
    }
    for k in ["mean", "p5", "p50", "p95", "cv"] {
        assert!(z["density_per_cm2"][k].as_f64().is_some(), "density {k}");
    }
    let shares: Vec<f64> = z["hit_shares"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(shares.len(), 4);
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(z["under_fraction"].as_f64().is_some() && z["over_fraction"].as_f64().is_some());
    let passes = z["passes"].as_array().unwrap();
    assert_eq!(passes.len(), 3);
    assert_eq!(passes[0]["pattern"], "horizontal");
    for p in passes {
        assert!(p["punctures"].as_u64().is_some() && p["coverage_after"].as_f64().is_some());
        assert!(p["density_after_per_cm2"].as_f64().is_some());
    }
    assert!(z["avoid_violations"].as_u64().unwrap() > 0, "the cheek's lesion is reached by the footprint");
}

#[test]
fn a_zone_without_target_reports_null_bands() {
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("bench-100mm.toml"), &[]);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(r["zones"][0]["under_fraction"].is_null() && r["zones"][0]["over_fraction"].is_null());
    assert!(!out.join("bands.png").exists(), "no target, no band map");
}

#[test]
fn zones_csv_has_a_header_and_a_row_per_zone() {
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("forehead.toml"), &[]);
    let csv = std::fs::read_to_string(out.join("zones.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2);
    let head: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(head.len(), row.len());
    assert_eq!(head[0], "zone");
    assert_eq!(row[0], "forehead");
    let col = |name: &str| row[head.iter().position(|h| *h == name).unwrap()].parse::<f64>().unwrap();
    assert!((col("area_cm2") - 60.0).abs() < 1e-9);
    assert!(col("coverage_fraction") > 0.0 && col("coverage_fraction") <= 1.0);
}

/// Distinct colours in the image (a blank or one-colour picture has 1 or 2).
fn colours(path: &std::path::Path) -> usize {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    let mut seen = std::collections::HashSet::new();
    for p in img.pixels() {
        seen.insert(p.0);
    }
    seen.len()
}

#[test]
fn pictures_are_written_and_show_a_map() {
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("cheek.toml"), &[]);
    for name in ["density.png", "bands.png", "hits.png"] {
        let n = colours(&out.join(name));
        assert!(n > 20, "{name}: only {n} colours");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn every_shipped_scene_checks_and_runs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenes");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let sb = Sandbox::new();
        let o = sb.run(&["check", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", path.display(), stderr(&o));
        assert!(stdout(&o).contains(": ok:"), "{}", stdout(&o));
        n += 1;
    }
    assert!(n >= 5, "{n} scenes");
}

#[test]
fn seed_and_threads_options_behave() {
    let sb = Sandbox::new();
    let scene = scene_path("forehead.toml");
    let read = |dir: &str| std::fs::read_to_string(sb.path(dir).join("report.json")).unwrap();
    for (dir, extra) in [("a", vec!["--threads", "1"]), ("b", vec!["--threads", "2"]), ("c", vec!["--seed", "43"])] {
        let mut args = vec!["simulate", scene.as_str(), "--out", dir];
        args.extend(extra);
        let o = sb.run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    assert_eq!(read("a"), read("b"), "1 and 2 threads must write the same report");
    assert_ne!(read("a"), read("c"), "another seed, another treatment");
}

#[test]
fn stats_prints_stage_times_and_the_summary_has_units() {
    let sb = Sandbox::new();
    let o = sb.run(&["simulate", &scene_path("random-stamping.toml"), "--out", "o", "--stats"]);
    let text = stdout(&o);
    for needle in ["area cm²", "density /cm²", "coverage", "simulate", "measure: splat disks", "punctures/s"] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
}

#[test]
fn presets_lists_every_preset_with_its_source() {
    let sb = Sandbox::new();
    let o = sb.run(&["presets"]);
    let text = stdout(&o);
    for name in ["pen-11", "pen-12", "pen-14", "pen-16", "exceed-6", "single", "roller-192", "DEN160029", "K180778"] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[test]
fn usage_errors_exit_with_2() {
    let sb = Sandbox::new();
    assert_eq!(sb.run(&["simulate"]).status.code(), Some(2));
    assert_eq!(sb.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(sb.run(&["simulate", "x.toml", "--threads", "0"]).status.code(), Some(2));
}
