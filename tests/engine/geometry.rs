//! Pattern geometry as the punctures show it: lanes at the pass angle and
//! spacing, stamps every speed/rate along them, clipping to the outline,
//! avoid regions, and the hand's time and path.

use crate::simulate;
use needlemap::core::engine::plan::lane_direction;
use needlemap::core::geometry::shape::Vec2;

fn single_needle_pass(pass: &str) -> String {
    format!(
        r#"
[cartridge]
preset = "single"
[hand]
speed_mm_s = 10
turn_time_s = 0.5
[[zones]]
name = "z"
shape = {{ rect = {{ width_mm = 40, height_mm = 30 }} }}
[[zones.passes]]
{pass}
"#
    )
}

#[test]
fn punctures_lie_on_lanes_at_the_pass_angle_spacing_and_stamp_pitch() {
    for angle in [0.0, 30.0, 90.0, 135.0] {
        let o = simulate(&single_needle_pass(&format!("angle_deg = {angle}\nlane_spacing_mm = 2.5")));
        let dir = lane_direction(angle);
        let normal = Vec2::new(-dir.y, dir.x);
        let ps = &o.simulation.zones[0].punctures;
        assert!(ps.len() > 1000, "{angle} deg: {} punctures", ps.len());
        // Normal offsets are on a 2.5 mm grid (up to f32 rounding).
        let offsets: Vec<f64> = ps.iter().map(|p| p.pos_mm().dot(&normal)).collect();
        let base = offsets[0];
        for o in &offsets {
            let k = (o - base) / 2.5;
            assert!((k - k.round()).abs() < 1e-4, "{angle} deg: offset {o} off the lane grid");
        }
        // Consecutive stamps on a lane are speed / rate = 0.1 mm apart.
        let steps: Vec<f64> = ps
            .windows(2)
            .filter(|w| ((w[0].pos_mm() - w[1].pos_mm()).dot(&normal)).abs() < 1e-4)
            .map(|w| (w[1].pos_mm() - w[0].pos_mm()).norm())
            .collect();
        assert!(!steps.is_empty());
        for s in steps {
            assert!((s - 0.1).abs() < 1e-4, "{angle} deg: stamp pitch {s}");
        }
        for p in ps {
            assert!(p.u_mm >= 0.0 && p.u_mm <= 40.0 && p.v_mm >= 0.0 && p.v_mm <= 30.0, "outside the rect: {p:?}");
        }
    }
}

#[test]
fn time_and_path_count_lanes_and_turns() {
    let o = simulate(&single_needle_pass("pattern = \"horizontal\"\nlane_spacing_mm = 3"));
    let z = &o.zones[0];
    // 10 lanes of 40 mm and 9 turns of 3 mm; each turn also costs 0.5 s.
    assert!((z.path_length_mm - (10.0 * 40.0 + 9.0 * 3.0)).abs() < 1e-9, "{}", z.path_length_mm);
    let stamps_time = z.stamps as f64 / 100.0;
    assert!((z.time_s - (stamps_time + 9.0 * (0.5 + 0.3))).abs() < 1e-9, "{} vs {}", z.time_s, stamps_time);
    assert!((stamps_time - 40.0).abs() < 0.2, "40 mm lanes at 10 mm/s: 4 s each");
}

#[test]
fn lanes_lift_before_the_cartridge_footprint_reaches_an_avoid_region() {
    let text = r#"
[cartridge]
preset = "pen-12"
[hand]
speed_mm_s = 20
[[zones]]
name = "z"
shape = { rect = { width_mm = 60, height_mm = 40 } }
avoid = [ { circle = { center_mm = [30, 20], radius_mm = 8 } } ]
[[zones.passes]]
pattern = "horizontal"
lane_spacing_mm = 3
"#;
    let o = simulate(text);
    let run = &o.simulation.zones[0];
    // Until the plan cut lanes by the footprint, its 4 mm ring reached past
    // the lifted pen: hundreds of needles in the region.
    assert!(run.violations.is_empty(), "{} needles in the avoid region", run.violations.len());
    for p in &run.punctures {
        assert!((p.pos_mm() - Vec2::new(30.0, 20.0)).norm() > 8.0 - 1e-4, "a counted puncture inside the avoid region");
    }
    assert_eq!(o.zones[0].avoid_violations, run.violations.len() as u64);
    // A hand that ignores the region puts far more needles into it.
    let careless = simulate(&text.replace("lane_spacing_mm = 3\n", "lane_spacing_mm = 3\nrespect_avoid = false\n"));
    assert!(careless.zones[0].avoid_violations > 5 * o.zones[0].avoid_violations);
    // The treatable area excludes the avoid region.
    let expected_cm2 = (60.0 * 40.0 - std::f64::consts::PI * 64.0) / 100.0;
    assert!((o.zones[0].area_cm2 - expected_cm2).abs() < 0.01, "{} vs {expected_cm2}", o.zones[0].area_cm2);
}

#[test]
fn per_pass_figures_accumulate_to_the_zone_totals() {
    let o = simulate(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenes/forehead.toml")).unwrap());
    let z = &o.zones[0];
    assert_eq!(z.passes.len(), 3);
    assert_eq!(z.passes.iter().map(|p| p.punctures).sum::<u64>(), z.punctures);
    for w in z.passes.windows(2) {
        assert!(w[1].coverage_after >= w[0].coverage_after && w[1].density_after_per_cm2 > w[0].density_after_per_cm2);
    }
    assert!((z.passes[2].density_after_per_cm2 - z.density_per_cm2.mean).abs() < 1e-9);
    assert!((z.passes[2].coverage_after - z.coverage_fraction).abs() < 1e-12);
    let d = &z.density_per_cm2;
    assert!(d.p5 <= d.p50 && d.p50 <= d.p95 && d.cv > 0.0);
    let under_over = z.under_fraction.unwrap() + z.over_fraction.unwrap();
    assert!((0.0..=1.0).contains(&under_over));
}
