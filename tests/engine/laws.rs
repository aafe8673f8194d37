//! The engine against the analytic laws: Boolean coverage, Poisson hit shares
//! and overlap for random stamping, and the lattice density law of a lane pass.
//!
//! Tolerances come from the sample, not from trial and error:
//! - coverage: the exact standard deviation of the covered share of the
//!   Boolean model (`laws::boolean_coverage_sd`), for the zone area and the
//!   number of seeds averaged; we allow 4 sd (a false alarm about 1 in 16 000);
//!   the raster samples the coverage field at points, which is unbiased, and its
//!   own sampling noise is part of that variance (the field is correlated over
//!   2r = 8 raster cells); the expected value includes the zone-edge
//!   correction, whose neglected corner term is ~ r^2 / area < 1e-6;
//! - hit shares: each share (exactly 0, 1, 2, 3+ disks) is an indicator field
//!   whose exact covariance gives its sd (`laws::poisson_hit_share_sd`, same
//!   method as coverage); 4 sd;
//! - overlap: a mean of N indicators X_i (an earlier puncture within d). X_i
//!   and X_j are correlated only when the points lie within 2d (on average
//!   4m such neighbours, m = λπd²), and then |Cov| <= p (1 - p)
//!   (Cauchy-Schwarz), so sd <= sqrt(p (1 - p) (1 + 4m) / N): a bound, not a
//!   guess; 4 of it.

use crate::simulate;
use needlemap::core::engine::plan::lane_direction;
use needlemap::core::geometry::shape::Vec2;
use needlemap::core::study::laws;

const R_MM: f64 = 0.125;

fn random_single(width: f64, height: f64, stamps: u64, seed: u64) -> String {
    format!(
        r#"
seed = {seed}
[cartridge]
preset = "single"
[hand]
speed_mm_s = 10
[[zones]]
name = "patch"
shape = {{ rect = {{ width_mm = {width}, height_mm = {height} }} }}
[[zones.passes]]
pattern = "random"
stamps = {stamps}
"#
    )
}

#[test]
fn random_stamping_coverage_hit_shares_and_overlap_follow_the_poisson_laws() {
    let (w, h) = (100.0, 100.0);
    let area = w * h;
    // About half the skin covered: lambda pi r^2 = ln 2.
    let n = (std::f64::consts::LN_2 / (std::f64::consts::PI * R_MM * R_MM) * area).round();
    let seeds = [1u64, 2, 3, 4];
    let mut coverage = 0.0;
    let mut shares = [0.0; 4];
    let mut overlap = 0.0;
    for &seed in &seeds {
        let o = simulate(&random_single(w, h, n as u64, seed));
        let z = &o.zones[0];
        assert_eq!(z.punctures, n as u64, "a single needle inside the zone always lands inside");
        coverage += z.coverage_fraction / seeds.len() as f64;
        overlap += z.overlap_fraction / seeds.len() as f64;
        for (share, z_share) in shares.iter_mut().zip(z.hit_shares) {
            *share += z_share / seeds.len() as f64;
        }
    }
    let lambda = n / area;
    let sd = laws::boolean_coverage_sd(lambda, R_MM, area) / (seeds.len() as f64).sqrt();
    let expected = laws::boolean_coverage_in_rect(n, R_MM, w, h);
    let expected_shares = laws::poisson_hit_shares_in_rect(n, R_MM, w, h);
    let d = 2.0 * R_MM;
    let expected_overlap = laws::poisson_overlap_in_rect(n, d, w, h);
    eprintln!(
        "random stamping, {n} x {} seeds: coverage {coverage:.5} (law {expected:.5}, sd {sd:.5}); shares {shares:.4?} (law {expected_shares:.4?}); overlap {overlap:.5} (law {expected_overlap:.5})",
        seeds.len()
    );
    assert!(
        (coverage - expected).abs() < 4.0 * sd,
        "coverage {coverage:.5} vs Boolean law {expected:.5} (sd {sd:.5}; no-edge law {:.5})",
        laws::boolean_coverage(lambda, R_MM)
    );
    for k in 0..4 {
        let sd_k = laws::poisson_hit_share_sd(lambda, R_MM, area, k) / (seeds.len() as f64).sqrt();
        assert!(
            (shares[k] - expected_shares[k]).abs() < 4.0 * sd_k,
            "hit share {k}: {:.5} vs Poisson {:.5} (sd {sd_k:.5})",
            shares[k],
            expected_shares[k]
        );
    }
    let m = lambda * std::f64::consts::PI * d * d;
    let total = n * seeds.len() as f64;
    let sd_overlap = (expected_overlap * (1.0 - expected_overlap) * (1.0 + 4.0 * m) / total).sqrt();
    assert!(
        (overlap - expected_overlap).abs() < 4.0 * sd_overlap,
        "overlap {overlap:.5} vs Poisson law {expected_overlap:.5} (sd {sd_overlap:.5})"
    );
}

#[test]
fn sparse_random_stamping_matches_the_laws_at_low_coverage_too() {
    // One tenth of the density: coverage ~ 7 %, overlap ~ 14 %.
    let (w, h) = (60.0, 60.0);
    let n = 0.1 * (std::f64::consts::LN_2 / (std::f64::consts::PI * R_MM * R_MM)) * w * h;
    let n = n.round();
    let o = simulate(&random_single(w, h, n as u64, 9));
    let z = &o.zones[0];
    let sd = laws::boolean_coverage_sd(n / (w * h), R_MM, w * h);
    let expected = laws::boolean_coverage_in_rect(n, R_MM, w, h);
    assert!((z.coverage_fraction - expected).abs() < 4.0 * sd, "{} vs {expected} (sd {sd})", z.coverage_fraction);
    let p = laws::poisson_overlap_in_rect(n, 2.0 * R_MM, w, h);
    let m = n / (w * h) * std::f64::consts::PI * 4.0 * R_MM * R_MM;
    let sd_o = (p * (1.0 - p) * (1.0 + 4.0 * m) / n).sqrt();
    assert!((z.overlap_fraction - p).abs() < 4.0 * sd_o, "{} vs {p} (sd bound {sd_o})", z.overlap_fraction);
}

/// One lane pass; returns (measured, predicted) density per mm2 in a window
/// away from the edges whose sides lie halfway between lanes (so each lane's
/// needle tracks are counted whole, by symmetry), in the lane frame.
fn lattice_case(preset: &str, needles: usize, rate_hz: f64, speed: f64, spacing: f64, angle_deg: f64) -> (f64, f64) {
    let side = 120.0;
    let text = format!(
        r#"
[cartridge]
preset = "{preset}"
rate_hz = {rate_hz}
[hand]
speed_mm_s = {speed}
[[zones]]
name = "sheet"
shape = {{ rect = {{ width_mm = {side}, height_mm = {side} }} }}
[[zones.passes]]
angle_deg = {angle_deg}
lane_spacing_mm = {spacing}
"#
    );
    let o = simulate(&text);
    let dir = lane_direction(angle_deg);
    let normal = Vec2::new(-dir.y, dir.x);
    // Lane offsets along the normal are lo + (k + 1/2) p, lo the lowest corner projection.
    let corners = [Vec2::new(0.0, 0.0), Vec2::new(side, 0.0), Vec2::new(0.0, side), Vec2::new(side, side)];
    let lo = corners.iter().map(|c| c.dot(&normal)).fold(f64::INFINITY, f64::min);
    let centre = Vec2::new(side / 2.0, side / 2.0);
    // A window of 10 lane bands around the centre, 40 mm along the lanes.
    let k_mid = ((centre.dot(&normal) - lo) / spacing).floor();
    let (n0, n1) = (lo + (k_mid - 5.0) * spacing, lo + (k_mid + 5.0) * spacing);
    let (t0, t1) = (centre.dot(&dir) - 20.0, centre.dot(&dir) + 20.0);
    let inside = o.simulation.zones[0]
        .punctures
        .iter()
        .filter(|p| {
            let q = p.pos_mm();
            let (t, n) = (q.dot(&dir), q.dot(&normal));
            t >= t0 && t < t1 && n >= n0 && n < n1
        })
        .count();
    let measured = inside as f64 / ((t1 - t0) * (n1 - n0));
    (measured, laws::lattice_density_per_mm2(needles, rate_hz, speed, spacing))
}

#[test]
fn one_lane_pass_gives_the_lattice_density_n_f_over_v_p() {
    // (preset, needles, rate, speed, lane spacing, angle)
    let cases = [
        ("pen-12", 12, 110.0, 10.0, 3.0, 0.0),
        ("pen-12", 12, 110.0, 40.0, 4.0, 90.0),
        ("pen-11", 11, 90.0, 25.0, 2.5, 45.0),
        ("pen-14", 14, 116.7, 15.0, 3.5, 135.0),
        ("exceed-6", 6, 150.0, 20.0, 2.0, 30.0),
        ("single", 1, 100.0, 5.0, 0.5, 0.0),
    ];
    for (preset, n, f, v, p, angle) in cases {
        let (measured, predicted) = lattice_case(preset, n, f, v, p, angle);
        eprintln!(
            "lattice {preset} {f} Hz {v} mm/s {p} mm at {angle} deg: {measured:.4} /mm2, law {predicted:.4} /mm2"
        );
        // Counting error: each needle track of each lane holds a whole number
        // of stamps in the 40 mm window, L f / v give or take one (the window's
        // sides lie halfway between lanes, so tracks that cross a side are
        // made up by the neighbour's): at most v / (L f) relative. Where L f / v
        // is whole the count is exact (to float rounding).
        let bound = v / (40.0 * f) + 1e-9;
        assert!(
            (measured / predicted - 1.0).abs() <= bound,
            "{preset} {f} Hz {v} mm/s {p} mm at {angle} deg: {measured:.4} /mm2 vs law {predicted:.4} /mm2"
        );
    }
}

#[test]
fn roller_pass_gives_15_3_punctures_per_cm2_away_from_edges() {
    let text = r#"
[cartridge]
preset = "roller-192"
[hand]
speed_mm_s = 30
[[zones]]
name = "thigh"
shape = { rect = { width_mm = 200, height_mm = 100 } }
[[zones.passes]]
pattern = "horizontal"
lane_spacing_mm = 20
"#;
    let o = simulate(text);
    // Five lanes of a 20 mm drum tile the 100 mm height exactly.
    let z = &o.zones[0];
    let circumference = std::f64::consts::PI * 20.0;
    let expected = 192.0 / (circumference * 20.0) * 100.0;
    // The drum's 192 needles touch at 64 evenly spread phases of its turn
    // (3 needles each), from a random phase where each lane starts. A stretch
    // of lane W mm long therefore gets W / (C / 64) contact phases, give or
    // take one: its density is off by at most (C / 64) / W relative, per lane
    // and so for the five lanes together (the bound, not a guess).
    let bound = |w_mm: f64| circumference / 64.0 / w_mm;
    let per_cm2 = z.density_per_cm2.mean;
    eprintln!("roller: {per_cm2:.4} /cm2 over the zone, law {expected:.4}, bound {:.4}", bound(200.0));
    assert!((per_cm2 / expected - 1.0).abs() <= bound(200.0), "{per_cm2} vs {expected}");
    // Away from the lane ends (u in 40..160 mm), the same bound over 120 mm.
    let inner = o.simulation.zones[0].punctures.iter().filter(|p| p.u_mm >= 40.0 && p.u_mm < 160.0).count();
    let inner_per_cm2 = inner as f64 / (120.0 * 100.0) * 100.0;
    eprintln!("roller: {inner_per_cm2:.4} /cm2 in u 40..160 mm, bound {:.4}", bound(120.0));
    assert!((inner_per_cm2 / expected - 1.0).abs() <= bound(120.0), "{inner_per_cm2} vs {expected}");
}
