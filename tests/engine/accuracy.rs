//! Coverage accuracy against exact union areas: disks placed where the union
//! is known in closed form (apart, or in pairs at known distances). The
//! contract is 0.005 of the exact covered share; the raster does far better.

use needlemap::core::engine::simulate::{Puncture, ZoneRun};
use needlemap::core::geometry::shape::{Region, Shape, Vec2};
use needlemap::core::study::laws::lens_area;
use rand::{RngExt, SeedableRng};
use std::f64::consts::PI;

const D_MM: f64 = 0.25;
const R_MM: f64 = D_MM / 2.0;

fn coverage_of(points: &[Vec2], side_mm: f64) -> f64 {
    let region = Region { outline: Shape::rect(side_mm, side_mm), avoid: vec![] };
    let run = ZoneRun {
        punctures: points.iter().map(|p| Puncture::new(*p, 0.0, 0)).collect(),
        pass_ranges: std::iter::once(0..points.len()).collect(),
        ..ZoneRun::default()
    };
    let m = crate::measure_flat(&region, &run, D_MM, 1);
    m.coverage_fraction
}

#[test]
fn coverage_of_separate_disks_is_their_total_area_within_0_005() {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
    let side = 30.0;
    // One disk per 0.6 mm cell, jittered inside it: never touching.
    let mut pts = Vec::new();
    for i in 0..48 {
        for j in 0..48 {
            let jitter = Vec2::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5) * 0.3;
            pts.push(Vec2::new(0.6 * i as f64 + 0.9, 0.6 * j as f64 + 0.9) + jitter);
        }
    }
    let exact = pts.len() as f64 * PI * R_MM * R_MM / (side * side);
    let got = coverage_of(&pts, side);
    eprintln!("separate disks: raster coverage {got:.6}, exact {exact:.6}, error {:.2e}", got - exact);
    assert!((got - exact).abs() < 0.005, "coverage {got} vs exact {exact}");
    assert!(
        (got - exact).abs() < 0.001,
        "coverage {got} vs exact {exact}: the raster should be much better than the contract"
    );
}

#[test]
fn coverage_of_overlapping_pairs_subtracts_their_lens_exactly_within_0_005() {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(6);
    let side = 30.0;
    let mut pts = Vec::new();
    let mut exact_area = 0.0;
    for i in 0..40 {
        for j in 0..40 {
            let c = Vec2::new(0.7 * i as f64 + 1.0, 0.7 * j as f64 + 1.0);
            let dist = rng.random::<f64>() * D_MM; // overlapping pair
            let a = rng.random::<f64>() * std::f64::consts::TAU;
            let off = Vec2::new(a.cos(), a.sin()) * dist / 2.0;
            pts.push(c + off);
            pts.push(c - off);
            exact_area += 2.0 * PI * R_MM * R_MM - lens_area(R_MM, dist);
        }
    }
    let exact = exact_area / (side * side);
    let got = coverage_of(&pts, side);
    eprintln!("overlapping pairs: raster coverage {got:.6}, exact {exact:.6}, error {:.2e}", got - exact);
    assert!((got - exact).abs() < 0.005, "coverage {got} vs exact {exact}");
    assert!((got - exact).abs() < 0.001, "coverage {got} vs exact {exact}");
}
