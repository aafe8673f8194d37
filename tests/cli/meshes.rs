//! Mesh zones through the command: OBJ files beside the scene, broken OBJs,
//! built-in anatomy, depth warnings, seams and the atlas.

use crate::{Sandbox, scene_path, stderr, stdout};
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn scene_with_mesh(mesh: &str, extra_zone_keys: &str) -> String {
    format!(
        "[cartridge]\npreset = \"pen-12\"\ndepth_mm = 0.5\n[hand]\nspeed_mm_s = 40\n\n[[zones]]\nname = \"z\"\nmesh = \"{mesh}\"\n{extra_zone_keys}\n\
         [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n"
    )
}

/// A sandbox with the test OBJ files copied in.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    for entry in std::fs::read_dir(DATA).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, sb.path(p.file_name().unwrap().to_str().unwrap())).unwrap();
        }
    }
    sb
}

#[test]
fn broken_meshes_fail_with_one_clear_line_and_nothing_written() {
    let cases = [
        ("degenerate.obj", "degenerate"),
        ("nonmanifold.obj", "non-manifold"),
        ("nan.obj", "not a finite number"),
        ("closed.obj", "closed"),
        ("garbage.obj", "not a readable OBJ"),
        ("missing.obj", "cannot read"),
        ("patches.obj#chin", "no group or object `chin`"),
        ("two-objects.obj", "is 2 separate pieces that share no edge (of 2, 2 triangles)"),
        ("builtin:elbow", "no such built-in zone"),
    ];
    for (mesh, needle) in cases {
        let sb = sandbox();
        let scene = sb.write("scene.toml", &scene_with_mesh(mesh, ""));
        let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", "o"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{mesh}: {err}");
        assert!(!err.contains("panicked"), "{mesh}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{mesh}: {err}");
        assert!(err.contains("scene.toml:9:") && err.contains("zones[0].mesh"), "{mesh}: {err}");
        assert!(err.contains(needle), "{mesh}: expected `{needle}` in {err}");
        assert!(!sb.path("o").exists(), "{mesh}: output written");
    }
}

/// One group of an OBJ file, read here independently of the engine: per
/// triangle its 3D area and, if it has UVs, its UV area; and the length of
/// its border (edges of one triangle only).
struct ObjGroup {
    areas_3d: Vec<f64>,
    areas_uv: Option<Vec<f64>>,
    border_mm: f64,
}

fn obj_group(text: &str, group: &str) -> ObjGroup {
    let (mut v, mut vt, mut faces, mut current) = (Vec::new(), Vec::new(), Vec::new(), String::new());
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let nums = |it: std::str::SplitWhitespace| it.map(|x| x.parse::<f64>().unwrap()).collect::<Vec<f64>>();
        match it.next() {
            Some("v") => v.push(nums(it)),
            Some("vt") => vt.push(nums(it)),
            Some("g") | Some("o") => current = it.next().unwrap_or("").to_string(),
            Some("f") if current == group => faces.push(
                it.map(|c| {
                    let mut ix = c.split('/').map(|x| x.parse::<usize>().ok());
                    (ix.next().flatten().unwrap() - 1, ix.next().flatten().map(|t| t - 1))
                })
                .collect::<Vec<_>>(),
            ),
            _ => {}
        }
    }
    let sub = |a: &[f64], b: &[f64]| [a[0] - b[0], a[1] - b[1], a.get(2).map_or(0.0, |z| z - b[2])];
    let area = |p: [&[f64]; 3]| {
        let (e, f) = (sub(p[1], p[0]), sub(p[2], p[0]));
        let c = [e[1] * f[2] - e[2] * f[1], e[2] * f[0] - e[0] * f[2], e[0] * f[1] - e[1] * f[0]];
        (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt() / 2.0
    };
    let areas_3d = faces.iter().map(|f| area([&v[f[0].0][..], &v[f[1].0], &v[f[2].0]])).collect();
    let areas_uv = faces
        .iter()
        .map(|f| Some(area([&vt[f[0].1?][..2], &vt[f[1].1?][..2], &vt[f[2].1?][..2]])))
        .collect::<Option<Vec<f64>>>();
    let mut edges = std::collections::HashMap::new();
    for f in &faces {
        for k in 0..3 {
            let (a, b) = (f[k].0, f[(k + 1) % 3].0);
            *edges.entry((a.min(b), a.max(b))).or_insert(0) += 1;
        }
    }
    let border_mm = edges
        .iter()
        .filter(|&(_, &n)| n == 1)
        .map(|(&(a, b), _)| {
            let d = sub(&v[a], &v[b]);
            (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
        })
        .sum();
    ObjGroup { areas_3d, areas_uv, border_mm }
}

#[test]
fn an_obj_group_beside_the_scene_runs_and_reports_its_chart() {
    let sb = sandbox();
    let obj = std::fs::read_to_string(sb.path("patches.obj")).unwrap();
    let run = |group: &str| {
        let scene =
            sb.write(&format!("{group}.toml"), &scene_with_mesh(&format!("patches.obj#{group}"), "mesh_unit_mm = 1"));
        let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", group]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let r: Value =
            serde_json::from_str(&std::fs::read_to_string(sb.path(group).join("report.json")).unwrap()).unwrap();
        (stdout(&o), r["zones"][0].clone(), obj_group(&obj, group))
    };
    // No UVs: a conformal chart, scaled to the true area.
    let (text, z, g) = run("forehead");
    assert!(text.contains("lscm chart"), "{text}");
    assert_eq!(z["surface"], "patches.obj#forehead");
    assert_eq!(z["chart"]["method"], "lscm");
    // The true area is the triangles' (summed here, in cm²) up to the raster
    // that measures it: raster cells of side h crossing the border count
    // wholly in or out, about sqrt(2) x border / h cells of h² each, so within
    // 2 x border x h (the chart's border is the 3D one to a few %).
    let h = z["raster_mm"].as_f64().unwrap();
    let tol = 2.0 * g.border_mm * h / 100.0;
    let true_cm2 = g.areas_3d.iter().sum::<f64>() / 100.0;
    let (area, chart) = (z["area_cm2"].as_f64().unwrap(), z["chart_area_cm2"].as_f64().unwrap());
    assert!((area - true_cm2).abs() <= tol, "area {area} cm², the triangles {true_cm2} (tolerance {tol})");
    assert!((chart - true_cm2).abs() <= tol, "chart area {chart} cm², the triangles {true_cm2} (tolerance {tol})");
    assert!(sb.path("forehead/atlas.png").exists());
    // UVs of one island stretching area evenly: the chart is the UVs, and its
    // stretch per triangle (true / chart area, over its mean) is the file's.
    // The OBJ reader keeps f32 coordinates: 80 mm x 2^-24 = 5e-6 mm each,
    // 2e-6 of a 2.5 mm edge; a ratio of two triangle areas (four edges) moves
    // by under 1e-5.
    let (_, z, g) = run("cheek");
    assert_eq!(z["chart"]["method"], "uv", "{}", z["chart"]);
    let uv = g.areas_uv.expect("the cheek has UVs");
    let mean = g.areas_3d.iter().sum::<f64>() / uv.iter().sum::<f64>();
    let ratios: Vec<f64> = g.areas_3d.iter().zip(&uv).map(|(a, u)| a / u / mean).collect();
    let d = &z["chart"]["distortion"];
    for (key, want) in [
        ("area_stretch_min", ratios.iter().copied().fold(f64::INFINITY, f64::min)),
        ("area_stretch_max", ratios.iter().copied().fold(0.0, f64::max)),
    ] {
        let got = d[key].as_f64().unwrap();
        assert!((got - want).abs() < 1e-5, "{key}: {got}, from the file {want}");
    }
    // UVs that stretch area by more than 10 % on average are refused, with
    // that share named, for a conformal chart.
    let (_, z, g) = run("stretched");
    let uv = g.areas_uv.expect("the stretched patch has UVs");
    let total: f64 = g.areas_3d.iter().sum();
    let mean = total / uv.iter().sum::<f64>();
    let deviation: f64 = g.areas_3d.iter().zip(&uv).map(|(a, u)| (a / u / mean - 1.0).abs() * a).sum::<f64>() / total;
    assert!(deviation > 0.1, "the test patch stretches by {deviation}");
    assert_eq!(z["chart"]["method"], "lscm");
    let said = format!("its UVs stretch area by {:.0} % on average (more than 10 %)", deviation * 100.0);
    assert!(
        z["chart"]["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains(&said)),
        "{}: {said}",
        z["chart"]
    );
}

#[test]
fn depth_outside_the_zone_range_is_flagged_with_the_reason() {
    let sb = Sandbox::new();
    let scene = sb.write("scene.toml", &scene_with_mesh("builtin:forehead", "depth_mm = 1.5"));
    let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", "o"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let reason = "z: 1.5 mm is above the thin-skin range 0.25-0.5 mm";
    assert!(stdout(&o).contains(reason), "{}", stdout(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("o/report.json")).unwrap()).unwrap();
    assert_eq!(r["zones"][0]["passes"][0]["depth_warning"], reason);
    // Thick skin moves the range.
    let scene = sb.write("thick.toml", &scene_with_mesh("builtin:forehead", "depth_mm = 0.6\nskin = \"thick\""));
    let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", "t"]);
    assert!(!stdout(&o).contains("depth warning"), "{}", stdout(&o));
}

#[test]
fn the_full_face_runs_every_zone_with_seams_and_an_atlas() {
    let sb = Sandbox::new();
    let o = sb.run(&["simulate", &scene_path("full-face.toml"), "--out", "o"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("o/report.json")).unwrap()).unwrap();
    let zones = r["zones"].as_array().unwrap();
    assert_eq!(zones.len(), 10);
    for z in zones {
        assert_eq!(z["unmapped_punctures"], 0, "{}", z["name"]);
        assert!(z["depth_warnings"].as_array().unwrap().is_empty(), "{}: {}", z["name"], z["depth_warnings"]);
    }
    let seams = r["seams"].as_array().unwrap();
    let names: Vec<String> = seams
        .iter()
        .map(|s| format!("{}|{}", s["zones"][0].as_str().unwrap(), s["zones"][1].as_str().unwrap()))
        .collect();
    for pair in ["forehead|nose", "nose|cheek-left", "nose|perioral", "perioral|chin", "chin|jawline-right"] {
        assert!(names.contains(&pair.to_string()), "seam {pair} missing from {names:?}");
    }
    for s in seams {
        let missed = s["missed_share"].as_f64().unwrap();
        assert!(
            missed > s["zones_missed_share"].as_f64().unwrap(),
            "zone-by-zone work leaves more untouched along a seam: {s}"
        );
        assert!(s["sides"][0]["reached_over"].as_u64().unwrap() > 0);
    }
    assert!(sb.path("o/atlas.png").exists());
}

#[test]
fn zones_lists_the_built_in_anatomy() {
    let o = Sandbox::new().run(&["zones"]);
    let text = stdout(&o);
    for z in [
        "forehead",
        "temple-left",
        "nose",
        "cheek-right",
        "perioral",
        "chin",
        "jawline-left",
        "neck",
        "decolletage",
        "abdomen",
        "thigh",
    ] {
        assert!(text.contains(z), "{z} missing");
    }
    assert!(text.contains("0.25–0.5") && text.contains("area cm²"));
}

#[test]
fn a_mesh_file_over_the_size_limit_is_refused_without_reading_it() {
    let sb = Sandbox::new();
    // A sparse 300 MiB file: no disk is used, and it is never read.
    let f = std::fs::File::create(sb.path("huge.obj")).unwrap();
    f.set_len(300 << 20).unwrap();
    let scene = sb.write("scene.toml", &scene_with_mesh("huge.obj", ""));
    let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", "o"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("300 MiB") && err.contains("256 MiB"), "{err}");
}

#[test]
fn mesh_zones_and_seams_are_identical_on_one_and_two_threads() {
    // The full face (built-in zones, 19 seams) and two OBJ zones with hand
    // jitter: the same seed on 1 and 2 threads gives the same report.json,
    // byte for byte (it holds no timings).
    let sb = sandbox();
    let two = "name = \"obj\"\nseed = 3\n[cartridge]\npreset = \"pen-12\"\ndepth_mm = 0.5\n\
               [hand]\nspeed_mm_s = 40\nlateral_jitter_mm = 0.4\nspeed_jitter = 0.15\n\n\
               [[zones]]\nname = \"cheek\"\nmesh = \"patches.obj#cheek\"\n[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n\
               [[zones.passes]]\npattern = \"diagonal\"\nlane_spacing_mm = 4\n\n\
               [[zones]]\nname = \"forehead\"\nmesh = \"patches.obj#forehead\"\n[[zones.passes]]\npattern = \"vertical\"\nlane_spacing_mm = 4\n";
    let obj = sb.write("two.toml", two);
    for scene in [scene_path("full-face.toml"), obj.display().to_string()] {
        for threads in ["1", "2"] {
            let o = sb.run(&["simulate", &scene, "--threads", threads, "--out", &format!("t{threads}")]);
            assert_eq!(o.status.code(), Some(0), "{scene}: {}", stderr(&o));
        }
        for f in ["report.json", "zones.csv"] {
            let (a, b) = (std::fs::read(sb.path("t1").join(f)).unwrap(), std::fs::read(sb.path("t2").join(f)).unwrap());
            assert!(a == b, "{scene}: {f} differs between 1 and 2 threads");
        }
        let r: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("t1/report.json")).unwrap()).unwrap();
        assert!(r["zones"].as_array().unwrap().iter().all(|z| z["surface"] != "flat"), "{scene}: mesh zones");
        if scene.ends_with("full-face.toml") {
            assert_eq!(r["seams"].as_array().unwrap().len(), 19, "the full face's seams");
        }
    }
}

#[test]
fn chart_draws_each_zones_chart_with_its_avoid_regions_and_stretch() {
    let sb = sandbox();
    let o = sb.run(&["chart", &scene_path("cheek.toml"), "--out", "cheek.png"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let img = image::open(sb.path("cheek.png")).unwrap().to_rgb8();
    let count = |c: plotters::style::RGBColor| img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count() as f64;
    let (skin, avoid) = (count(needlemap::app::plot::FLAT_CHART), count(plotters::style::RGBColor(200, 200, 210)));
    // The cheek's lesion (a 6 mm circle) in its 70 x 55 mm ellipse: 3.7 % of it.
    let share = avoid / (skin + avoid);
    let exact = 36.0 / (35.0 * 27.5);
    assert!((share / exact - 1.0).abs() < 0.15, "avoid share {share} against {exact}");
    // A bent sheet's chart: coloured by stretch, one panel; the scene is no output.
    sb.write("scene.toml", &scene_with_mesh("patches.obj#forehead", ""));
    let o = sb.run(&["chart", "scene.toml", "--out", "scene.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is one of this command's inputs"), "{}", stderr(&o));
    let o = sb.run(&["chart", "scene.toml", "--out", "f.png"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let img = image::open(sb.path("f.png")).unwrap().to_rgb8();
    let tinted = img.pixels().filter(|p| p.0[0] != p.0[2] && p.0 != [0, 0, 0]).count();
    assert!(tinted > 10_000, "stretch colours: {tinted} pixels");
}
