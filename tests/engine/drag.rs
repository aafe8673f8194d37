//! Dwell and drag: the needles stay in the skin for `dwell_fraction` of a
//! stroke cycle while the hand moves on, so each channel is the needle disk
//! dragged along the motion: a capsule. Laws: the drag of a steady lane pass
//! is dwell · v / f exactly; random capsules of area A_c = πr² + 2rL follow
//! the Boolean law 1 − exp(−λ A_c) and Poisson hit shares.

use crate::simulate;
use needlemap::core::engine::simulate::{Puncture, ZoneRun};
use needlemap::core::geometry::shape::{Region, Shape, Vec2};
use rand::{RngExt, SeedableRng};
use std::f64::consts::PI;

#[test]
fn a_steady_lane_pass_drags_dwell_times_a_stamp_step_and_warns_past_a_needle_diameter() {
    let scene = |speed: f64| {
        format!(
            "seed = 1\n[cartridge]\npreset = \"pen-12\"\nrate_hz = 110\ndwell_fraction = 0.5\n[hand]\nspeed_mm_s = {speed}\n\
             [[zones]]\nname = \"z\"\nshape = {{ rect = {{ width_mm = 30, height_mm = 30 }} }}\n\
             [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 3\n"
        )
    };
    // 40 mm/s at 110 Hz: 0.5 x 40 / 110 = 0.18 mm, more than a radius.
    let o = simulate(&scene(40.0));
    let p = &o.zones[0].passes[0];
    assert!((p.drag_mm - 0.5 * 40.0 / 110.0).abs() < 1e-9, "drag {}", p.drag_mm);
    assert_eq!(p.drag_over_radius_share, 1.0);
    assert!(needlemap::core::report::drag_warnings(&o.zones[0], 0.25).is_empty(), "0.18 mm is under a diameter");
    // 80 mm/s: 0.36 mm, over a needle's 0.25 mm diameter: warned.
    let fast = simulate(&scene(80.0));
    let w = needlemap::core::report::drag_warnings(&fast.zones[0], 0.25);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("0.36 mm") && w[0].contains("tearing"), "{}", w[0]);
    // 10 mm/s: 0.045 mm, under a radius.
    let slow = simulate(&scene(10.0));
    assert_eq!(slow.zones[0].passes[0].drag_over_radius_share, 0.0);
}

/// Coverage and hit shares of random capsules (drag `l_mm` at 30°) in a
/// square, placed beyond its edges too so the square sees a stationary
/// Boolean model.
fn capsule_shares(seed: u64, n: usize, l_mm: f64, side: f64) -> [f64; 4] {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let (r, pad) = (0.125, 1.0);
    let drag = Vec2::new(30f64.to_radians().cos(), 30f64.to_radians().sin()) * l_mm;
    let punctures: Vec<Puncture> = (0..n)
        .map(|_| {
            let p = Vec2::new(rng.random::<f64>(), rng.random::<f64>()) * (side + 2.0 * pad) - Vec2::new(pad, pad);
            Puncture::new(p, 0.0, 0)
        })
        .collect();
    let region = Region { outline: Shape::rect(side, side), avoid: vec![] };
    let run = ZoneRun {
        drags: vec![[drag.x as f32, drag.y as f32]; punctures.len()],
        pass_ranges: std::iter::once(0..punctures.len()).collect(),
        punctures,
        ..ZoneRun::default()
    };
    crate::measure_flat(&region, &run, 2.0 * r, seed as u32).hit_shares
}

#[test]
fn random_capsules_follow_the_boolean_law_with_the_capsule_s_area() {
    let (side, l, r) = (20.0, 0.3, 0.125);
    let area_c = PI * r * r + 2.0 * r * l;
    // λ A_c = 0.8 over the padded square.
    let lambda = 0.8 / area_c;
    let n = (lambda * (side + 2.0) * (side + 2.0)) as usize;
    let m = lambda * area_c;
    let poisson = [(-m).exp(), m * (-m).exp(), m * m / 2.0 * (-m).exp()];
    let law = [poisson[0], poisson[1], poisson[2], 1.0 - poisson.iter().sum::<f64>()];
    let runs: Vec<[f64; 4]> = (0..8).map(|s| capsule_shares(100 + s, n, l, side)).collect();
    for k in 0..4 {
        let xs: Vec<f64> = runs.iter().map(|r| r[k]).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt();
        let se = sd / (xs.len() as f64).sqrt();
        eprintln!("capsules, share hit {k}: {mean:.5} (law {:.5}, se {se:.5})", law[k]);
        // Four standard errors of the mean of 8 runs, from the runs themselves.
        assert!((mean - law[k]).abs() < 4.0 * se + 1e-4, "share {k}: {mean} vs law {} (se {se})", law[k]);
    }
    // A disk's law would be far off: capsules are not disks.
    let disk_cov = 1.0 - (-lambda * PI * r * r).exp();
    let got_cov = 1.0 - runs.iter().map(|r| r[0]).sum::<f64>() / 8.0;
    assert!(got_cov - disk_cov > 0.1, "capsule coverage {got_cov} vs a disk's {disk_cov}");
}

#[test]
fn the_capsule_channel_covers_more_than_the_disk_one_density_unchanged() {
    let text = "seed = 2\n[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n[[zones]]\nname = \"z\"\n\
                shape = { rect = { width_mm = 30, height_mm = 30 } }\n[[zones.passes]]\npattern = \"horizontal\"\n\
                lane_spacing_mm = 3\n";
    let disk = simulate(text);
    let cap = simulate(&text.replace("[hand]", "[analysis]\nchannel = \"capsule\"\n[hand]"));
    let (d, c) = (&disk.zones[0], &cap.zones[0]);
    assert_eq!(d.punctures, c.punctures);
    assert!(c.coverage_fraction > d.coverage_fraction + 0.02, "{} vs {}", c.coverage_fraction, d.coverage_fraction);
}
