//! Property-based fuzzing of the parsers, run for a bounded time by every
//! test run: the shipped scenes, the strategies file, the trajectory and the
//! test meshes, mutated at random (seeded, so a failure repeats), must parse
//! or be refused with a `SceneError`, never panic; scenes that parse and are
//! small are run (`Scene -> run`) and must not panic either. Inputs that
//! once broke something are kept in `tests/data/fuzz/` and replayed first.

use needlemap::core::engine::{RunOptions, plan_checked, run};
use needlemap::core::error::ResolveError;
use needlemap::core::geometry::obj::parse_obj;
use needlemap::core::input::scene::Scene;
use needlemap::core::input::trajectory::Trace;
use needlemap::core::study::strategy::StrategySet;
use rand::{RngExt, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// How long each target is fuzzed per test run.
const BUDGET: Duration = Duration::from_millis(2500);

/// Values that have broken parsers elsewhere: extremes, signs, non-numbers.
const NASTY: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e300",
    "-1e300",
    "1e-300",
    "nan",
    "inf",
    "-inf",
    "1e6",
    "\"\"",
    "\"../../x\"",
    "[]",
    "{}",
    "18446744073709551616",
    "0.0000001",
    "true",
    "\"\\n\"",
    "[1e300, 1e300]",
    "[-5, 1e9]",
];

/// One random mutation of `text`.
fn mutate(text: &str, rng: &mut rand_pcg::Pcg64Mcg) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return String::new();
    }
    for _ in 0..rng.random_range(1..4) {
        let i = rng.random_range(0..lines.len());
        match rng.random_range(0..7) {
            0 => {
                lines.remove(i);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                // A value replaced by a nasty one.
                if let Some(eq) = lines[i].find('=') {
                    let nasty = NASTY[rng.random_range(0..NASTY.len())];
                    lines[i] = format!("{}= {nasty}", &lines[i][..eq]);
                }
            }
            3 => {
                // A number scaled or negated.
                let l: String = lines[i]
                    .split(' ')
                    .map(|w| match w.trim_end_matches(',').parse::<f64>() {
                        Ok(x) => format!("{}", x * [-1.0, 0.0, 1e6, 1e-6, 3.0][rng.random_range(0..5)]),
                        Err(_) => w.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                lines[i] = l;
            }
            4 => {
                // A byte flipped.
                let mut b = lines[i].clone().into_bytes();
                if !b.is_empty() {
                    let k = rng.random_range(0..b.len());
                    b[k] = rng.random_range(32..127);
                }
                lines[i] = String::from_utf8_lossy(&b).into_owned();
            }
            5 => lines.truncate(i + 1),
            _ => {
                let j = rng.random_range(0..lines.len());
                lines.swap(i, j);
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Runs `f` on mutations of each seed text until the budget is spent;
/// panics (with the input, to keep in tests/data/fuzz/) if `f` panics.
fn fuzz(name: &str, seeds: &[&str], mut f: impl FnMut(&str)) -> usize {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0x5eed ^ name.len() as u64);
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < BUDGET {
        let seed = seeds[n % seeds.len()];
        let input = mutate(seed, &mut rng);
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            panic!("{name}: this input panicked (keep it in tests/data/fuzz/):\n{input}");
        }
        n += 1;
    }
    n
}

const SCENES: &[&str] = &[
    include_str!("../../scenes/cheek.toml"),
    include_str!("../../scenes/forehead.toml"),
    include_str!("../../scenes/roller.toml"),
    include_str!("../../scenes/random-stamping.toml"),
    include_str!("../../scenes/cheek-traced.toml"),
    include_str!("../../tests/data/minimal.toml"),
];
const TRACE: &str = include_str!("../../scenes/traces/cheek-trainee.csv");
const OBJ: &str = include_str!("../data/patches.obj");

/// Parses a scene, reading its files from memory; runs it when small.
fn scene_then_run(text: &str) {
    let resolve = |name: &str| match name {
        n if n.ends_with(".csv") => Ok(TRACE.as_bytes().to_vec()),
        n if n.ends_with(".obj") => Ok(OBJ.as_bytes().to_vec()),
        n => Err(ResolveError::NoFiles(n.to_string())),
    };
    let Ok(scene) = Scene::from_toml_str_with(text, "fuzz.toml", &resolve) else { return };
    let opts = RunOptions { max_memory_bytes: 64 << 20 };
    if let Ok((_, est)) = plan_checked(&scene, &opts)
        && est.punctures() < 2e5
    {
        let _ = run(&scene, &opts);
    }
}

#[test]
fn the_kept_failures_and_hand_made_hostile_inputs_are_refused_cleanly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fuzz");
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("tests/data/fuzz") {
        let p = e.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("a kept input");
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if name.ends_with(".toml") {
                scene_then_run(&text);
                let _ = StrategySet::from_toml_str(&text, &name);
            } else if name.ends_with(".csv") {
                let _ = Trace::parse(&text, &name);
            } else if name.ends_with(".obj") {
                let _ = parse_obj(&text, None, 1.0);
            }
        }));
        assert!(outcome.is_ok(), "{name} panicked");
        n += 1;
    }
    assert!(n >= 5, "only {n} kept inputs");
}

#[test]
fn mutated_scenes_parse_or_are_refused_and_small_ones_run() {
    let n = fuzz("scene", SCENES, scene_then_run);
    assert!(n > 100, "only {n} scenes tried in the budget");
}

#[test]
fn mutated_strategies_files_parse_or_are_refused() {
    let n = fuzz("strategies", &[include_str!("../../scenes/cheek-strategies.toml")], |t| {
        let _ = StrategySet::from_toml_str(t, "fuzz.toml");
    });
    assert!(n > 100, "{n}");
}

#[test]
fn mutated_trajectories_parse_or_are_refused() {
    let n = fuzz("trajectory", &[TRACE], |t| {
        let _ = Trace::parse(t, "fuzz.csv");
    });
    assert!(n > 100, "{n}");
}

/// Bytes mutated: flipped, cut, repeated, or a 32-bit count made nasty.
fn mutate_bytes(bytes: &[u8], rng: &mut rand_pcg::Pcg64Mcg) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..rng.random_range(1..4) {
        if b.len() < 8 {
            break;
        }
        let i = rng.random_range(0..b.len() - 4);
        match rng.random_range(0..4) {
            0 => b[i] ^= 1 << rng.random_range(0..8),
            1 => b.truncate(i),
            2 => {
                let piece = b[i..(i + 64).min(b.len())].to_vec();
                b.splice(i..i, piece);
            }
            _ => b[i..i + 4].copy_from_slice(&[0u32, 1, u32::MAX, 0x7fff_ffff][rng.random_range(0..4)].to_le_bytes()),
        }
    }
    b
}

/// PLY, STL and GLB files of a real face, mutated: they parse or are
/// refused, never panic.
#[test]
fn mutated_binary_and_ascii_meshes_of_every_format_parse_or_are_refused() {
    use needlemap::core::geometry::formats::{Format, parse_mesh};
    let (v, t) = crate::formats::face();
    let seeds = [
        (Format::Ply, crate::formats::ply(&v, &t, true)),
        (Format::Ply, crate::formats::ply(&v, &t, false)),
        (Format::Stl, crate::formats::stl(&v, &t, true)),
        (Format::Stl, crate::formats::stl(&v, &t, false)),
        (Format::Glb, crate::formats::glb(&v, &t)),
    ];
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0xb17e58);
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < BUDGET {
        let (format, seed) = &seeds[n % seeds.len()];
        let input = mutate_bytes(seed, &mut rng);
        let beside = |_: &str| Err("no files".to_string());
        if catch_unwind(AssertUnwindSafe(|| parse_mesh(*format, &input, None, 10.0, &beside))).is_err() {
            let head = &input[..input.len().min(400)];
            panic!(
                "{format:?}: {} bytes panicked (kept in tests/data/fuzz/ as a regression), starting {head:?}",
                input.len()
            );
        }
        n += 1;
    }
    assert!(n > 50, "{n}");
}

/// A glTF's JSON (pretty, its buffer in a data URI), mutated line by line:
/// indices and ranges out of bounds are refused, never a panic.
#[test]
fn mutated_gltf_json_parses_or_is_refused() {
    use base64::Engine as _;
    use needlemap::core::geometry::formats::{Format, parse_mesh};
    let (v, t) = crate::formats::face();
    let (_, bin) = crate::formats::gltf_parts(&v, &t, "");
    let uri =
        format!("data:application/octet-stream;base64,{}", base64::engine::general_purpose::STANDARD.encode(&bin));
    let (json, _) = crate::formats::gltf_parts(&v, &t, &uri);
    let pretty = serde_json::to_string_pretty(&serde_json::from_slice::<serde_json::Value>(&json).unwrap()).unwrap();
    let n = fuzz("gltf", &[&pretty], |text| {
        let _ = parse_mesh(Format::Gltf, text.as_bytes(), None, 10.0, &|_| Err("no files".to_string()));
    });
    assert!(n > 20, "{n}");
}

#[test]
fn mutated_meshes_parse_or_are_refused() {
    let seeds = [OBJ, include_str!("../data/nonmanifold.obj"), include_str!("../data/closed.obj")];
    let n = fuzz("mesh", &seeds, |t| {
        let _ = parse_obj(t, None, 1.0);
        let _ = parse_obj(t, Some("cheek"), 10.0);
    });
    assert!(n > 50, "{n}");
}
