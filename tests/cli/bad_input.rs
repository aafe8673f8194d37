//! Bad input never panics and never writes: one clear message naming the file,
//! the line and the key (and what is accepted), exit code 2, and no output
//! folder left behind.

use crate::{Sandbox, stderr};

/// The minimal scene every test shares (`tests/data/minimal.toml`).
const GOOD: &str = include_str!("../data/minimal.toml");

/// Replaces `from` (which must occur) in the good scene.
fn variant(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "test set-up: `{from}` not in the scene");
    GOOD.replacen(from, to, 1)
}

/// Runs `simulate` on `text` and checks the failure: exit 2, one error line
/// naming `scene.toml:<line>:`, each of `needles` in it, no output written.
fn check(case: &str, text: &str, line: usize, needles: &[&str]) {
    let sb = Sandbox::new();
    let scene = sb.write("scene.toml", text);
    let out = sb.path("out");
    let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{case}: exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "{case}: panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{case}: one line expected: {err}");
    let at = format!("scene.toml:{line}:");
    assert!(err.contains(&at), "{case}: expected `{at}` in: {err}");
    for n in needles {
        assert!(err.contains(n), "{case}: expected `{n}` in: {err}");
    }
    assert!(!out.exists(), "{case}: the output folder was created");
}

#[test]
fn the_good_scene_runs() {
    let sb = Sandbox::new();
    let scene = sb.write("scene.toml", GOOD);
    let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", "o"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn malformed_toml_names_the_line() {
    check("malformed", &variant("seed = 1", "seed = "), 2, &["seed"]);
    check("unclosed table", &variant("[hand]", "[hand"), 7, &[]);
}

#[test]
fn unknown_keys_are_rejected_with_the_accepted_ones() {
    check(
        "unknown hand key",
        &variant("speed_mm_s = 10", "speed_mm_s = 10\nsped_mm_s = 3"),
        9,
        &["sped_mm_s", "speed_mm_s", "lateral_jitter_mm"],
    );
    check("unknown top key", &variant("seed = 1", "seed = 1\ncolour = \"red\""), 3, &["colour"]);
    check("unknown pass key", &variant("lane_spacing_mm = 3", "lane_spacing_mm = 3\nspacing = 2"), 17, &["spacing"]);
    check("unknown shape", &variant("{ rect = {", "{ square = {"), 12, &["square", "rect", "ellipse", "polygon"]);
}

#[test]
fn wrong_types_are_rejected() {
    check("string speed", &variant("speed_mm_s = 10", "speed_mm_s = \"fast\""), 8, &["speed_mm_s"]);
    check("negative seed", &variant("seed = 1", "seed = -1"), 2, &["seed"]);
    check(
        "fractional repeats",
        &variant("lane_spacing_mm = 3", "lane_spacing_mm = 3\nrepeats = 1.5"),
        17,
        &["repeats"],
    );
}

#[test]
fn a_missing_table_or_field_is_named_not_the_first_line() {
    // A scene that opens with comments and lacks its [cartridge] table: the
    // table is named, not the comment on line 1.
    let text = format!("# my scene\n# for the lesson\n{}", variant("[cartridge]\npreset = \"pen-12\"\n", ""));
    check("no cartridge", &text, 1, &[": cartridge: is missing: the scene needs a [cartridge] table"]);
    let sb = Sandbox::new();
    sb.write("s.toml", &text);
    assert!(!stderr(&sb.run(&["check", "s.toml"])).contains("# my scene"));
    // A field missing inside a table: named with the table it belongs in.
    check("no height", &variant(", height_mm = 10", ""), 12, &["shape.height_mm: is missing"]);
}

#[test]
fn non_positive_or_nan_numbers_are_rejected_with_the_accepted_range() {
    // A huge value is shown as written in exponent form, not in 200 digits.
    let text = variant("lane_spacing_mm = 3", "lane_spacing_mm = 1e200");
    check("huge spacing", &text, 16, &["lane_spacing_mm: 1e200 is not plausible"]);
    for bad in ["-10", "0", "nan", "inf"] {
        check(
            &format!("speed {bad}"),
            &variant("speed_mm_s = 10", &format!("speed_mm_s = {bad}")),
            8,
            &["hand.speed_mm_s", "> 0"],
        );
    }
    for bad in ["-3", "0", "nan"] {
        check(
            &format!("spacing {bad}"),
            &variant("lane_spacing_mm = 3", &format!("lane_spacing_mm = {bad}")),
            16,
            &["zones[0].passes[0].lane_spacing_mm", "> 0"],
        );
    }
    for bad in ["-110", "0", "nan"] {
        check(
            &format!("rate {bad}"),
            &variant("preset = \"pen-12\"", &format!("preset = \"pen-12\"\nrate_hz = {bad}")),
            6,
            &["cartridge.rate_hz", "Hz"],
        );
        check(
            &format!("pass rate {bad}"),
            &variant("lane_spacing_mm = 3", &format!("lane_spacing_mm = 3\nrate_hz = {bad}")),
            17,
            &["passes[0].rate_hz"],
        );
    }
    for bad in ["-0.25", "0", "nan"] {
        check(
            &format!("diameter {bad}"),
            &variant("preset = \"pen-12\"", &format!("preset = \"pen-12\"\nneedle_diameter_mm = {bad}")),
            6,
            &["cartridge.needle_diameter_mm", "mm"],
        );
    }
    check(
        "negative jitter",
        &variant("speed_mm_s = 10", "speed_mm_s = 10\nlateral_jitter_mm = -1"),
        9,
        &["hand.lateral_jitter_mm", ">= 0"],
    );
    check(
        "jitter of 100 %",
        &variant("speed_mm_s = 10", "speed_mm_s = 10\nspeed_jitter = 1.0"),
        9,
        &["hand.speed_jitter", "up to"],
    );
    check("zero width", &variant("width_mm = 20", "width_mm = 0"), 12, &["zones[0].shape.rect.width_mm"]);
    check(
        "bad target",
        &variant("name = \"a\"", "name = \"a\"\ntarget_per_cm2 = [3000, 1500]"),
        12,
        &["target_per_cm2", "low < high"],
    );
}

#[test]
fn empty_and_self_intersecting_polygons_are_rejected() {
    check(
        "empty polygon",
        &variant("{ rect = { width_mm = 20, height_mm = 10 } }", "{ polygon = { points_mm = [] } }"),
        12,
        &["polygon", "0 vertices"],
    );
    check(
        "bowtie",
        &variant(
            "{ rect = { width_mm = 20, height_mm = 10 } }",
            "{ polygon = { points_mm = [[0, 0], [10, 10], [10, 0], [0, 10]] } }",
        ),
        12,
        &["intersects itself"],
    );
    check(
        "collinear",
        &variant(
            "{ rect = { width_mm = 20, height_mm = 10 } }",
            "{ polygon = { points_mm = [[0, 0], [5, 5], [10, 10]] } }",
        ),
        12,
        &["no area"],
    );
    check(
        "bad avoid polygon",
        &variant("name = \"a\"", "name = \"a\"\navoid = [ { polygon = { points_mm = [[0, 0], [1, 1]] } } ]"),
        12,
        &["zones[0].avoid[0]", "3"],
    );
}

#[test]
fn unknown_names_list_what_is_accepted() {
    check("preset", &variant("pen-12", "pen-99"), 5, &["pen-99", "pen-11", "roller-192"]);
    check("pattern", &variant("\"horizontal\"", "\"zigzag\""), 15, &["zigzag", "anti-diagonal", "angle_deg"]);
    check(
        "both pattern and angle",
        &variant("lane_spacing_mm = 3", "lane_spacing_mm = 3\nangle_deg = 10"),
        17,
        &["not both"],
    );
    check(
        "random without stamps",
        &variant("pattern = \"horizontal\"\nlane_spacing_mm = 3", "pattern = \"random\""),
        14,
        &["stamps"],
    );
    check(
        "roller with a rate",
        &variant("preset = \"pen-12\"", "preset = \"roller-192\"\nrate_hz = 100"),
        6,
        &["roller"],
    );
    check("no zones", GOOD.split("[[zones]]").next().unwrap(), 10, &["zones"]);
}

#[test]
fn a_scene_too_big_for_the_memory_limit_is_refused_before_running() {
    let huge = variant("pattern = \"horizontal\"\nlane_spacing_mm = 3", "pattern = \"random\"\nstamps = 1000000000000");
    check("huge", &huge, 10, &["zones[0]", "GiB", "--max-memory-mb"]);
    // A big zone with a fine needle needs a big coverage raster.
    let vast =
        variant("{ rect = { width_mm = 20, height_mm = 10 } }", "{ rect = { width_mm = 100000, height_mm = 100000 } }");
    check("vast", &vast, 10, &["coverage raster", "GiB"]);
}

#[test]
fn a_missing_scene_file_is_named() {
    let sb = Sandbox::new();
    let o = sb.run(&["simulate", "nowhere.toml", "--out", "o"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nowhere.toml"), "{}", stderr(&o));
    assert!(!sb.path("o").exists());
}

#[test]
fn check_reports_the_same_errors_without_running() {
    let sb = Sandbox::new();
    let scene = sb.write("scene.toml", &variant("speed_mm_s = 10", "speed_mm_s = -1"));
    let o = sb.run(&["check", scene.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("scene.toml:8:"), "{}", stderr(&o));
}

/// The 1-based column (in characters) where `what` first starts on line `line` of `text`.
fn column_of(text: &str, line: usize, what: &str) -> usize {
    let l = text.lines().nth(line - 1).expect("the line");
    l[..l.find(what).unwrap_or_else(|| panic!("test set-up: `{what}` not on line {line}: {l}"))].chars().count() + 1
}

/// Checks that the error names `scene.toml:<line>:<column>: <key>: ` with the
/// column where `at` starts on that line, counted here from the text.
fn check_column(case: &str, text: &str, line: usize, key: &str, at: &str) {
    let sb = Sandbox::new();
    let scene = sb.write("scene.toml", text);
    let o = sb.run(&["check", scene.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{case}: {err}");
    let want = format!("scene.toml:{line}:{}: {key}: ", column_of(text, line, at));
    assert!(err.contains(&want), "{case}: expected `{want}` in: {err}");
}

#[test]
fn errors_name_the_column_of_the_bad_value() {
    // The guide's example: the pass's lane spacing, at its value.
    let text = variant("lane_spacing_mm = 3", "lane_spacing_mm = -3");
    check_column("spacing", &text, 16, "zones[0].passes[0].lane_spacing_mm", "-3");
    // Indented, with spaces around `=` and a comment after.
    let text = variant("speed_mm_s = 10", "  speed_mm_s =    -10   # fast");
    check_column("spaced speed", &text, 8, "hand.speed_mm_s", "-10");
    check_column("string speed", &variant("speed_mm_s = 10", "speed_mm_s = \"fast\""), 8, "speed_mm_s", "\"fast\"");
    check_column("negative seed", &variant("seed = 1", "seed = -1"), 2, "seed", "-1");
    check_column("preset", &variant("pen-12", "pen-99"), 5, "cartridge.preset", "\"pen-99\"");
    check_column("pattern", &variant("\"horizontal\"", "\"zigzag\""), 15, "zones[0].passes[0].pattern", "\"zigzag\"");
    let text = variant("name = \"a\"", "name = \"a\"\ntarget_per_cm2 = [3000, 1500]");
    check_column("target", &text, 12, "zones[0].target_per_cm2", "[3000");
    // An unknown key: the column of the key.
    let text = variant("speed_mm_s = 10", "speed_mm_s = 10\nsped_mm_s = 3");
    check_column("unknown key", &text, 9, "sped_mm_s", "sped_mm_s");
    // A value inside an inline table, far along its line.
    let text = variant(
        "[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 3",
        "passes = [ { pattern = \"horizontal\", lane_spacing_mm = -3 } ]",
    );
    check_column("inline pass", &text, 14, "zones[0].passes[0].lane_spacing_mm", "-3");
}

#[test]
fn errors_inside_a_shape_name_the_column_of_the_bad_value() {
    check_column("zero width", &variant("width_mm = 20", "width_mm = 0"), 12, "zones[0].shape.rect.width_mm", "0,");
    let text = variant("name = \"a\"", "name = \"a\"\navoid = [ { circle = { center_mm = [5, 5], radius_mm = -1 } } ]");
    check_column("avoid radius", &text, 12, "zones[0].avoid[0].circle.radius_mm", "-1");
    // A crossing polygon: at the vertex that starts the second crossing edge.
    let bow = "avoid = [ { polygon = { points_mm = [[1, 1], [9, 9], [9, 1], [1, 9]] } } ]";
    let text = variant("name = \"a\"", &format!("name = \"a\"\n{bow}"));
    check_column("bow tie", &text, 12, "zones[0].avoid[0].polygon.points_mm", "[9, 1]");
}

#[test]
fn an_output_that_is_one_of_the_inputs_is_refused_and_nothing_is_written() {
    let sb = Sandbox::new();
    let scene = sb.write("s.toml", GOOD);
    // Tracing a scene into the scene file itself would replace it.
    let o = sb.run(&["trace", "s.toml", "--out", "s.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("s.toml is one of this command's inputs"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&scene).unwrap(), GOOD, "the scene is untouched");
    // `report run --out run/report.json` would replace what it reads.
    let o = sb.run(&["simulate", "s.toml", "--out", "run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = std::fs::read(sb.path("run/report.json")).unwrap();
    let o = sb.run(&["report", "run", "--out", "run/report.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));
    assert_eq!(std::fs::read(sb.path("run/report.json")).unwrap(), before, "report.json is untouched");
    // A simulate whose output folder holds the scene under an output's name.
    let dir = sb.path("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("report.json"), GOOD).unwrap();
    let o = sb.run(&["simulate", "d/report.json", "--out", "d"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("report.json")).unwrap(), GOOD);
    assert!(!dir.join("zones.csv").exists(), "nothing written: the check comes before any file");
}

#[test]
fn devices_pipes_and_folders_are_refused_unread_and_nothing_hangs() {
    let sb = Sandbox::new();
    let fifo = sb.path("pipe.obj");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let with_mesh =
        |mesh: &str| GOOD.replace("shape = { rect = { width_mm = 20, height_mm = 10 } }", &format!("mesh = {mesh:?}"));
    // A mesh name with a mesh's extension that leads to the device.
    std::os::unix::fs::symlink("/dev/zero", sb.path("zero.obj")).unwrap();
    sb.write("zero.toml", &with_mesh("zero.obj"));
    sb.write("pipe.toml", &with_mesh("pipe.obj"));
    sb.write("traj.toml", &GOOD.replace("pattern = \"horizontal\"\nlane_spacing_mm = 3", "trajectory = \"/dev/zero\""));
    for args in [
        vec!["simulate", "/dev/zero"],
        vec!["simulate", "zero.toml"],
        vec!["simulate", "pipe.toml"],
        vec!["simulate", "traj.toml"],
        vec!["check", "/dev/zero"],
        vec!["score", "/dev/zero", "--reference", "zero.toml"],
    ] {
        // Run with a deadline: a read of /dev/zero or an open of the pipe
        // would never return.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
            .args(&args)
            .current_dir(sb.dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start needlemap");
        let started = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if started.elapsed().as_secs() > 20 {
                let _ = child.kill();
                panic!("{args:?} did not finish in 20 s (reading forever?)");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let o = child.wait_with_output().expect("output");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("not a regular file"), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: one line: {}", stderr(&o));
    }
    assert!(!sb.path("out").exists(), "nothing written");
}
