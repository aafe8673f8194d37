//! Plans keep out of avoid regions by construction: a pass that respects them
//! lifts the cartridge before any needle of its footprint (plus the margin)
//! would reach one, so a steady hand puts no needle into them. What remains
//! with a wobbling hand is counted per region and blamed on the wobble.

use crate::{scene, simulate};
use needlemap::core::geometry::shape::Vec2;
use needlemap::core::{RunOptions, run};

/// Every shipped scene whose zones hold avoid regions (the built-in face's
/// eyes, nostrils and lips, the cheek's lesion), run with a steady hand.
#[test]
fn every_shipped_scene_without_wobble_puts_no_needle_into_an_avoid_region() {
    let shipped = [
        ("cheek", include_str!("../../scenes/cheek.toml")),
        ("full-face", include_str!("../../scenes/full-face.toml")),
        ("forehead", include_str!("../../scenes/forehead.toml")),
        ("roller", include_str!("../../scenes/roller.toml")),
        ("random-stamping", include_str!("../../scenes/random-stamping.toml")),
    ];
    let mut zones_with_avoid = 0;
    for (name, text) in shipped {
        let mut s = scene(text);
        s.hand.lateral_jitter_mm = 0.0;
        s.hand.speed_jitter = 0.0;
        let o = run(&s, &RunOptions::default()).expect("runs");
        for (zone, z) in s.zones.iter().zip(&o.zones) {
            let lanes_respect = zone.passes.iter().all(|p| p.respect_avoid);
            if zone.region.avoid.is_empty() || !lanes_respect {
                continue;
            }
            zones_with_avoid += 1;
            assert_eq!(z.avoid_violations, 0, "{name}: zone {} put needles into its avoid regions", z.setup.name);
            assert_eq!(z.avoid_regions.len(), zone.region.avoid.len());
        }
    }
    // The cheek's lesion and the full face's eyes, nostrils and lips.
    assert!(zones_with_avoid >= 4, "only {zones_with_avoid} zones with avoid regions were checked");
}

/// Distance from `p` to a filled polygon (0 inside), computed here.
fn distance_to_polygon(p: Vec2, v: &[Vec2]) -> f64 {
    let mut inside = false;
    let mut best = f64::INFINITY;
    for i in 0..v.len() {
        let (a, b) = (v[i], v[(i + 1) % v.len()]);
        if (a.y > p.y) != (b.y > p.y) && p.x < a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x) {
            inside = !inside;
        }
        let ab = b - a;
        let t = ((p - a).dot(&ab) / ab.dot(&ab)).clamp(0.0, 1.0);
        best = best.min((a + ab * t - p).norm());
    }
    if inside { 0.0 } else { best }
}

/// A steady hand over a zone with a disk and a non-convex (L-shaped) avoid
/// region: at any angle every needle stays at least the margin away from both.
#[test]
fn a_steady_hand_keeps_every_needle_the_margin_clear_at_any_angle() {
    let l_shape = [
        Vec2::new(40.0, 10.0),
        Vec2::new(52.0, 10.0),
        Vec2::new(52.0, 14.0),
        Vec2::new(44.0, 14.0),
        Vec2::new(44.0, 24.0),
        Vec2::new(40.0, 24.0),
    ];
    let vertices: Vec<String> = l_shape.iter().map(|p| format!("[{}, {}]", p.x, p.y)).collect();
    for (preset, angle) in [("pen-12", 0.0), ("pen-12", 37.0), ("pen-16", 90.0), ("single", 125.0)] {
        let margin = 0.7;
        let text = format!(
            "seed = 4\n[cartridge]\npreset = \"{preset}\"\n[hand]\nspeed_mm_s = 20\nlateral_jitter_mm = 0\nspeed_jitter = 0\n\
             [[zones]]\nname = \"patch\"\nshape = {{ rect = {{ width_mm = 60, height_mm = 36 }} }}\n\
             avoid = [ {{ circle = {{ center_mm = [18, 18], radius_mm = 5 }} }}, {{ polygon = {{ points_mm = [{}] }} }} ]\n\
             [[zones.passes]]\nangle_deg = {angle}\nlane_spacing_mm = 1.5\navoid_margin_mm = {margin}\n",
            vertices.join(", ")
        );
        let o = simulate(&text);
        let punctures = &o.simulation.zones[0].punctures;
        assert!(punctures.len() > 1000, "{preset} at {angle}°: the pass stamped");
        let mut nearest = f64::INFINITY;
        for p in punctures {
            let q = p.pos_mm();
            let to_disk = (q - Vec2::new(18.0, 18.0)).norm() - 5.0;
            nearest = nearest.min(to_disk).min(distance_to_polygon(q, &l_shape));
        }
        // f32 positions: a few micrometres of rounding.
        assert!(nearest >= margin - 1e-4, "{preset} at {angle}°: a needle {nearest:.4} mm from an avoid region");
        // And the plan does not stay needlessly far: a lane lifts at most a
        // lane spacing (plus the reach) from where it must.
        assert!(nearest < margin + 1.5, "{preset} at {angle}°: nearest needle {nearest:.3} mm away");
        assert_eq!(o.zones[0].avoid_violations, 0);
    }
}

#[test]
fn respect_avoid_false_glides_over_them_and_the_note_says_so() {
    let text = "seed = 2\n[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 20\nlateral_jitter_mm = 0\n\
                speed_jitter = 0\n[[zones]]\nname = \"patch\"\nshape = { rect = { width_mm = 40, height_mm = 30 } }\n\
                avoid = [ { circle = { center_mm = [20, 15], radius_mm = 4 } } ]\n[[zones.passes]]\n\
                pattern = \"horizontal\"\nlane_spacing_mm = 3\nrespect_avoid = false\n";
    let o = simulate(text);
    let z = &o.zones[0];
    assert!(z.avoid_violations > 100, "{} needles in the region", z.avoid_violations);
    assert_eq!(z.avoid_regions[0].punctures, z.avoid_violations);
    assert_eq!(z.setup.avoid_clearance_mm, None);
    let note = needlemap::core::report::avoid_note(z).expect("a note");
    assert!(note.contains("respect_avoid = false"), "{note}");
}

#[test]
fn a_wobbling_hand_s_needles_are_counted_per_region_and_blamed_on_the_wobble() {
    let text = "seed = 3\n[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 20\nlateral_jitter_mm = 1.0\n\
                [[zones]]\nname = \"patch\"\nshape = { rect = { width_mm = 40, height_mm = 30 } }\n\
                avoid = [ { circle = { center_mm = [12, 15], radius_mm = 3 } }, { circle = { center_mm = [30, 15], radius_mm = 3 } } ]\n\
                [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 3\navoid_margin_mm = 0\n";
    let o = simulate(text);
    let z = &o.zones[0];
    assert!(z.avoid_violations > 0, "a 1 mm wobble with no margin reaches in");
    assert_eq!(z.avoid_regions.iter().map(|r| r.punctures).sum::<u64>(), z.avoid_violations);
    assert_eq!(z.setup.avoid_clearance_mm, Some(0.0));
    let note = needlemap::core::report::avoid_note(z).expect("a note");
    assert!(note.contains("wobble"), "{note}");
    // The default margin, 3 sd of the wobble, keeps almost all of them out.
    let o3 = simulate(&text.replace("avoid_margin_mm = 0\n", ""));
    assert_eq!(o3.zones[0].setup.avoid_clearance_mm, Some(3.0));
    assert!(
        o3.zones[0].avoid_violations * 10 < z.avoid_violations.max(10),
        "{} with the default margin against {} without",
        o3.zones[0].avoid_violations,
        z.avoid_violations
    );
}
