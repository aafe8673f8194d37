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
    // The plan keeps its footprint clear of the lesion; the cheek's hand
    // wobbles, which the default margin (3 sd) absorbs here.
    assert_eq!(z["avoid_violations"].as_u64(), Some(0), "the cheek's lesion is kept clear");
    assert!(z["avoid_clearance_mm"].as_f64().is_some());
    assert_eq!(z["avoid_regions"][0]["region"], 1);
    assert_eq!(z["avoid_regions"][0]["punctures"], 0);
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

#[test]
fn pictures_are_written_whole_with_no_temporary_file_left() {
    // What the maps show is checked below, picture by picture; here: each is
    // a whole PNG, as large as its layout says, and no temporary name stays.
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("cheek.toml"), &[]);
    let o = library_outcome("cheek.toml");
    for (name, layer) in [
        ("density.png", needlemap::app::plot::Layer::Density),
        ("bands.png", needlemap::app::plot::Layer::Bands),
        ("hits.png", needlemap::app::plot::Layer::Hits),
    ] {
        let img = image::open(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = needlemap::app::plot::map_placements(&o, layer).unwrap()[0];
        // The map, then the legend beside it; the panel below the map's axis labels.
        assert!(img.width() > m.origin_px.0 + m.size_px.0 + 150, "{name}: {} px wide, map {m:?}", img.width());
        assert!(img.height() > m.origin_px.1 + m.size_px.1, "{name}: {} px high, map {m:?}", img.height());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.') && n.to_string_lossy() != needlemap::app::output::MANIFEST)
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// The files of a folder a user sees (not the hidden ones), with their bytes.
fn visible_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_second_run_into_a_folder_removes_the_first_runs_pictures_and_keeps_the_users_files() {
    let sb = Sandbox::new();
    let run = |scene: &str| {
        let o = sb.run(&["simulate", &scene_path(scene), "--out", "run"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    };
    run("full-face.toml");
    sb.write("run/notes.txt", "my notes");
    let o = sb.run(&["report", "run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(sb.path("run/atlas.png").exists() && sb.path("run/report.html").exists());
    run("cheek.toml");
    // The full face's atlas and lesson page went with its run; the user's notes stay.
    let names: Vec<String> = visible_files(&sb.path("run")).into_iter().map(|f| f.0).collect();
    assert_eq!(names, ["bands.png", "density.png", "hits.png", "notes.txt", "report.json", "zones.csv"]);
    let o = sb.run(&["report", "run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("(3 pictures embedded"), "no stale atlas: {}", stdout(&o));
}

/// Copies a run folder, times kept (so the copy's manifest still matches).
fn copy_run(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        let modified = e.metadata().unwrap().modified().unwrap();
        std::fs::File::options().write(true).open(to.join(e.file_name())).unwrap().set_modified(modified).unwrap();
    }
}

#[test]
fn a_run_killed_at_any_moment_leaves_the_old_set_of_files_or_the_new_one() {
    let sb = Sandbox::new();
    let simulate = |scene: &str, out: &str| {
        let o = sb.run(&["simulate", &scene_path(scene), "--out", out]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        visible_files(&sb.path(out))
    };
    // The old set: the full face's six files; the new: the cheek's five.
    let old = simulate("full-face.toml", "old");
    let t0 = std::time::Instant::now();
    let new = simulate("cheek.toml", "new");
    let whole = t0.elapsed();
    assert_ne!(old.len(), new.len());
    for k in 0..12 {
        let dir = format!("killed-{k}");
        copy_run(&sb.path("old"), &sb.path(&dir));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
            .args(["simulate", &scene_path("cheek.toml"), "--out", &dir])
            .current_dir(sb.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread over the whole run, the last ones after it.
        std::thread::sleep(whole.mul_f64(k as f64 / 10.0));
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        // A set whose journal was committed is finished by the next needlemap
        // into the folder; here, by the same call `report` makes.
        needlemap::app::output::settle(&sb.path(&dir));
        let seen = visible_files(&sb.path(&dir));
        let names: Vec<_> = seen.iter().map(|f| &f.0).collect();
        assert!(seen == old || seen == new, "killed after {k}/10 of the run: a mix of {names:?}");
    }
}

#[test]
fn every_shipped_scene_checks_and_runs() {
    // Every scene is checked and simulated (the strategies file is checked
    // and compared, on 2 seeds: it is not a scene). All of them take 1.8 s
    // in the debug test profile on 2 cores (full-face.toml 1.2 s of it).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenes");
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let mut ran = Vec::new();
    for path in &paths {
        let sb = Sandbox::new();
        let file = path.to_str().unwrap();
        let o = sb.run(&["check", file]);
        assert_eq!(o.status.code(), Some(0), "check {file}: {}", stderr(&o));
        assert!(stdout(&o).contains(": ok:"), "{}", stdout(&o));
        let strategies = std::fs::read_to_string(path).unwrap().lines().any(|l| l.starts_with("[[strategy]]"));
        if strategies {
            let o = sb.run(&["compare", file, "--seeds", "2", "--out", "c"]);
            assert_eq!(o.status.code(), Some(0), "compare {file}: {}", stderr(&o));
            let c: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("c").join("compare.json")).unwrap())
                .unwrap_or_else(|e| panic!("{file}: compare.json: {e}"));
            assert_eq!(c["seeds_finished"].as_array().map(|s| s.len()), Some(2), "{file}: both seeds run");
            let strategies = c["strategies"].as_array().unwrap();
            assert!(strategies.len() >= 2, "{file}: {} strategies", strategies.len());
            assert_eq!(c["ranking"].as_array().unwrap().len(), strategies.len(), "{file}: every strategy ranked");
        } else {
            let o = sb.run(&["simulate", file, "--out", "o"]);
            assert_eq!(o.status.code(), Some(0), "simulate {file}: {}", stderr(&o));
            let r = report_json(&sb.path("o"));
            let zones = r["zones"].as_array().unwrap();
            assert!(!zones.is_empty(), "{file}: no zone in report.json");
            for z in zones {
                assert!(z["punctures"].as_u64().unwrap() > 0, "{file}: zone {} has no puncture", z["name"]);
                assert!(z["coverage_fraction"].as_f64().unwrap() > 0.0, "{file}: zone {}", z["name"]);
            }
            assert!(sb.path("o").join("density.png").exists(), "{file}: no density map");
            assert!(stdout(&o).contains("punctures with"), "{file}: no summary: {}", stdout(&o));
        }
        ran.push((path.file_name().unwrap().to_string_lossy().into_owned(), strategies));
    }
    assert!(ran.len() >= 5, "{ran:?}");
    assert!(ran.iter().any(|r| r.1) && ran.iter().filter(|r| !r.1).count() >= 5, "{ran:?}");
}

#[test]
fn an_output_folder_that_cannot_be_made_fails_with_exit_1_and_one_line() {
    // Not bad input (exit 2) but a failure to write (exit 1), said in one
    // line naming the folder; nothing printed on stdout, nothing written.
    let sb = Sandbox::new();
    let file = sb.write("a-file", "x");
    let scene = scene_path("cheek.toml");
    for out in [file.join("out"), file.clone()] {
        let o = sb.run(&["simulate", &scene, "--out", out.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "--out {}: {err}", out.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: cannot create the output folder") && err.contains(out.to_str().unwrap()),
            "{err}"
        );
        assert_eq!(stdout(&o), "", "nothing printed before the files are written");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x", "the file in the way is left alone");
    let names: Vec<_> = std::fs::read_dir(sb.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "only the file in the way: {names:?}");
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

// ---- Pictures checked by their content ----

/// A shipped scene run by the library: the outcome `simulate` wrote for the
/// same file (same scene and seed give bit-identical results,
/// tests/engine/determinism.rs). It gives what report.json leaves out: each
/// analysis cell's count and area, and the layout of the maps.
fn library_outcome(name: &str) -> needlemap::Outcome {
    let path = scene_path(name);
    let scene = needlemap::core::input::scene::Scene::from_toml_str(&std::fs::read_to_string(&path).unwrap(), &path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    needlemap::run(&scene, &needlemap::RunOptions::default()).unwrap()
}

/// The pixels of zone `z`'s map in a picture of `layer` whose centres lie on
/// treatable skin (inside the outline, outside the avoid regions): the
/// chart point each pixel shows, and its colour. Legend, caption and axes
/// lie outside the map and are never sampled.
fn map_samples(
    o: &needlemap::Outcome,
    layer: needlemap::app::plot::Layer,
    img: &image::RgbImage,
    z: usize,
) -> Vec<(needlemap::core::geometry::shape::Vec2, [u8; 3])> {
    let placements = needlemap::app::plot::map_placements(o, layer).unwrap();
    let m = placements.iter().find(|m| m.zone == z).expect("the zone has a map");
    let (x0, y0) = m.origin_px;
    assert!(x0 + m.size_px.0 <= img.width() && y0 + m.size_px.1 <= img.height(), "the map lies in the picture");
    let region = &o.scene.zones[z].region;
    let mut out = Vec::new();
    for y in y0..y0 + m.size_px.1 {
        for x in x0..x0 + m.size_px.0 {
            let p = m.chart_mm((x, y)).unwrap();
            if region.treatable(p) {
                out.push((p, img.get_pixel(x, y).0));
            }
        }
    }
    out
}

/// Per analysis cell, the sampled pixels' colours and how many of each.
fn colours_per_cell(
    layout: &needlemap::core::geometry::layout::Layout,
    samples: &[(needlemap::core::geometry::shape::Vec2, [u8; 3])],
) -> std::collections::BTreeMap<usize, std::collections::HashMap<[u8; 3], usize>> {
    let mut cells: std::collections::BTreeMap<usize, std::collections::HashMap<[u8; 3], usize>> = Default::default();
    for &(p, c) in samples {
        if let Some(cell) = layout.cell_of(p) {
            *cells.entry(cell).or_default().entry(c).or_default() += 1;
        }
    }
    cells
}

/// The commonest colour of a cell's pixels and its share of them.
fn mode(colours: &std::collections::HashMap<[u8; 3], usize>) -> ([u8; 3], f64) {
    let total: usize = colours.values().sum();
    let (c, n) = colours.iter().max_by_key(|(c, n)| (**n, **c)).unwrap();
    (*c, *n as f64 / total as f64)
}

fn rgb(c: plotters::style::RGBColor) -> [u8; 3] {
    [c.0, c.1, c.2]
}

fn report_json(out: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// The band map's cells, classified by the band colours of the pixels that
/// show them, give the zone's reported under and over shares.
fn check_band_map(o: &needlemap::Outcome, img: &image::RgbImage, zone: &Value) {
    use needlemap::app::plot::{IN_BAND, Layer, OVER, UNDER};
    let field = &o.fields[0];
    let cells = colours_per_cell(&field.layout, &map_samples(o, Layer::Bands, img, 0));
    // Weighted as the report weights them: each cell in the spread (at
    // least half inside the zone) by its true in-zone area.
    let spread: Vec<usize> = (0..field.cell_area_mm2.len()).filter(|&c| field.cell_in_spread[c]).collect();
    let total: f64 = spread.iter().map(|&c| field.cell_area_mm2[c]).sum();
    let (mut under, mut inside, mut over, mut unseen) = (0.0, 0.0, 0.0, 0.0);
    let mut odd = Vec::new();
    for &c in &spread {
        let a = field.cell_area_mm2[c] / total;
        // Every pixel of a cell has the cell's colour (the map is one
        // colour per cell); the outline, the scale bar and the crosses of
        // avoid-region punctures cover a few. The cell's colour is its
        // pixels' commonest, which must be a band colour and cover most of
        // them.
        let Some(colours) = cells.get(&c) else {
            unseen += a; // no pixel centre on its treatable part
            continue;
        };
        let (colour, share) = mode(colours);
        match colour {
            k if k == rgb(UNDER) => under += a,
            k if k == rgb(IN_BAND) => inside += a,
            k if k == rgb(OVER) => over += a,
            _ => {
                unseen += a;
                odd.push((c, colour, share));
                continue;
            }
        }
        if share < 0.5 {
            odd.push((c, colour, share));
        }
    }
    assert!(odd.is_empty(), "cells not shown in one band colour (cell, commonest colour, its share): {odd:?}");
    // The cells no pixel shows could be of any band: the picture's shares
    // are exact up to their area (the bound is the whole tolerance).
    let (ru, ro) = (zone["under_fraction"].as_f64().unwrap(), zone["over_fraction"].as_f64().unwrap());
    eprintln!("bands: under {under:.5} / {ru:.5}, over {over:.5} / {ro:.5}, in {inside:.5}, unseen {unseen:.5}");
    assert!(unseen < 0.01, "{unseen:.4} of the zone's area is in cells the map does not show");
    for (what, pic, rep) in [("under", under, ru), ("over", over, ro), ("in band", inside, 1.0 - ru - ro)] {
        assert!(
            pic <= rep + 1e-9 && rep <= pic + unseen + 1e-9,
            "{what}: {pic:.4} of the zone's area in the picture (+ {unseen:.4} unseen), {rep:.4} in report.json"
        );
    }
}

#[test]
fn the_band_map_shows_the_reported_under_and_over_shares() {
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("cheek.toml"), &[]);
    let report = report_json(&out);
    let o = library_outcome("cheek.toml");
    assert_eq!(
        report["zones"][0]["under_fraction"].as_f64(),
        o.zones[0].under_fraction,
        "the library's run is simulate's"
    );
    let img = image::open(out.join("bands.png")).unwrap().to_rgb8();
    check_band_map(&o, &img, &report["zones"][0]);
}

/// The hit map's pixels, classified by the hit-class colours, give the
/// zone's reported hit shares.
fn check_hit_map(o: &needlemap::Outcome, img: &image::RgbImage, zone: &Value) {
    use needlemap::app::plot::{HITS, Layer};
    let samples = map_samples(o, Layer::Hits, img, 0);
    let mut n = [0usize; 4];
    for (_, c) in &samples {
        if let Some(k) = HITS.iter().position(|&h| rgb(h) == *c) {
            n[k] += 1;
        }
    }
    let classified: usize = n.iter().sum();
    assert!(classified > 0, "no pixel of the map shows a hit class");
    // Pixels on treatable skin that show no class: under the outline, the
    // scale bar and the crosses. Whatever they hide, each class's share
    // moves by at most their share.
    let hidden = 1.0 - classified as f64 / samples.len() as f64;
    // Each pixel shows the class of one raster cell (the preview keeps one
    // raster cell in `step` x `step`, and a pixel shows the preview cell at
    // its centre): the picture is a sample of the raster, which the report
    // counts whole (flat zone: every raster cell weighs the same). Classes
    // are alike within a needle disk's diameter 2r, so the sample holds
    // about (area sampled) / (2r)^2 independent points; a share s then
    // differs from the whole raster's by sqrt(s (1 - s) / n) in the mean,
    // and 4 of those bound it.
    let r = o.scene.cartridge.needle_radius_mm();
    let m = &needlemap::app::plot::map_placements(o, Layer::Hits).unwrap()[0];
    let px_mm2 = m.mm_per_px().x * m.mm_per_px().y;
    let independent = classified as f64 * px_mm2 / (2.0 * r).powi(2);
    let shares: Vec<f64> = zone["hit_shares"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for k in 0..4 {
        let pic = n[k] as f64 / classified as f64;
        let tol = hidden + 4.0 * (shares[k] * (1.0 - shares[k]) / independent).sqrt();
        eprintln!("hits {k}: picture {pic:.5}, report {:.5}, tolerance {tol:.5} (hidden {hidden:.5})", shares[k]);
        assert!(
            (pic - shares[k]).abs() <= tol,
            "hit class {k}: {pic:.4} of the map's pixels, {:.4} in report.json (tolerance {tol:.4})",
            shares[k]
        );
    }
}

#[test]
fn the_hit_map_shows_the_reported_hit_shares() {
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("cheek.toml"), &[]);
    let report = report_json(&out);
    let o = library_outcome("cheek.toml");
    let img = image::open(out.join("hits.png")).unwrap().to_rgb8();
    check_hit_map(&o, &img, &report["zones"][0]);
}

/// viridis (the density map's scale) at `n` + 1 evenly spaced points of 0..1.
fn viridis_table(n: usize) -> Vec<[u8; 3]> {
    (0..=n)
        .map(|i| {
            let c = colorous::VIRIDIS.eval_continuous(i as f64 / n as f64);
            [c.r, c.g, c.b]
        })
        .collect()
}

/// The density map's cells show their densities on viridis over
/// 0..density_max, and the densities they show spread as report.json says.
fn check_density_map(o: &needlemap::Outcome, img: &image::RgbImage, zone: &Value) {
    use needlemap::app::plot::Layer;
    let field = &o.fields[0];
    let vmax = needlemap::core::report::density_max(field, o.scene.zones[0].target_per_cm2);
    let cells = colours_per_cell(&field.layout, &map_samples(o, Layer::Density, img, 0));
    // A colour read back as the scale position of the nearest colour in a
    // fine table of viridis. How far that can be from the true position:
    // colours are stored in whole 8-bit steps, so neighbouring positions
    // share a colour; the widest run of table points with one colour, plus
    // a table step, bounds the error.
    const N: usize = 4096;
    let table = viridis_table(N);
    let mut widest = 0usize;
    let mut run = 1usize;
    for w in table.windows(2) {
        run = if w[0] == w[1] { run + 1 } else { 1 };
        widest = widest.max(run);
    }
    let t_tol = (widest + 1) as f64 / N as f64;
    let read = |c: [u8; 3]| {
        let d2 = |k: &[u8; 3]| (0..3).map(|i| (k[i] as i32 - c[i] as i32).pow(2)).sum::<i32>();
        let (i, k) = table.iter().enumerate().min_by_key(|(_, k)| d2(k)).unwrap();
        (i as f64 / N as f64, d2(k))
    };
    let mut shown = Vec::new(); // (density shown, area) of the cells in the spread
    let mut bad = Vec::new();
    for (&c, colours) in &cells {
        let Some(d) = field.cell_density_per_cm2(c) else { continue };
        // The pixels in a colour of the scale (within one 8-bit step a
        // channel); the others are the outline, the scale bar and the
        // crosses of avoid-region punctures drawn over the map.
        let on_scale: std::collections::HashMap<[u8; 3], usize> =
            colours.iter().filter(|(c, _)| read(**c).1 <= 3).map(|(c, n)| (*c, *n)).collect();
        if on_scale.is_empty() {
            continue;
        }
        let (colour, share) = mode(&on_scale);
        let t = read(colour).0;
        let want = (d / vmax).min(1.0);
        if (t - want).abs() > t_tol || share < 0.5 {
            bad.push((c, d, colour, share));
        }
        if field.cell_in_spread[c] {
            shown.push((t * vmax, field.cell_area_mm2[c]));
        }
    }
    assert!(cells.len() > 100, "only {} cells sampled", cells.len());
    assert!(bad.is_empty(), "cells not shown at their density (cell, /cm², commonest colour, share): {bad:?}");
    // Every cell in the spread is shown (no pixel centre falls on the
    // treatable part of the others), and the densities shown spread as the
    // report says: weighted by area, their percentiles are the reported
    // ones within the colour's resolution.
    let spread = field.cell_in_spread.iter().filter(|&&s| s).count();
    assert_eq!(shown.len(), spread, "cells of the spread shown");
    shown.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = shown.iter().map(|s| s.1).sum();
    let percentile = |q: f64| {
        let mut acc = 0.0;
        shown
            .iter()
            .find(|s| {
                acc += s.1;
                acc >= q * total
            })
            .unwrap()
            .0
    };
    let d = &zone["density_per_cm2"];
    for (key, q) in [("p5", 0.05), ("p50", 0.5), ("p95", 0.95)] {
        let (pic, rep) = (percentile(q), d[key].as_f64().unwrap());
        eprintln!("density {key}: picture {pic:.1}, report {rep:.1}, tolerance {:.1}", t_tol * vmax);
        assert!((pic - rep).abs() <= t_tol * vmax, "{key}: {pic:.0} /cm² in the picture, {rep:.0} in report.json");
    }
}

#[test]
fn the_density_map_shows_each_cell_at_its_density_on_the_colour_scale() {
    let sb = Sandbox::new();
    let out = simulate(&sb, &scene_path("cheek.toml"), &[]);
    let report = report_json(&out);
    let o = library_outcome("cheek.toml");
    let img = image::open(out.join("density.png")).unwrap().to_rgb8();
    check_density_map(&o, &img, &report["zones"][0]);
}

/// The simulate report carries the plan, so it can be handed on:
/// report.json has the hand and every zone's target, skin and passes as the
/// scene gives them, and the HTML page shows them.
#[test]
fn the_simulate_report_carries_the_plan() {
    let sb = Sandbox::new();
    let o = sb.run(&["simulate", &scene_path("cheek.toml"), "--out", "run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("run/report.json")).unwrap()).unwrap();
    let plan = &r["plan"];
    // scenes/cheek.toml: hand at 40 mm/s, jitter 0.5 mm and 0.2; one zone,
    // target 1500-3000, three passes 4 mm apart at 0, 90 and 45 degrees.
    assert_eq!(plan["hand"]["speed_mm_s"].as_f64(), Some(40.0), "{plan}");
    assert_eq!(plan["hand"]["lateral_jitter_mm"].as_f64(), Some(0.5));
    let zone = &plan["zones"][0];
    assert_eq!(zone["name"], "left cheek");
    assert_eq!(zone["target_per_cm2"], serde_json::json!([1500.0, 3000.0]));
    let passes = zone["passes"].as_array().unwrap();
    let angles: Vec<f64> = passes.iter().map(|p| p["angle_deg"].as_f64().unwrap()).collect();
    assert_eq!(angles, [0.0, 90.0, 45.0]);
    assert!(passes.iter().all(|p| p["lane_spacing_mm"].as_f64() == Some(4.0) && p["depth_mm"].as_f64() == Some(1.0)));
    let o = sb.run(&["report", "run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(sb.path("run/report.html")).unwrap();
    for shown in ["The plan", "pen-12", "40 mm/s (4 cm/s)", "1500–3000", "4 mm apart at 90°", "3 diagonal"] {
        assert!(page.contains(shown), "the page lacks {shown:?}");
    }
}
