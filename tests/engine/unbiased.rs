//! Coverage and hit shares are unbiased for structured passes, not only on
//! average: jitter-free lattice passes (lanes at the raster's own spacing,
//! at 0°, 90° and oblique angles, one needle or a ring) against the exact
//! shares of their pattern, computed here by quadrature over one period of
//! the pattern, sharing no code with the engine.
//!
//! The exact law. Along a lane the stamps repeat every s = v / f; needle j
//! sits at (x_j, y_j) in the cartridge (x along travel, y across). A point
//! at height y across the lane is hit by needle j's disks along a chord of
//! half-width c_j(y) = sqrt(r² − (y − y_j)²), so along the lane its hit
//! count is the number of stamps m with |x − x_j − m s| <= c_j(y), summed
//! over j. Averaged over x (one period s), and over the lane's band of
//! heights (weighted by how much of the window lies at each height), that
//! is the share hit 0, 1, 2 and 3+ times. Lanes are far enough apart here
//! (p > 2 × the footprint's reach) that no point is hit from two lanes, so
//! the lanes' random starting phases do not matter.

use crate::simulate;
use needlemap::core::engine::plan::lane_direction;
use needlemap::core::engine::raster::{classify, splat};
use needlemap::core::engine::sample_seed;
use needlemap::core::geometry::layout::{Layout, treatable_spans};
use needlemap::core::geometry::shape::{Region, Shape, Vec2};
use needlemap::core::input::cartridge;

const R_MM: f64 = 0.125;

/// The window the shares are measured in: well inside the zone (no lane end
/// or zone edge within reach), [lo, hi]² mm.
const WINDOW: (f64, f64) = (30.0, 90.0);

/// Exact shares hit 0, 1, 2 and 3+ times at height `y` across a lane: the
/// hit count along the lane is piecewise constant over one stamp period,
/// changing only where a needle's chord starts or ends, so it is evaluated
/// exactly on each piece between those breakpoints.
fn shares_at(needles: &[Vec2], step: f64, y: f64) -> [f64; 4] {
    let chords: Vec<(f64, f64)> = needles
        .iter()
        .filter(|p| (y - p.y).abs() <= R_MM)
        .map(|p| (p.x, (R_MM * R_MM - (y - p.y).powi(2)).sqrt()))
        .collect();
    let mut cuts: Vec<f64> = vec![0.0, step];
    for &(x, c) in &chords {
        cuts.push((x - c).rem_euclid(step));
        cuts.push((x + c).rem_euclid(step));
    }
    cuts.sort_by(f64::total_cmp);
    let mut shares = [0.0; 4];
    for w in cuts.windows(2) {
        if w[1] <= w[0] {
            continue;
        }
        let x = (w[0] + w[1]) / 2.0;
        // Stamps m with x_j + m s within c of x, summed over the needles.
        let hits: f64 = chords
            .iter()
            .map(|&(xj, c)| (((x + c - xj) / step).floor() - ((x - c - xj) / step).ceil() + 1.0).max(0.0))
            .sum();
        shares[(hits as usize).min(3)] += (w[1] - w[0]) / step;
    }
    shares
}

/// Exact shares hit 0, 1, 2, 3+ times in the window: the shares at each
/// height y across a lane, weighted by the length of window that lies at
/// height y from some lane (lanes at offset + (k + 1/2) p across the
/// normal), integrated over one lane period by the midpoint rule on 20 000
/// heights (2.5e-5 mm apart for 0.5 mm lanes: the shares are continuous in
/// y, so the rule's error is far below the 0.002 bound).
fn exact_shares(needles: &[Vec2], step: f64, spacing: f64, angle_deg: f64, offset: f64) -> [f64; 4] {
    let dir = lane_direction(angle_deg);
    let normal = Vec2::new(-dir.y, dir.x);
    let (lo, hi) = WINDOW;
    // Length of the window's chord along the lane direction at offset n.
    let chord = |n: f64| -> f64 {
        let origin = normal * n;
        let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
        for (o, d) in [(origin.x, dir.x), (origin.y, dir.y)] {
            if d.abs() < 1e-12 {
                if o < lo || o > hi {
                    return 0.0;
                }
            } else {
                let (a, b) = ((lo - o) / d, (hi - o) / d);
                t0 = t0.max(a.min(b));
                t1 = t1.min(a.max(b));
            }
        }
        (t1 - t0).max(0.0)
    };
    let lanes = (0..).map(|k| offset + (k as f64 + 0.5) * spacing).take_while(|&n| n < offset + 400.0);
    let lanes: Vec<f64> = lanes.collect();
    let steps = 20_000;
    let mut shares = [0.0; 4];
    let mut weight = 0.0;
    for a in 0..steps {
        let y = -spacing / 2.0 + (a as f64 + 0.5) / steps as f64 * spacing;
        let w: f64 = lanes.iter().map(|&n| chord(n + y)).sum();
        if w == 0.0 {
            continue;
        }
        for (s, v) in shares.iter_mut().zip(shares_at(needles, step, y)) {
            *s += w * v;
        }
        weight += w;
    }
    shares.map(|s| s / weight)
}

/// The engine's shares in the window, for a jitter-free lane pass.
fn measured_shares(preset: &str, rate_hz: f64, speed: f64, spacing: f64, angle_deg: f64, seed: u64) -> ([f64; 4], f64) {
    let side = 120.0;
    let text = format!(
        "seed = {seed}\n[cartridge]\npreset = \"{preset}\"\nrate_hz = {rate_hz}\n[hand]\nspeed_mm_s = {speed}\n\
         lateral_jitter_mm = 0\nspeed_jitter = 0\n[[zones]]\nname = \"sheet\"\n\
         shape = {{ rect = {{ width_mm = {side}, height_mm = {side} }} }}\n[[zones.passes]]\nangle_deg = {angle_deg}\n\
         lane_spacing_mm = {spacing}\n"
    );
    let o = simulate(&text);
    let dir = lane_direction(angle_deg);
    let normal = Vec2::new(-dir.y, dir.x);
    let corners = [Vec2::new(0.0, 0.0), Vec2::new(side, 0.0), Vec2::new(0.0, side), Vec2::new(side, side)];
    let offset = corners.iter().map(|c| c.dot(&normal)).fold(f64::INFINITY, f64::min);
    let (lo, hi) = WINDOW;
    let region = Region {
        outline: Shape::Polygon {
            vertices_mm: vec![Vec2::new(lo, lo), Vec2::new(hi, lo), Vec2::new(hi, hi), Vec2::new(lo, hi)],
        },
        avoid: vec![],
    };
    let layout = Layout::new(&region, 2.0, R_MM).with_sample_seed(sample_seed(seed, 0));
    let spans = treatable_spans(&region, &layout);
    let mut raster = vec![0u8; layout.raster_cells() as usize];
    splat(&mut raster, &layout, &o.simulation.zones[0].punctures, R_MM, None);
    let classes = classify(&raster, &layout, &spans);
    let total: u32 = classes.iter().map(|c| c.iter().sum::<u32>()).sum();
    let mut shares = [0.0; 4];
    for c in &classes {
        for k in 0..4 {
            shares[k] += c[k] as f64 / total as f64;
        }
    }
    (shares, offset)
}

#[test]
fn lattice_passes_give_their_exact_coverage_and_hit_shares_at_any_angle() {
    // (preset, rate, speed, lane spacing, angle): one needle every 0.1 mm on
    // 0.5 mm lanes (raster cells are 1/32 mm: the lanes and stamps fall on
    // the raster's own lattice at 0° and 90°), and pen-12's ring of 12 at
    // r = 2 mm on 5 mm lanes.
    let cases = [
        ("single", 100.0, 10.0, 0.5, 0.0),
        ("single", 100.0, 10.0, 0.5, 90.0),
        ("single", 100.0, 20.0, 0.5, 30.0),
        ("pen-12", 110.0, 20.0, 5.0, 0.0),
        ("pen-12", 110.0, 20.0, 5.0, 60.0),
    ];
    for (preset, f, v, p, angle) in cases {
        let needles = cartridge::preset(preset).expect("a preset").needles_mm;
        for seed in [1u64, 2] {
            let (got, offset) = measured_shares(preset, f, v, p, angle, seed);
            let want = exact_shares(&needles, v / f, p, angle, offset);
            eprintln!("{preset} {v} mm/s {p} mm at {angle}° seed {seed}: shares {got:.4?}, exact {want:.4?}");
            // The issue's bound: 0.002 on coverage and every share (the
            // quadrature itself is good to about 1e-4: 800 x 6000 points).
            for k in 0..4 {
                assert!(
                    (got[k] - want[k]).abs() < 0.002,
                    "{preset} at {angle}°, seed {seed}: share hit {k}{} {:.5} vs exact {:.5}",
                    if k == 3 { "+" } else { "" },
                    got[k],
                    want[k]
                );
            }
            let (cov, exact_cov) = (1.0 - got[0], 1.0 - want[0]);
            assert!((cov - exact_cov).abs() < 0.002, "coverage {cov:.5} vs exact {exact_cov:.5}");
        }
    }
}

#[test]
fn the_issue_case_covers_0_4863_not_0_5000() {
    // A single 0.25 mm needle every 0.1 mm on 0.5 mm horizontal lanes: the
    // exact union covers 0.4863 of the skin; the centre-sampled raster read
    // 0.5000 (the lanes fall on raster boundaries).
    let needles = cartridge::preset("single").unwrap().needles_mm;
    let (got, offset) = measured_shares("single", 100.0, 10.0, 0.5, 0.0, 7);
    let want = exact_shares(&needles, 0.1, 0.5, 0.0, offset);
    assert!((1.0 - want[0] - 0.4863).abs() < 5e-4, "the exact law: {}", 1.0 - want[0]);
    assert!((got[0] - want[0]).abs() < 0.002, "measured {} vs exact {}", 1.0 - got[0], 1.0 - want[0]);
}
