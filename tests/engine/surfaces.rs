//! Curved zones: mesh areas converge to closed forms, random stamping follows
//! the Boolean law per true area, the lattice law holds on a cylinder, and a
//! stretched chart gives the true-area density, not the chart-area one.

use crate::{repo_root, simulate};
use needlemap::core::engine::simulate::{Puncture, ZoneRun};
use needlemap::core::engine::zone::{Detail, MeasureConfig, PassSetup, ZoneInput, ZoneSetup, measure_zone};
use needlemap::core::geometry::mesh::{Mesh, Surface, Vec3};
use needlemap::core::geometry::shape::{Region, Shape, Vec2};
use needlemap::core::input::scene::Scene;
use needlemap::core::study::laws;
use std::f64::consts::PI;

/// The unit square onto the unit disk (Shirley-Chiu concentric map: no pole).
fn square_to_disk(s: f64, t: f64) -> (f64, f64) {
    let (a, b) = (2.0 * s - 1.0, 2.0 * t - 1.0);
    if a == 0.0 && b == 0.0 {
        return (0.0, 0.0);
    }
    let (r, phi) = if a.abs() > b.abs() { (a, PI / 4.0 * (b / a)) } else { (b, PI / 2.0 - PI / 4.0 * (a / b)) };
    (r * phi.cos(), r * phi.sin())
}

fn relative_errors(exact: f64, build: impl Fn(usize) -> Mesh) -> Vec<f64> {
    [8, 16, 32, 64].iter().map(|&n| (build(n).area_3d_mm2() / exact - 1.0).abs()).collect()
}

fn assert_converges(name: &str, errors: &[f64]) {
    eprintln!("{name}: relative area errors at 8, 16, 32, 64 steps: {errors:?}");
    for w in errors.windows(2) {
        assert!(w[1] < w[0], "{name}: the error must fall as the mesh refines: {errors:?}");
    }
    assert!(*errors.last().unwrap() < 1e-3, "{name}: {errors:?}");
}

#[test]
fn mesh_areas_converge_to_the_closed_forms() {
    // Cylinder patch: radius 30 mm, 90 degrees, 40 mm high: R * angle * h.
    let (r, angle, h) = (30.0, PI / 2.0, 40.0);
    let cyl = relative_errors(r * angle * h, |n| {
        Mesh::from_grid(n, n, |s, t| Vec3::new(r * (s * angle).sin(), h * t, r * (s * angle).cos()))
    });
    assert_converges("cylinder patch", &cyl);
    // Sphere cap: radius 50 mm, half-angle 40 degrees: 2 pi R^2 (1 - cos a).
    let (rs, a) = (50.0, 40f64.to_radians());
    let cap = relative_errors(2.0 * PI * rs * rs * (1.0 - a.cos()), |n| {
        Mesh::from_grid(n, n, |s, t| {
            let (x, y) = square_to_disk(s, t);
            let (psi, phi) = ((x * x + y * y).sqrt() * a, y.atan2(x));
            Vec3::new(rs * psi.sin() * phi.cos(), rs * psi.sin() * phi.sin(), rs * psi.cos())
        })
    });
    assert_converges("sphere cap", &cap);
    // Saddle z = (x^2 - y^2) / (2 c) over a disk of radius rho:
    // (2 pi c^2 / 3) ((1 + rho^2 / c^2)^(3/2) - 1).
    let (c, rho) = (40.0, 30.0);
    let exact = 2.0 * PI * c * c / 3.0 * ((1.0 + rho * rho / (c * c)).powf(1.5) - 1.0);
    let saddle = relative_errors(exact, |n| {
        Mesh::from_grid(n, n, |s, t| {
            let (x, y) = square_to_disk(s, t);
            let (x, y) = (x * rho, y * rho);
            Vec3::new(x, y, (x * x - y * y) / (2.0 * c))
        })
    });
    assert_converges("saddle", &saddle);
}

const NECK_CHART_MM: (f64, f64) = (58.0 * 160.0 * PI / 180.0, 80.0);

#[test]
fn random_stamping_on_a_cylinder_follows_the_boolean_law_per_true_area() {
    // The built-in neck is a cylinder (radius 58 mm, 160 degrees, 80 mm high)
    // with an exact unrolled chart: 161.9 x 80 mm.
    let (w, h) = NECK_CHART_MM;
    let area = w * h;
    let n = (std::f64::consts::LN_2 / (PI * 0.125 * 0.125) * area).round();
    let text = format!(
        "[cartridge]\npreset = \"single\"\n[hand]\nspeed_mm_s = 10\n[[zones]]\nmesh = \"builtin:neck\"\n[[zones.passes]]\npattern = \"random\"\nstamps = {n}\n"
    );
    let o = simulate(&text);
    let z = &o.zones[0];
    assert!((z.area_cm2 * 100.0 / area - 1.0).abs() < 1e-3, "true area {} cm2 vs {}", z.area_cm2, area / 100.0);
    let expected = laws::boolean_coverage_in_rect(n, 0.125, w, h);
    let sd = laws::boolean_coverage_sd(n / area, 0.125, area);
    eprintln!("neck: coverage {:.5}, law {expected:.5}, sd {sd:.5}", z.coverage_fraction);
    assert!((z.coverage_fraction - expected).abs() < 4.0 * sd, "{} vs {expected} (sd {sd})", z.coverage_fraction);
    // Every puncture lies on the cylinder (radius 58 mm about x = 0, z = -20).
    for p in o.simulation.zones[0].positions_3d_mm.iter().step_by(97) {
        let radius = ((p[0] as f64).powi(2) + (p[2] as f64 + 20.0).powi(2)).sqrt();
        assert!((radius - 58.0).abs() < 0.01, "{p:?} off the cylinder");
    }
    assert_eq!(z.unmapped_punctures, 0);
}

#[test]
fn the_lattice_law_holds_on_a_cylinder_within_2_percent() {
    let text = "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n[[zones]]\nmesh = \"builtin:neck\"\n\
                [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n";
    let o = simulate(text);
    let (w, h) = NECK_CHART_MM;
    // An interior window, 10 lanes high, away from the ends.
    let (v0, v1) = (20.0, 60.0);
    let (u0, u1) = (20.0, w - 20.0);
    let inside = o.simulation.zones[0]
        .punctures
        .iter()
        .filter(|p| (p.u_mm as f64) >= u0 && (p.u_mm as f64) < u1 && (p.v_mm as f64) >= v0 && (p.v_mm as f64) < v1)
        .count();
    let measured = inside as f64 / ((u1 - u0) * (v1 - v0)) * 100.0;
    let law = laws::lattice_density_per_mm2(12, 110.0, 40.0, 4.0) * 100.0;
    eprintln!("neck lattice: {measured:.1} /cm2 vs law {law:.1} /cm2 (chart {w:.1} x {h} mm)");
    assert!((measured / law - 1.0).abs() < 0.02, "{measured} vs {law}");
}

#[test]
fn a_stretched_chart_gives_the_true_area_density_not_the_chart_area_one() {
    // A flat 40 x 20 mm sheet whose chart is stretched 2x across: chart area
    // 1600 mm2, true area 800 mm2.
    let mut mesh = Mesh::from_grid(20, 10, |s, t| Vec3::new(40.0 * s, 20.0 * t, 0.0));
    mesh.chart_mm = mesh.positions_mm.iter().map(|p| Vec2::new(2.0 * p.x, p.y)).collect();
    let outline = mesh.chart_outline().unwrap();
    let surface = Surface::new(mesh, "test".into(), vec![]);
    let region = Region { outline, avoid: vec![] };
    // 8000 punctures evenly over the chart.
    let punctures: Vec<Puncture> = (0..8000)
        .map(|i| Puncture::new(Vec2::new(0.05 + (i % 400) as f64 * 0.2, 0.05 + (i / 400) as f64 + 0.45), 0.0, 0))
        .collect();
    let run = ZoneRun { pass_ranges: std::iter::once(0..punctures.len()).collect(), punctures, ..ZoneRun::default() };
    let zone = ZoneInput {
        setup: ZoneSetup::flat("sheet", None),
        passes: vec![PassSetup { pattern: "x".into(), depth_mm: 0.5, depth_warning: None }],
        region: &region,
        surface: Some(&surface),
        unmapped_punctures: 0,
        borders: vec![],
        band_mm: 1.0,
    };
    let (m, _) = measure_zone(
        &zone,
        &run,
        &MeasureConfig { needle_diameter_mm: 0.25, cell_mm: 2.0, detail: Detail::Full, sample_seed: 1 },
        &mut Default::default(),
    );
    assert!((m.area_cm2 - 8.0).abs() < 1e-6, "true area {} cm2", m.area_cm2);
    assert!((m.chart_area_cm2 - 16.0).abs() < 1e-6, "chart area {} cm2", m.chart_area_cm2);
    assert!(
        (m.density_per_cm2.mean - 1000.0).abs() < 1e-6,
        "true-area density 8000 / 8 cm2, got {}",
        m.density_per_cm2.mean
    );
    assert!(
        (m.density_per_cm2.p50 - 1000.0).abs() < 1.0,
        "cell densities are per true area too: {}",
        m.density_per_cm2.p50
    );
    // Needle disks are disks on the skin: 800 well-separated disks cover
    // 800 pi r^2 of the 800 mm2 of true skin, whatever the chart's stretch.
    // Jittered (a fixed sequence), so the disks meet the raster at all phases.
    let jitter =
        |i: u64, k: u64| ((i.wrapping_mul(2654435761).wrapping_add(k * 40503) % 1000) as f64 / 1000.0 - 0.5) * 0.4;
    let sparse: Vec<Puncture> = (0..800u64)
        .map(|i| {
            Puncture::new(
                Vec2::new(1.0 + (i % 40) as f64 * 2.0 + jitter(i, 1), 0.5 + (i / 40) as f64 + 0.5 * jitter(i, 2)),
                0.0,
                0,
            )
        })
        .collect();
    let run =
        ZoneRun { pass_ranges: std::iter::once(0..sparse.len()).collect(), punctures: sparse, ..ZoneRun::default() };
    let (m, _) = measure_zone(
        &zone,
        &run,
        &MeasureConfig { needle_diameter_mm: 0.25, cell_mm: 2.0, detail: Detail::Full, sample_seed: 1 },
        &mut Default::default(),
    );
    let exact = 800.0 * PI * 0.125 * 0.125 / 800.0;
    eprintln!("stretched chart: coverage {:.5}, exact on the skin {exact:.5}", m.coverage_fraction);
    assert!((m.coverage_fraction - exact).abs() < 0.002, "coverage {} vs {exact}", m.coverage_fraction);
}

fn obj_scene(group: &str) -> String {
    format!(
        "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n[[zones]]\nname = \"z\"\nmesh = \"patches.obj#{group}\"\n\
         [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n"
    )
}

fn load_with_file(text: &str) -> Result<Scene, needlemap::core::error::SceneError> {
    use needlemap::core::error::ResolveError;
    let obj = include_str!("../data/patches.obj");
    Scene::from_toml_str_with(text, "t.toml", &|name| {
        if name == "patches.obj" { Ok(obj.as_bytes().to_vec()) } else { Err(ResolveError::NoFiles(name.to_string())) }
    })
}

#[test]
fn obj_groups_load_with_uv_or_conformal_charts() {
    let cheek = load_with_file(&obj_scene("cheek")).unwrap();
    let s = cheek.zones[0].surface.as_ref().unwrap();
    assert_eq!(s.chart_method, "uv", "the cheek's UVs are an unrolled cylinder");
    assert!((s.mesh.area_3d_mm2() - 60.0 * 40.0).abs() < 5.0, "{}", s.mesh.area_3d_mm2());
    assert!(s.distortion.area_stretch_mean_deviation < 0.01);
    let fore = load_with_file(&obj_scene("forehead")).unwrap();
    let s = fore.zones[0].surface.as_ref().unwrap();
    assert_eq!(s.chart_method, "lscm");
    assert!(s.warnings.iter().any(|w| w.contains("no UVs")), "{:?}", s.warnings);
    assert!(s.distortion.area_stretch_max < 1.2 && s.distortion.area_stretch_min > 0.8, "{:?}", s.distortion);
    let err = load_with_file(&obj_scene("chin")).unwrap_err();
    assert!(err.message.contains("no group or object `chin`") && err.message.contains("cheek"), "{err}");
    let o = needlemap::core::engine::run(&fore, &Default::default()).unwrap();
    assert!(o.zones[0].punctures > 1000 && o.zones[0].unmapped_punctures == 0);
}

#[test]
fn obj_uvs_that_stretch_area_fall_back_to_a_conformal_chart() {
    let s = load_with_file(&obj_scene("stretched")).unwrap();
    let surface = s.zones[0].surface.as_ref().unwrap();
    assert_eq!(surface.chart_method, "lscm");
    assert!(surface.warnings.iter().any(|w| w.contains("stretch area")), "{:?}", surface.warnings);
    // A flat sheet flattens without distortion.
    assert!(surface.distortion.area_stretch_max < 1.0 + 1e-6, "{:?}", surface.distortion);
}

/// A sphere cap as OBJ text (no UVs, so it gets a conformal chart).
fn sphere_cap_obj(radius: f64, half_angle: f64, n: usize) -> String {
    let mesh = Mesh::from_grid(n, n, |s, t| {
        let (x, y) = square_to_disk(s, t);
        let (psi, phi) = ((x * x + y * y).sqrt() * half_angle, y.atan2(x));
        Vec3::new(radius * psi.sin() * phi.cos(), radius * psi.sin() * phi.sin(), radius * psi.cos())
    });
    let mut text = String::new();
    for p in &mesh.positions_mm {
        text.push_str(&format!("v {} {} {}\n", p.x, p.y, p.z));
    }
    for t in &mesh.triangles {
        text.push_str(&format!("f {} {} {}\n", t[0] + 1, t[1] + 1, t[2] + 1));
    }
    text
}

#[test]
fn random_stamping_on_a_sphere_cap_follows_the_boolean_law_per_true_area() {
    let (radius, half_angle) = (60.0, 30f64.to_radians());
    let area = 2.0 * PI * radius * radius * (1.0 - half_angle.cos());
    let perimeter = 2.0 * PI * radius * half_angle.sin();
    let n = (std::f64::consts::LN_2 / (PI * 0.125 * 0.125) * area).round();
    let obj = sphere_cap_obj(radius, half_angle, 64);
    let text = format!(
        "[cartridge]\npreset = \"single\"\n[hand]\nspeed_mm_s = 10\n[[zones]]\nname = \"cap\"\nmesh = \"cap.obj\"\n\
         [[zones.passes]]\npattern = \"random\"\nstamps = {n}\n"
    );
    let scene = Scene::from_toml_str_with(&text, "t.toml", &|_| Ok(obj.clone().into_bytes())).unwrap();
    let o = needlemap::core::engine::run(&scene, &Default::default()).unwrap();
    let z = &o.zones[0];
    let d = &z.chart.as_ref().unwrap().distortion;
    assert!((z.area_cm2 * 100.0 / area - 1.0).abs() < 0.002, "true area {} cm2 vs {}", z.area_cm2, area / 100.0);
    let lambda = n / area;
    let uniform = laws::mean_of_disk_law(|a| 1.0 - (-lambda * a).exp(), 0.125, perimeter, area);
    // Random stamps fall uniformly in the chart, which stretches the cap's
    // area by up to the printed ratio: per true mm² the density is
    // λ_chart · chart/true in each cell. The Boolean law per cell, weighted by
    // true area, is the exact expectation (Jensen: a little under the uniform
    // law); the edge correction is the uniform case's.
    let cells = needlemap::core::geometry::mesh::cell_areas(
        &scene.zones[0].surface.as_ref().unwrap().mesh,
        &o.fields[0].layout,
    );
    let lambda_chart = n / (z.chart_area_cm2 * 100.0);
    let disk = PI * 0.125 * 0.125;
    let (mut hit, mut total) = (0.0, 0.0);
    for &(chart, true_area) in cells.iter().filter(|(c, t)| *c > 0.0 && *t > 0.0) {
        hit += true_area * (1.0 - (-lambda_chart * chart / true_area * disk).exp());
        total += true_area;
    }
    let expected = hit / total + (uniform - (1.0 - (-lambda * disk).exp()));
    let sd = laws::boolean_coverage_sd(lambda, 0.125, area);
    eprintln!(
        "sphere cap: coverage {:.5}, law per cell {expected:.5} (uniform {uniform:.5}), sd {sd:.5}; chart stretch {:.3}-{:.3}",
        z.coverage_fraction, d.area_stretch_min, d.area_stretch_max
    );
    assert!((z.coverage_fraction - expected).abs() < 4.0 * sd, "{} vs {expected} (sd {sd})", z.coverage_fraction);
    assert_eq!(z.unmapped_punctures, 0);
    // Every puncture lies on the sphere.
    for p in o.simulation.zones[0].positions_3d_mm.iter().step_by(101) {
        let r = ((p[0] as f64).powi(2) + (p[1] as f64).powi(2) + (p[2] as f64).powi(2)).sqrt();
        assert!((r - radius).abs() < 0.05, "{p:?} is {r} mm from the centre");
    }
}

/// A single needle on a lattice (1 mm lanes, a stamp every 0.1 mm) lays
/// n·f/(v·p) = 1000 punctures per true cm² on curved skin too: lanes are
/// spaced by true distance on the skin and stamps stepped by true arc length
/// (the chart's stretch carried +10 % on the built-in nose before).
#[test]
fn lattice_passes_on_curved_built_in_zones_keep_the_lattice_law_per_true_cm2() {
    for zone in ["nose", "cheek-left", "forehead"] {
        for passes in [vec!["horizontal"], vec!["vertical"], vec!["horizontal", "vertical"]] {
            let mut text = format!(
                "seed = 1\n[cartridge]\npreset = \"single\"\nrate_hz = 100\n[hand]\nspeed_mm_s = 10\n\
                 [[zones]]\nname = \"{zone}\"\nmesh = \"builtin:{zone}\"\n"
            );
            for p in &passes {
                text.push_str(&format!("[[zones.passes]]\npattern = \"{p}\"\nlane_spacing_mm = 1\n"));
            }
            let o = crate::simulate(&text);
            let law = 1000.0 * passes.len() as f64;
            let got = o.zones[0].density_per_cm2.mean;
            eprintln!("{zone} {passes:?}: {got:.1} /cm² (law {law})");
            assert!((got / law - 1.0).abs() < 0.02, "{zone} {passes:?}: {got:.1} per true cm² against the law's {law}");
        }
    }
}

/// Overlap on curved skin is measured by true distance: a single needle
/// stamped every 0.3 mm of skin on lanes 1 mm apart never lands within a
/// needle diameter (0.25 mm) of another, however the chart squeezes the skin.
/// Counted in chart millimetres, 1.9 % (nose, diagonal) and 17 % (forehead,
/// anti-diagonal) of the stamps seemed to, where the chart squeezes the lane.
#[test]
fn overlap_on_curved_zones_is_measured_by_true_distance() {
    for (zone, pattern, chart_squeezes) in [
        ("nose", "diagonal", true),
        ("forehead", "anti-diagonal", true),
        ("nose", "horizontal", false),
        ("cheek-left", "diagonal", false),
    ] {
        let text = format!(
            "seed = 1\n[cartridge]\npreset = \"single\"\nrate_hz = 100\n[hand]\nspeed_mm_s = 30\n\
             [[zones]]\nname = \"{zone}\"\nmesh = \"builtin:{zone}\"\n\
             [[zones.passes]]\npattern = \"{pattern}\"\nlane_spacing_mm = 1\n"
        );
        let o = simulate(&text);
        let run = &o.simulation.zones[0];
        let n = run.punctures.len() as f64;
        let by_chart = needlemap::core::engine::overlap::overlap_count(&run.punctures, 0.25) as f64 / n;
        let by_skin = o.zones[0].overlap_fraction;
        eprintln!("{zone} {pattern}: overlap by true distance {by_skin:.4}, by chart distance {by_chart:.4}");
        assert_eq!(by_skin, 0.0, "{zone} {pattern}: stamps 0.3 mm apart on the skin overlap");
        if chart_squeezes {
            assert!(by_chart > 0.01, "{zone} {pattern}: the chart squeezes the lanes here ({by_chart})");
        }
    }
}

/// A 60 × 40 mm sheet of 2 mm squares in the x-z plane, gently bent (so it
/// gets a conformal chart), as OBJ text; `keep(i, j)` says which squares are
/// there, `flip(k)` which triangles are written wound the other way.
fn sheet_obj(keep: impl Fn(usize, usize) -> bool, flip: impl Fn(usize) -> bool) -> String {
    let (nu, nv) = (30, 20);
    let mut text = String::new();
    for j in 0..=nv {
        for i in 0..=nu {
            let x = i as f64 * 2.0;
            text.push_str(&format!("v {x} {} {}\n", 0.002 * (x - 30.0).powi(2), j as f64 * 2.0));
        }
    }
    let at = |i: usize, j: usize| j * (nu + 1) + i + 1;
    let mut k = 0;
    for j in 0..nv {
        for i in 0..nu {
            if !keep(i, j) {
                continue;
            }
            for [a, b, c] in [[at(i, j), at(i + 1, j), at(i + 1, j + 1)], [at(i, j), at(i + 1, j + 1), at(i, j + 1)]] {
                let (b, c) = if flip(k) { (c, b) } else { (b, c) };
                text.push_str(&format!("f {a} {b} {c}\n"));
                k += 1;
            }
        }
    }
    text
}

fn load_obj_text(obj: &str, passes: &str) -> Result<Scene, needlemap::core::error::SceneError> {
    let text = format!(
        "seed = 1\n[cartridge]\npreset = \"single\"\nrate_hz = 100\n[hand]\nspeed_mm_s = 10\n\
         [[zones]]\nname = \"sheet\"\nmesh = \"sheet.obj\"\n{passes}"
    );
    let obj = obj.to_string();
    Scene::from_toml_str_with(&text, "t.toml", &|_| Ok(obj.clone().into_bytes()))
}

/// True area of the sheet's triangles, summed here (the bend included).
fn sheet_area_cm2(obj: &str) -> f64 {
    let numbers = |l: &str| l.split(' ').map(|x| x.parse::<f64>().unwrap()).collect::<Vec<f64>>();
    let v: Vec<[f32; 3]> = obj
        .lines()
        .filter_map(|l| l.strip_prefix("v "))
        .map(|l| numbers(l).iter().map(|&c| c as f32).collect::<Vec<f32>>().try_into().unwrap())
        .collect();
    let t: Vec<[u32; 3]> = obj
        .lines()
        .filter_map(|l| l.strip_prefix("f "))
        .map(|l| numbers(l).iter().map(|&i| i as u32 - 1).collect::<Vec<u32>>().try_into().unwrap())
        .collect();
    crate::formats::area_cm2(&v, &t) / 100.0
}

/// A hole in a mesh is no skin: a sheet with a 20 × 16 mm hole is its
/// triangles' area (60 × 40 less the hole, not the whole sheet), and a
/// single-needle lattice lays the law's 1 000 per cm² of it (the hole read
/// as skin gave 24.00 cm² and 867 before); lanes lift over the hole.
#[test]
fn a_meshs_holes_are_kept_out_of_its_zone() {
    let hole = |i: usize, j: usize| !((10..20).contains(&i) && (6..14).contains(&j));
    let obj = sheet_obj(hole, |_| false);
    let s = load_obj_text(&obj, "[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 1\n").unwrap();
    assert_eq!(s.zones[0].region.avoid.len(), 1, "the hole is an avoid region of the zone");
    let o = needlemap::core::engine::run(&s, &Default::default()).unwrap();
    let z = &o.zones[0];
    let exact = sheet_area_cm2(&obj);
    assert!((exact - 20.80).abs() < 0.1, "test set-up: {exact}");
    assert!((z.area_cm2 / exact - 1.0).abs() < 0.005, "area {} cm² against the triangles' {exact}", z.area_cm2);
    assert!(
        (z.density_per_cm2.mean / 1000.0 - 1.0).abs() < 0.03,
        "density {} against the law's 1000",
        z.density_per_cm2.mean
    );
    assert_eq!(z.unmapped_punctures, 0, "no puncture in the hole");
}

/// Triangles wound against their neighbours are turned (they counted half
/// the area before); a bowtie vertex and a Möbius strip are refused.
#[test]
fn inconsistent_winding_is_mended_and_bowties_and_mobius_strips_are_refused() {
    let obj = sheet_obj(|_, _| true, |k| k % 3 == 1);
    let s = load_obj_text(&obj, "[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 1\n").unwrap();
    let surface = s.zones[0].surface.as_ref().unwrap();
    assert!(surface.warnings.iter().any(|w| w.contains("400 triangles were wound against")), "{:?}", surface.warnings);
    let o = needlemap::core::engine::run(&s, &Default::default()).unwrap();
    let exact = sheet_area_cm2(&obj);
    assert!((o.zones[0].area_cm2 / exact - 1.0).abs() < 0.005, "area {} against {exact}", o.zones[0].area_cm2);
    // Squares (2, 2) and (3, 3) meet at one corner only (vertex 3, 3), and
    // are joined round the square (3, 2) they leave out.
    let keep = [(2, 2), (2, 1), (3, 1), (4, 1), (4, 2), (4, 3), (3, 3)];
    let bowtie = sheet_obj(|i, j| keep.contains(&(i, j)), |_| false);
    let err = load_obj_text(&bowtie, "").unwrap_err();
    assert!(err.message.contains("bowtie at vertex"), "{err}");
    // A Möbius strip: a band of 24 squares closed with a half twist.
    let n = 24;
    let mut mobius = String::new();
    for i in 0..n {
        let a = i as f64 / n as f64 * std::f64::consts::TAU;
        for w in [-5.0, 5.0] {
            let (r, z) = (40.0 + w * (a / 2.0).cos(), w * (a / 2.0).sin());
            mobius.push_str(&format!("v {} {} {z}\n", r * a.cos(), r * a.sin()));
        }
    }
    for i in 0..n {
        let (a, b) = (2 * i + 1, 2 * i + 2);
        // The last square joins the first with its sides swapped (the twist).
        let (c, d) = if i + 1 < n { (2 * i + 3, 2 * i + 4) } else { (2, 1) };
        mobius.push_str(&format!("f {a} {c} {d}\nf {a} {d} {b}\n"));
    }
    let err = load_obj_text(&mobius, "").unwrap_err();
    assert!(err.message.contains("non-orientable"), "{err}");
}

/// MediaPipe's canonical face model (`../shared/data/meshes/`, from outside
/// the project; its UVs stretch area by 13 %, and LSCM folds two triangles
/// under the nostrils): it now loads with a fold-free chart (Tutte, then
/// local-global rounds that lower its stretch without folding it), its area
/// the independent sum of its triangles' areas, and a single-needle lattice
/// lays the law's 1 000 per true cm² on it.
#[test]
fn the_canonical_face_model_loads_with_a_fold_free_chart_and_its_true_area() {
    let path = repo_root().join("../shared/data/meshes/canonical_face_model.obj");
    let obj = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Its triangles' area, from the file here (cm²).
    let (v, t) = crate::formats::face();
    let exact_cm2 = crate::formats::area_cm2(&v, &t);
    let text = "seed = 1\n[cartridge]\npreset = \"single\"\nrate_hz = 100\n[hand]\nspeed_mm_s = 10\n\
                [[zones]]\nname = \"face\"\nmesh = \"face.obj\"\nmesh_unit_mm = 10\n\
                [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 1\n";
    let s =
        Scene::from_toml_str_with(text, "t.toml", &|_| Ok(obj.clone().into_bytes())).unwrap_or_else(|e| panic!("{e}"));
    let surface = s.zones[0].surface.as_ref().unwrap();
    assert_eq!(surface.chart_method, "tutte+arap", "{:?}", surface.warnings);
    let m = &surface.mesh;
    let positive = (0..m.triangles.len()).filter(|&t| m.triangle_area_chart(t) > 0.0).count();
    assert_eq!(positive, m.triangles.len(), "every chart triangle turns the same way: no fold");
    // The local-global rounds after the Tutte chart stretch it far less (the
    // Tutte chart alone: area 30 % mean deviation, shapes up to 126 : 1).
    let mut tutte = m.clone();
    tutte.compute_tutte_chart();
    let (dt, dl) = (tutte.distortion(), m.distortion());
    assert!(
        dl.area_stretch_mean_deviation < 0.5 * dt.area_stretch_mean_deviation
            && dl.shape_stretch_max < 0.5 * dt.shape_stretch_max,
        "Tutte {dt:?}, Tutte + local-global {dl:?}"
    );
    let o = needlemap::core::engine::run(&s, &Default::default()).unwrap();
    let z = &o.zones[0];
    assert!((z.area_cm2 / exact_cm2 - 1.0).abs() < 0.005, "area {} cm² against the triangles' {exact_cm2}", z.area_cm2);
    assert!(
        (z.density_per_cm2.mean / 1000.0 - 1.0).abs() < 0.02,
        "{} per true cm² against 1000",
        z.density_per_cm2.mean
    );
    assert_eq!(z.unmapped_punctures, 0);
}

/// The Tutte chart of a sheet with a hole: no fold, the hole a simple
/// polygon inside the outline, the chart's area the true area.
#[test]
fn a_tutte_chart_is_fold_free_with_holes_and_keeps_the_true_area() {
    let hole = |i: usize, j: usize| !((10..20).contains(&i) && (6..14).contains(&j));
    let pass = "[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 1\n";
    let s = load_obj_text(&sheet_obj(hole, |_| false), pass).unwrap();
    let mut m = s.zones[0].surface.as_ref().unwrap().mesh.clone();
    m.compute_tutte_chart();
    assert!((0..m.triangles.len()).all(|t| m.triangle_area_chart(t) > 0.0), "a fold");
    assert!(m.chart_outline().is_ok());
    assert_eq!(m.chart_holes().unwrap().len(), 1);
    assert!((m.area_chart_mm2() / m.area_3d_mm2() - 1.0).abs() < 1e-9);
}

/// A mesh zone clipped to a shape in its chart is the part of the skin
/// inside it: the cheek patch (UVs an unrolled 60 × 40 mm cylinder, so chart
/// area is true area) clipped to its left half is 12 cm², clipped to a circle
/// inside it keeps the circle exact, and a single-needle lattice lays the
/// law's 1 000 per cm² of the clipped part (none outside it).
#[test]
fn a_mesh_zone_clipped_to_a_polygon_is_the_skin_inside_it() {
    let clipped = |clip: &str, passes: &str| {
        let text = format!(
            "seed = 1\n[cartridge]\npreset = \"single\"\nrate_hz = 100\n[hand]\nspeed_mm_s = 10\n[[zones]]\nname = \"z\"\n\
             mesh = \"patches.obj#cheek\"\nclip = {clip}\n[[zones.passes]]\n{passes}"
        );
        load_with_file(&text)
    };
    let whole = load_with_file(&obj_scene("cheek")).unwrap();
    let b = whole.zones[0].region.bounds();
    assert!((b.size_mm().x - 60.0).abs() < 0.5 && (b.size_mm().y - 40.0).abs() < 0.5, "test set-up: {b:?}");
    let (u0, v0, um) = (b.min_mm.x, b.min_mm.y, b.min_mm.x + 30.0);
    let half = format!(
        "{{ polygon = {{ points_mm = [[{}, {}], [{um}, {}], [{um}, {}], [{}, {}]] }} }}",
        u0 - 10.0,
        v0 - 10.0,
        v0 - 10.0,
        v0 + 50.0,
        u0 - 10.0,
        v0 + 50.0
    );
    let lattice = "pattern = \"horizontal\"\nlane_spacing_mm = 1\n";
    let s = clipped(&half, lattice).unwrap();
    let z = &s.zones[0];
    assert!(
        (z.region.outline.area_mm2() - 1200.0).abs() < 1.0,
        "the left half's chart area {}",
        z.region.outline.area_mm2()
    );
    let o = needlemap::core::engine::run(&s, &Default::default()).unwrap();
    let m = &o.zones[0];
    assert!((m.area_cm2 - 12.0).abs() < 0.06, "true area {} cm² against 12", m.area_cm2);
    assert!((m.density_per_cm2.mean / 1000.0 - 1.0).abs() < 0.03, "density {} against 1000", m.density_per_cm2.mean);
    // The two halves of one scan share one surface and a 40 mm seam (the
    // split line on the skin, not the scan's whole rim).
    let right = half.replace(&format!("[{}, ", u0 - 10.0), &format!("[{}, ", u0 + 70.0));
    let text = format!(
        "seed = 1\n[cartridge]\npreset = \"single\"\nrate_hz = 100\n[hand]\nspeed_mm_s = 10\n\
         [[zones]]\nname = \"a\"\nmesh = \"patches.obj#cheek\"\nclip = {half}\n[[zones.passes]]\n{lattice}\
         [[zones]]\nname = \"b\"\nmesh = \"patches.obj#cheek\"\nclip = {right}\n[[zones.passes]]\n{lattice}"
    );
    let two = load_with_file(&text).unwrap();
    let (sa, sb) = (two.zones[0].surface.as_ref().unwrap(), two.zones[1].surface.as_ref().unwrap());
    assert!(std::sync::Arc::ptr_eq(sa, sb), "one scan is read and charted once");
    assert!((two.zones[1].region.outline.area_mm2() - 1200.0).abs() < 1.0);
    let borders = needlemap::core::engine::find_borders(&two);
    assert_eq!(borders.len(), 1, "{borders:?}");
    assert!((borders[0].length_mm - 40.0).abs() < 0.5, "seam {} mm against the 40 mm split", borders[0].length_mm);
    let centre = b.min_mm + b.size_mm() / 2.0;
    let circle = format!("{{ circle = {{ center_mm = [{}, {}], radius_mm = 15 }} }}", centre.x, centre.y);
    let s = clipped(&circle, lattice).unwrap();
    assert!(
        matches!(s.zones[0].region.outline, Shape::Ellipse { .. }),
        "a clip inside the chart stays the shape it is: {:?}",
        s.zones[0].region.outline
    );
    let o = needlemap::core::engine::run(&s, &Default::default()).unwrap();
    let exact = std::f64::consts::PI * 1.5 * 1.5;
    assert!((o.zones[0].area_cm2 / exact - 1.0).abs() < 0.01, "circle area {} against {exact}", o.zones[0].area_cm2);
}

/// A clip keeps the mesh's holes that reach into it and drops the rest; one
/// outside the chart, one cutting it into pieces, and one on a flat zone are
/// refused at the clip, naming why.
#[test]
fn a_clip_keeps_the_holes_inside_it_and_bad_clips_are_refused() {
    let hole = |i: usize, j: usize| !((10..20).contains(&i) && (6..14).contains(&j));
    let obj = sheet_obj(hole, |_| false);
    let pass = "[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 1\n";
    let whole = load_obj_text(&obj, pass).unwrap();
    let b = whole.zones[0].region.bounds();
    let hb = whole.zones[0].region.avoid[0].bounds();
    let rect = |u0: f64, v0: f64, u1: f64, v1: f64| {
        format!("clip = {{ polygon = {{ points_mm = [[{u0}, {v0}], [{u1}, {v0}], [{u1}, {v1}], [{u0}, {v1}]] }} }}\n")
    };
    let (lo, hi) = (b.min_mm - Vec2::new(5.0, 5.0), b.max_mm + Vec2::new(5.0, 5.0));
    // Left of the hole: no hole; across it: the hole stays an avoid region.
    let left = load_obj_text(&obj, &(rect(lo.x, lo.y, hb.min_mm.x - 1.0, hi.y) + pass)).unwrap();
    assert!(left.zones[0].region.avoid.is_empty(), "{:?}", left.zones[0].region.avoid);
    let across = load_obj_text(&obj, &(rect(lo.x, lo.y, hb.max_mm.x - 1.0, hi.y) + pass)).unwrap();
    assert_eq!(across.zones[0].region.avoid.len(), 1);
    let o = needlemap::core::engine::run(&across, &Default::default()).unwrap();
    assert_eq!(o.zones[0].unmapped_punctures, 0, "no puncture in the hole");
    // Refusals, each at the clip.
    let outside = rect(hi.x + 10.0, hi.y + 10.0, hi.x + 20.0, hi.y + 20.0);
    let e = load_obj_text(&obj, &(outside + pass)).unwrap_err();
    assert!(e.key.ends_with(".clip") && e.message.contains("outside the mesh's chart"), "{e}");
    // A U whose bottom lies below the chart leaves its two arms on it.
    let (l, r) = (b.min_mm.x + 5.0, b.max_mm.x - 5.0);
    let u = format!(
        "clip = {{ polygon = {{ points_mm = [[{}, {}], [{}, {}], [{}, {}], [{r}, {}], [{r}, {}], [{l}, {}], [{l}, {}], [{}, {}]] }} }}\n",
        lo.x,
        lo.y - 10.0,
        hi.x,
        lo.y - 10.0,
        hi.x,
        hi.y,
        hi.y,
        lo.y,
        lo.y,
        hi.y,
        lo.x,
        hi.y
    );
    let e = load_obj_text(&obj, &(u + pass)).unwrap_err();
    assert!(e.message.contains("into 2 separate pieces"), "{e}");
    let flat = "seed = 1\n[cartridge]\npreset = \"single\"\n[hand]\nspeed_mm_s = 10\n[[zones]]\nname = \"f\"\n\
                shape = { rect = { width_mm = 10, height_mm = 10 } }\nclip = { circle = { center_mm = [0, 0], radius_mm = 5 } }\n\
                [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 1\n";
    let e = Scene::from_toml_str(flat, "t.toml").unwrap_err();
    assert!(e.key == "zones[0].clip" && e.message.contains("only a `mesh` zone"), "{e}");
}
