//! The same results from every door: for each shipped scene, the command
//! line's report.json is the library's, byte for byte (the Python package's
//! is checked against the command line's in python/tests/test_package.py).

use crate::{Sandbox, stderr};
use std::path::Path;

/// Every scene in scenes/ (strategies files are compared, not run).
fn shipped_scenes() -> Vec<std::path::PathBuf> {
    let mut scenes: Vec<_> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes"))
        .expect("scenes/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| !needlemap::core::study::strategy::is_strategy_file(&std::fs::read_to_string(p).expect("read")))
        .collect();
    scenes.sort();
    scenes
}

#[test]
fn the_command_line_and_the_library_write_the_same_report_for_every_shipped_scene() {
    let scenes = shipped_scenes();
    let names: Vec<String> = scenes.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for want in ["cheek.toml", "cheek-traced.toml", "full-face.toml", "forehead.toml", "roller.toml"] {
        assert!(names.iter().any(|n| n == want), "{want} among {names:?}");
    }
    assert!(!names.iter().any(|n| n == "cheek-strategies.toml"));
    for scene in &scenes {
        let sb = Sandbox::new();
        let o = sb.run(&["simulate", &scene.display().to_string(), "--out", "o"]);
        assert!(o.status.success(), "{}: {}", scene.display(), stderr(&o));
        let cli = std::fs::read_to_string(sb.path("o/report.json")).expect("report.json");
        let s = needlemap::app::load_scene(scene).unwrap_or_else(|f| panic!("{}: {:#}", scene.display(), f.error));
        let outcome = needlemap::core::run(&s, &Default::default()).expect("runs");
        assert_eq!(cli, needlemap::core::report::report_json(&outcome), "{}", scene.display());
    }
}
