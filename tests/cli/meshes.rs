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
        std::fs::copy(&p, sb.path(p.file_name().unwrap().to_str().unwrap())).unwrap();
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

#[test]
fn an_obj_group_beside_the_scene_runs_and_reports_its_chart() {
    let sb = sandbox();
    let scene = sb.write("scene.toml", &scene_with_mesh("patches.obj#forehead", "mesh_unit_mm = 1"));
    let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", "o"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("lscm chart"), "{}", stdout(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("o/report.json")).unwrap()).unwrap();
    let z = &r["zones"][0];
    assert_eq!(z["surface"], "patches.obj#forehead");
    assert_eq!(z["chart"]["method"], "lscm");
    assert!(z["chart"]["distortion"]["area_stretch_max"].as_f64().unwrap() >= 1.0);
    assert!(sb.path("o/atlas.png").exists());
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
