//! `simulate --punctures FILE`: every puncture out, as Parquet, .npz or
//! CSV, the three holding the same columns, counted as report.json counts
//! them; a bad name refused before anything runs.

use crate::{Sandbox, stderr};
use serde_json::Value;
use std::io::Read;

/// A flat zone and a mesh zone, each with an avoid region its passes
/// ignore (so some punctures fall in it): punctures with and without 3D
/// points, treatable and in avoid regions.
const SCENE: &str = r#"
name = "punctures"
seed = 3

[cartridge]
preset = "pen-12"

[hand]
speed_mm_s = 40
lateral_jitter_mm = 0.3

[[zones]]
name = "patch, flat"
shape = { rect = { width_mm = 30, height_mm = 20 } }
avoid = [ { circle = { center_mm = [15, 10], radius_mm = 4 } } ]

[[zones.passes]]
pattern = "horizontal"
lane_spacing_mm = 3
respect_avoid = false

[[zones.passes]]
pattern = "vertical"
lane_spacing_mm = 3
respect_avoid = false

[[zones]]
name = "nose"
mesh = "builtin:nose"
skin = "thin"
depth_mm = 0.25
avoid = [ { circle = { center_mm = [26, 48], radius_mm = 5 } } ]

[[zones.passes]]
pattern = "horizontal"
lane_spacing_mm = 4
respect_avoid = false
"#;

/// The columns of one file (the zone by name).
#[derive(Debug, Default, PartialEq)]
struct Columns {
    zone: Vec<String>,
    pass: Vec<u32>,
    time_s: Vec<f32>,
    u_mm: Vec<f32>,
    v_mm: Vec<f32>,
    /// NaN where absent (flat zones).
    xyz: Vec<[f32; 3]>,
    avoid: Vec<bool>,
}

fn read_csv(path: &std::path::Path) -> Columns {
    let mut c = Columns::default();
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, ["zone", "pass", "time_s", "u_mm", "v_mm", "x_mm", "y_mm", "z_mm", "avoid"]);
    for rec in r.records() {
        let rec = rec.unwrap();
        let f = |k: usize| -> f32 { if rec[k].is_empty() { f32::NAN } else { rec[k].parse().unwrap() } };
        c.zone.push(rec[0].to_string());
        c.pass.push(rec[1].parse().unwrap());
        c.time_s.push(f(2));
        c.u_mm.push(f(3));
        c.v_mm.push(f(4));
        c.xyz.push([f(5), f(6), f(7)]);
        c.avoid.push(match &rec[8] {
            "true" => true,
            "false" => false,
            other => panic!("avoid {other:?}"),
        });
    }
    c
}

fn read_npz(path: &std::path::Path) -> Columns {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut bytes = |name: &str| {
        let mut b = Vec::new();
        zip.by_name(&format!("{name}.npy")).unwrap().read_to_end(&mut b).unwrap();
        b
    };
    fn array<T: npyz::Deserialize>(b: &[u8]) -> Vec<T> {
        npyz::NpyFile::new(b).unwrap().into_vec().unwrap()
    }
    let names: Vec<String> = array(&bytes("zone_names"));
    let zone: Vec<i32> = array(&bytes("zone"));
    let (x, y, z): (Vec<f32>, Vec<f32>, Vec<f32>) =
        (array(&bytes("x_mm")), array(&bytes("y_mm")), array(&bytes("z_mm")));
    Columns {
        zone: zone.iter().map(|&k| names[k as usize].clone()).collect(),
        pass: array(&bytes("pass")),
        time_s: array(&bytes("time_s")),
        u_mm: array(&bytes("u_mm")),
        v_mm: array(&bytes("v_mm")),
        xyz: (0..x.len()).map(|i| [x[i], y[i], z[i]]).collect(),
        avoid: array::<u8>(&bytes("avoid")).iter().map(|&a| a == 1).collect(),
    }
}

fn read_parquet(path: &std::path::Path) -> Columns {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut c = Columns::default();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let mut xyz = [f32::NAN; 3];
        for (name, field) in row.get_column_iter() {
            use parquet::record::Field;
            match (name.as_str(), field) {
                ("zone", Field::Str(s)) => c.zone.push(s.clone()),
                ("pass", Field::UInt(p)) => c.pass.push(*p),
                ("time_s", Field::Float(v)) => c.time_s.push(*v),
                ("u_mm", Field::Float(v)) => c.u_mm.push(*v),
                ("v_mm", Field::Float(v)) => c.v_mm.push(*v),
                ("x_mm" | "y_mm" | "z_mm", Field::Float(v)) => xyz[(name.as_bytes()[0] - b'x') as usize] = *v,
                ("x_mm" | "y_mm" | "z_mm", Field::Null) => {}
                ("avoid", Field::Bool(b)) => c.avoid.push(*b),
                other => panic!("unexpected column {other:?}"),
            }
        }
        c.xyz.push(xyz);
    }
    c
}

/// Equal, NaN equal to NaN.
fn same(a: &Columns, b: &Columns) -> bool {
    let bits = |c: &Columns| c.xyz.iter().map(|q| q.map(f32::to_bits)).collect::<Vec<_>>();
    a.zone == b.zone
        && a.pass == b.pass
        && a.time_s == b.time_s
        && a.u_mm == b.u_mm
        && a.v_mm == b.v_mm
        && a.avoid == b.avoid
        && bits(a) == bits(b)
}

#[test]
fn every_puncture_goes_out_the_same_in_parquet_npz_and_csv_as_the_report_counts_them() {
    let sb = Sandbox::new();
    let scene = sb.write("punctures.toml", SCENE);
    let mut read = Vec::new();
    let mut report: Option<Value> = None;
    for name in ["p.csv", "p.npz", "p.parquet"] {
        let out = sb.path(&format!("out-{name}"));
        let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--punctures", name]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
        if let Some(first) = &report {
            assert_eq!(first["zones"], r["zones"], "the run does not depend on the punctures file");
        }
        report = Some(r);
        let path = out.join(name);
        read.push(match name {
            "p.csv" => read_csv(&path),
            "p.npz" => read_npz(&path),
            _ => read_parquet(&path),
        });
    }
    let report = report.unwrap();
    let c = &read[0];
    assert!(same(c, &read[1]), "npz differs from csv");
    assert!(same(c, &read[2]), "parquet differs from csv");

    // As many as the report counts, zone by zone: treatable, then in avoid regions.
    let zones = report["zones"].as_array().unwrap();
    assert_eq!(
        c.zone.len() as u64,
        report["punctures"].as_u64().unwrap() + report["avoid_violations"].as_u64().unwrap()
    );
    let mut at = 0;
    for z in zones {
        let name = z["name"].as_str().unwrap();
        let (n, v) = (z["punctures"].as_u64().unwrap() as usize, z["avoid_violations"].as_u64().unwrap() as usize);
        assert!(c.zone[at..at + n + v].iter().all(|s| s == name), "{name}'s rows are together");
        assert!(c.avoid[at..at + n].iter().all(|&a| !a) && c.avoid[at + n..at + n + v].iter().all(|&a| a));
        // Treatable punctures in time order, each pass's after the last.
        assert!(c.time_s[at..at + n].windows(2).all(|w| w[0] <= w[1]), "{name}: time order");
        assert!(c.pass[at..at + n].windows(2).all(|w| w[0] <= w[1]), "{name}: pass order");
        let passes = z["passes"].as_array().unwrap();
        for (k, p) in passes.iter().enumerate() {
            let count = c.pass[at..at + n].iter().filter(|&&q| q as usize == k).count();
            assert_eq!(count as u64, p["punctures"].as_u64().unwrap(), "{name} pass {k}");
        }
        at += n + v;
    }
    assert_eq!(at, c.zone.len());

    // Every puncture in a zone's circle is flagged, and on the flat zone
    // (no other avoid region) every flagged one lies in it (within rounding
    // of the f32 positions); the built-in nose has its nostrils besides.
    for (zone, [cu, cv, radius]) in [("patch, flat", [15.0f32, 10.0, 4.0]), ("nose", [26.0, 48.0, 5.0])] {
        let rows: Vec<usize> = (0..c.zone.len()).filter(|&i| c.zone[i] == zone).collect();
        let d = |i: usize| ((c.u_mm[i] - cu).powi(2) + (c.v_mm[i] - cv).powi(2)).sqrt();
        let inside = rows.iter().filter(|&&i| d(i) < radius - 1e-3).count();
        assert!(inside > 20, "{zone}: the passes ignore the circle: {inside} punctures in it");
        assert!(rows.iter().filter(|&&i| !c.avoid[i]).all(|&i| d(i) >= radius - 1e-3), "{zone}: unflagged outside");
        if zone == "patch, flat" {
            assert!(rows.iter().filter(|&&i| c.avoid[i]).all(|&i| d(i) <= radius + 1e-3), "{zone}: flagged inside");
        }
    }
    let flat: Vec<usize> = (0..c.zone.len()).filter(|&i| c.zone[i] == "patch, flat").collect();
    assert!(flat.iter().all(|&i| c.xyz[i].iter().all(|v| v.is_nan())), "no 3D point on a flat zone");

    // The nose's 3D points are the engine's: its treatable punctures' points
    // as the library's run maps them, its violations' through the same chart.
    let scene = needlemap::core::input::scene::Scene::from_toml_str(SCENE, "punctures.toml").unwrap();
    let outcome = needlemap::core::run(&scene, &Default::default()).unwrap();
    let run = &outcome.simulation.zones[1];
    let surface = scene.zones[1].surface.as_ref().unwrap();
    let nose: Vec<usize> = (0..c.zone.len()).filter(|&i| c.zone[i] == "nose").collect();
    let engine: Vec<[f32; 3]> = run
        .positions_3d_mm
        .iter()
        .copied()
        .chain(needlemap::core::engine::simulate::map_to_3d(surface, &run.violations).0)
        .collect();
    assert_eq!(nose.len(), engine.len());
    let bits = |q: [f32; 3]| q.map(f32::to_bits);
    assert!(nose.iter().zip(&engine).all(|(&i, &q)| bits(c.xyz[i]) == bits(q)), "the nose's x, y, z are the engine's");
    assert!(nose.len() > 1000 && engine.iter().filter(|q| q[0].is_finite()).count() > 1000);
    // (A point the chart index cannot place is NaN; the treatable ones are counted.)
    let unplaced = run.positions_3d_mm.iter().filter(|q| !q[0].is_finite()).count();
    assert_eq!(unplaced as u64, zones[1]["unmapped_punctures"].as_u64().unwrap());
}

#[test]
fn a_bad_punctures_name_is_refused_before_anything_runs() {
    let sb = Sandbox::new();
    let scene = sb.write("punctures.toml", SCENE);
    let out = sb.path("out");
    let long = format!("{}.csv", "p".repeat(260));
    for (name, says) in [
        ("../p.csv", "expected a file name"),
        ("sub/p.csv", "expected a file name"),
        (".p.csv", "expected a file name"),
        ("p.txt", ".parquet, .npz or .csv"),
        ("p", ".parquet, .npz or .csv"),
        ("zones.csv", "one of the run's own files"),
        ("ZONES.CSV", "one of the run's own files"),
        (long.as_str(), "expected a file name"),
    ] {
        let o = sb.run(&["simulate", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--punctures", name]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let e = stderr(&o);
        assert!(e.contains(says) && e.lines().count() == 1, "{name}: {e}");
        assert!(!out.exists(), "{name}: nothing written");
        assert!(!sb.path("p.csv").exists());
    }
}
