//! Strategy comparison and pass tuning against what the laws predict:
//! confidence intervals that cover the analytic coverage of random stamping
//! about as often as they claim, and `tune` finding the pass count of the
//! lattice density law.

use crate::scene;
use needlemap::core::study::compare::{Strategy, run_all};
use needlemap::core::study::laws;
use needlemap::core::study::metric::Metric;
use needlemap::core::study::stats::Estimate;
use needlemap::core::study::tune::{TuneSettings, tune_zone};
use std::sync::atomic::AtomicBool;

#[test]
fn intervals_cover_the_boolean_law_about_95_percent_of_the_time() {
    // 60 experiments of 5 seeds each on a 30 x 30 mm zone stamped at random
    // with a single needle (a Poisson process: the Boolean law holds). If the
    // intervals are right, the number that cover the law is Binomial(60,
    // 0.95): 57 on average, and 51 or fewer with probability 0.3 %. The
    // raster's bias (under 3e-4, tests/engine/accuracy.rs) is a tenth of one
    // seed's spread here (3e-3), too small to move the count.
    let (w, h, r) = (30.0, 30.0, 0.125);
    let n = (std::f64::consts::LN_2 / (std::f64::consts::PI * r * r) * w * h).round();
    let text = format!(
        "[cartridge]\npreset = \"single\"\n[hand]\nspeed_mm_s = 10\n[[zones]]\nname = \"patch\"\n\
         shape = {{ rect = {{ width_mm = {w}, height_mm = {h} }} }}\n[[zones.passes]]\npattern = \"random\"\nstamps = {n}\n"
    );
    let (experiments, per) = (60usize, 5usize);
    let seeds: Vec<u64> = (1..=(experiments * per) as u64).collect();
    let runs =
        run_all(&[Strategy { name: "random".into(), scene: scene(&text) }], &seeds, &|| {}, &AtomicBool::new(false))
            .unwrap();
    let law = laws::boolean_coverage_in_rect(n, r, w, h);
    let cov = runs.samples(0, 0, Metric::Coverage);
    let covered = cov.chunks(per).filter(|c| Estimate::of(c, 0.95).contains(law)).count();
    let all = Estimate::of(&cov, 0.95);
    eprintln!(
        "{covered} of {experiments} intervals of {per} seeds cover the Boolean law {law:.5} (all seeds: {:.5})",
        all.mean
    );
    assert!(covered >= 52, "only {covered} of {experiments} 95 % intervals cover the law");
}

/// A flat zone, no hand jitter: each pass lays 12 x 110 / (40 x 1.5) = 22
/// punctures/mm2 = 2200 /cm2 (the lattice law).
fn lattice_scene(target: &str) -> String {
    format!(
        "seed = 3\n[cartridge]\npreset = \"pen-12\"\ndepth_mm = 0.5\n[hand]\nspeed_mm_s = 40\nlateral_jitter_mm = 0\n\
         speed_jitter = 0\n[[zones]]\nname = \"patch\"\nshape = {{ rect = {{ width_mm = 60, height_mm = 40 }} }}\n\
         target_per_cm2 = {target}\n[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 1.5\n"
    )
}

/// The law holds inside the zone; the outer ring of 2 mm analysis cells (96
/// of 600 cells, 16 %) gets less, as needles beyond the outline are dropped.
/// So the bound on the under-target share is 20 %: the inside must be in the
/// band, the ring may not be.
fn settings(max_passes: u32) -> TuneSettings {
    TuneSettings {
        target_per_cm2: None,
        max_under: 0.2,
        max_over: 0.25,
        confidence: 0.95,
        seeds: vec![1, 2, 3],
        max_passes,
        max_time_s: None,
        max_overlap: None,
        // The scene's spacing and speed only: the pass count the law gives.
        lane_spacings_mm: Some(vec![1.5]),
        speeds_mm_s: Some(vec![40.0]),
    }
}

#[test]
fn tune_returns_the_pass_count_of_the_lattice_law() {
    let per_pass = laws::lattice_density_per_mm2(12, 110.0, 40.0, 1.5) * 100.0;
    // The law: the fewest k with k x 2200 >= 5000 is 3 (2 passes: 4400, 12 % short).
    let predicted = (5000.0 / per_pass).ceil() as usize;
    let s = scene(&lattice_scene("[5000, 12000]"));
    let t = tune_zone(&s, 0, &settings(8), &|| {}, &AtomicBool::new(false)).unwrap();
    let plan = t.plan().unwrap_or_else(|| panic!("no plan: {:?}", t.reason));
    assert_eq!(plan.passes.len(), predicted, "{}", t.sentence(0.95));
    assert_eq!(plan.passes, ["horizontal", "vertical", "diagonal"], "the zone's direction, then the standard order");
    // Each plan tried lays the law's density (edges lose a little).
    for (k, tried) in t.tried.iter().enumerate() {
        let law = per_pass * (k + 1) as f64;
        assert!((tried.density_per_cm2.mean / law - 1.0).abs() < 0.06, "{k}: {} vs {law}", tried.density_per_cm2.mean);
    }
}

#[test]
fn a_target_no_plan_reaches_gets_a_reason_not_a_loop() {
    // Far too dense a band: 8 passes give about 17600 /cm2.
    let s = scene(&lattice_scene("[50000, 90000]"));
    let t = tune_zone(&s, 0, &settings(8), &|| {}, &AtomicBool::new(false)).unwrap();
    assert!(t.plan().is_none());
    let why = t.reason.as_deref().unwrap();
    assert!(why.contains("cannot reach that density"), "{why}");
    assert_eq!(t.tried.len(), 1, "the law shows it after one pass");
    // Far too sparse a band: one pass is already over it.
    let s = scene(&lattice_scene("[100, 300]"));
    let t = tune_zone(&s, 0, &settings(8), &|| {}, &AtomicBool::new(false)).unwrap();
    assert!(t.reason.as_deref().unwrap().contains("one pass already gives"), "{:?}", t.reason);
}
