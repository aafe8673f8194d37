//! The patterns practitioners use besides straight lanes, against their
//! density laws: stamping in place (`stamps_per_point`) and small
//! overlapping circles (`pattern = "circles"`).

use crate::{scene, simulate};
use needlemap::core::input::scene::Circles;
use needlemap::core::study::laws;

/// A jitter-free lane pass: (preset, rate Hz, speed mm/s, lane spacing mm)
/// on a `w` x `h` mm sheet, with `extra` pass keys.
fn lanes(
    extra: &str,
    pattern: &str,
    (preset, rate_hz, speed, spacing): (&str, f64, f64, f64),
    w: f64,
    h: f64,
) -> String {
    format!(
        "[cartridge]\npreset = \"{preset}\"\nrate_hz = {rate_hz}\n[hand]\nspeed_mm_s = {speed}\nlateral_jitter_mm = 0\n\
         speed_jitter = 0\n[[zones]]\nname = \"sheet\"\nshape = {{ rect = {{ width_mm = {w}, height_mm = {h} }} }}\n\
         [[zones.passes]]\npattern = \"{pattern}\"\nlane_spacing_mm = {spacing}\n{extra}"
    )
}

/// Punctures per mm² in the window u in [u0, u1), v in [v0, v1).
fn window_density(o: &needlemap::core::Outcome, u: (f64, f64), v: (f64, f64)) -> f64 {
    let n = o.simulation.zones[0]
        .punctures
        .iter()
        .filter(|p| (u.0..u.1).contains(&(p.u_mm as f64)) && (v.0..v.1).contains(&(p.v_mm as f64)))
        .count();
    n as f64 / ((u.1 - u.0) * (v.1 - v.0))
}

#[test]
fn stamping_in_place_multiplies_density_and_time_not_coverage() {
    let base = lanes("", "horizontal", ("pen-12", 110.0, 20.0, 3.0), 80.0, 60.0);
    let thrice = lanes("stamps_per_point = 3\n", "horizontal", ("pen-12", 110.0, 20.0, 3.0), 80.0, 60.0);
    let (one, three) = (simulate(&base), simulate(&thrice));
    let (a, b) = (&one.zones[0], &three.zones[0]);
    // The same points, each stamped three times: the lattice law times 3 in
    // a window whose sides lie halfway between lanes (lanes at 1.5 + 3k mm),
    // within one stamp per needle track of the 40 mm window (v / (L f)).
    let law = 3.0 * laws::lattice_density_per_mm2(12, 110.0, 20.0, 3.0);
    let measured = window_density(&three, (20.0, 60.0), (15.0, 45.0));
    assert!((measured / law - 1.0).abs() <= 20.0 / (40.0 * 110.0) + 1e-9, "{measured} /mm² vs {law}");
    assert_eq!(b.punctures, 3 * a.punctures, "three times the punctures");
    assert_eq!(b.coverage_fraction, a.coverage_fraction, "the same points: the same coverage");
    // Three times as long on the lanes; the 19 turns between the 20 lanes take
    // the same (0.3 s each, and 3 mm of travel at 20 mm/s).
    let turns = 19.0 * (0.3 + 3.0 / 20.0);
    assert!(((b.time_s - turns) / (a.time_s - turns) - 3.0).abs() < 1e-9, "{} s vs {} s", b.time_s, a.time_s);
    assert!(b.overlap_fraction > 0.66, "two of three stamps land on a channel just made: {}", b.overlap_fraction);
}

#[test]
fn circles_lay_the_lattice_density_of_their_path() {
    // One needle tracing circles of 1 mm radius advancing 0.5 mm a turn on
    // 3 mm lanes: the hand covers turn/step mm of path per mm of lane, so the
    // density is n f (turn / step) / (v p).
    let extra = "circle_radius_mm = 1\ncircle_step_mm = 0.5\n";
    let o = simulate(&lanes(extra, "circles", ("single", 100.0, 20.0, 3.0), 200.0, 60.0));
    let c = Circles { radius_mm: 1.0, step_mm: 0.5 };
    // The arch of a trochoid, against an independent closed form for the
    // circle's own length (2 pi r) and the straight advance: between them.
    let turn = c.turn_length_mm();
    assert!(turn > 2.0 * std::f64::consts::PI && turn < 2.0 * std::f64::consts::PI + 0.5, "{turn}");
    let law = laws::lattice_density_per_mm2(1, 100.0, 20.0, 3.0) * turn / c.step_mm;
    // A window 160 mm along the lanes, 60 mm across (10 bands, sides halfway
    // between lanes: what swings out of a band comes in from the mirrored
    // neighbour). Along the lane a window holds whole turns give or take
    // one at each end: at most 2 step / 160 mm relative.
    let measured = window_density(&o, (20.0, 180.0), (0.0, 60.0));
    eprintln!("circles: {measured:.5} /mm² in the window, law {law:.5}, turn {turn:.5} mm");
    let bound = 2.0 * c.step_mm / 160.0;
    assert!((measured / law - 1.0).abs() <= bound, "{measured} /mm² vs the law's {law} (bound {bound})");
    // The hand's path is the lanes' length times turn / step.
    let z = &o.zones[0];
    let path_per_lane = turn / c.step_mm;
    assert!(z.path_length_mm > 20.0 * 200.0 * path_per_lane * 0.99, "{} mm", z.path_length_mm);
}

#[test]
fn circles_and_stamping_in_place_are_validated() {
    let bad = |extra: &str, pattern: &str, preset: &str| {
        let text = lanes(extra, pattern, (preset, 110.0, 20.0, 3.0), 40.0, 30.0)
            .replace("rate_hz = 110\n", if preset == "roller-192" { "" } else { "rate_hz = 110\n" });
        needlemap::core::input::scene::Scene::from_toml_str(&text, "t.toml").unwrap_err()
    };
    let e = bad("circle_radius_mm = 1\n", "horizontal", "pen-12");
    assert!(e.key.ends_with("circle_radius_mm") && e.message.contains("only a `circles` pass"), "{e}");
    let e = bad("circle_radius_mm = 0\n", "circles", "pen-12");
    assert!(e.message.contains("0.1 to 50"), "{e}");
    let e = bad("stamps_per_point = 0\n", "horizontal", "pen-12");
    assert!(e.key.ends_with("stamps_per_point") && e.message.contains("1 to 100"), "{e}");
    let e = bad("", "circles", "roller-192");
    assert!(e.message.contains("roller cannot trace circles"), "{e}");
    let e = bad("stamps_per_point = 2\n", "horizontal", "roller-192");
    assert!(e.message.contains("roller cannot stamp in place"), "{e}");
    // Defaults: circles of half the lane spacing, advancing a radius a turn.
    let s = scene(&lanes("", "circles", ("pen-12", 110.0, 20.0, 3.0), 40.0, 30.0));
    match s.zones[0].passes[0].kind {
        needlemap::core::input::scene::PassKind::Lanes { circles: Some(c), .. } => {
            assert_eq!((c.radius_mm, c.step_mm), (1.5, 1.5))
        }
        ref k => panic!("{k:?}"),
    }
}

/// Offsets of each whole stamp's needles from the stamp's centre (pen-12's
/// ring is centred on the hand), for a jitter-free pass at `angle_deg`.
fn stamp_offsets(orientation: &str, angle_deg: f64) -> Vec<needlemap::core::geometry::shape::Vec2> {
    use needlemap::core::geometry::shape::Vec2;
    let text = format!(
        "seed = 5\n[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 20\norientation = \"{orientation}\"\n\
         [[zones]]\nname = \"z\"\nshape = {{ rect = {{ width_mm = 60, height_mm = 60 }} }}\n\
         [[zones.passes]]\nangle_deg = {angle_deg}\nlane_spacing_mm = 20\n"
    );
    let o = simulate(&text);
    let p = &o.simulation.zones[0].punctures;
    let mut out = Vec::new();
    let mut k = 0;
    while k < p.len() {
        let mut e = k;
        while e < p.len() && p[e].t_s == p[k].t_s {
            e += 1;
        }
        if e - k == 12 {
            let c = p[k..e].iter().fold(Vec2::zeros(), |a, q| a + q.pos_mm()) / 12.0;
            out.extend(p[k..e].iter().map(|q| q.pos_mm() - c));
        }
        k = e;
    }
    assert!(out.len() > 12 * 100, "whole stamps found");
    out
}

/// How far the needle offsets lie from the ring rotated by `deg`, at most, mm.
fn distance_from_ring(offsets: &[needlemap::core::geometry::shape::Vec2], deg: f64) -> f64 {
    let ring = needlemap::core::input::cartridge::preset("pen-12").unwrap().needles_mm;
    let rot = nalgebra::Rotation2::new(deg.to_radians());
    offsets.iter().map(|o| ring.iter().map(|n| (rot * n - o).norm()).fold(f64::INFINITY, f64::min)).fold(0.0, f64::max)
}

#[test]
fn a_hand_held_pen_keeps_its_turn_unless_told_to_turn_with_its_travel() {
    // Fixed (the default): the ring lies as `needles_mm` on a diagonal pass
    // too; "travel": turned by the lane's 45° (the ring's 30° symmetry makes
    // that 15° off, 0.52 mm at a 2 mm radius).
    let fixed = stamp_offsets("fixed", 45.0);
    assert!(distance_from_ring(&fixed, 0.0) < 1e-3, "fixed: {}", distance_from_ring(&fixed, 0.0));
    assert!(distance_from_ring(&fixed, 45.0) > 0.4);
    let travel = stamp_offsets("travel", 45.0);
    assert!(distance_from_ring(&travel, 45.0) < 1e-3, "travel: {}", distance_from_ring(&travel, 45.0));
    assert!(distance_from_ring(&travel, 0.0) > 0.4);
}

#[test]
fn a_roller_s_drum_lies_across_its_travel_whatever_the_orientation() {
    let text = |o: &str| {
        format!(
            "seed = 5\n[cartridge]\npreset = \"roller-192\"\n[hand]\nspeed_mm_s = 20\norientation = \"{o}\"\n\
             [[zones]]\nname = \"z\"\nshape = {{ rect = {{ width_mm = 60, height_mm = 60 }} }}\n\
             [[zones.passes]]\nangle_deg = 30\nlane_spacing_mm = 20\n"
        )
    };
    let (a, b) = (simulate(&text("fixed")), simulate(&text("travel")));
    assert!(!a.simulation.zones[0].punctures.is_empty());
    assert_eq!(a.simulation, b.simulation);
}

#[test]
fn random_stamping_takes_the_time_to_move_between_its_stamps() {
    // 3 000 stamps over 40 x 40 mm: the hand glides from stamp to stamp in
    // a serpentine order and lifts the pen at each. No tour through n random
    // points is shorter than about 0.7124 sqrt(n A) (Beardwood–Halton–
    // Hammersley; the 0.71); a serpentine in strips sqrt(3 A / n)
    // wide is about 0.92 sqrt(n A). The time is every part of it, exactly.
    let text = "seed = 11\n[cartridge]\npreset = \"pen-11\"\n[hand]\nspeed_mm_s = 20\nlift_time_s = 0.1\n\
                [[zones]]\nname = \"patch\"\nshape = { rect = { width_mm = 40, height_mm = 40 } }\n\
                [[zones.passes]]\npattern = \"random\"\nstamps = 3000\n";
    let o = simulate(text);
    let z = &o.zones[0];
    let (n, area) = (3000.0f64, 1600.0f64);
    let tour = (n * area).sqrt();
    eprintln!("path {:.0} mm = {:.3} sqrt(nA); time {:.1} s", z.path_length_mm, z.path_length_mm / tour, z.time_s);
    assert!(z.path_length_mm > 0.7124 * tour * 0.97, "path {} shorter than the shortest tour", z.path_length_mm);
    assert!(z.path_length_mm < 1.0 * tour, "path {}: not a sensible order", z.path_length_mm);
    let rate = o.scene.cartridge.rate_hz().unwrap();
    let want = z.stamps as f64 / rate + z.path_length_mm / 20.0 + (z.stamps as f64 - 1.0) * 0.1;
    assert!((z.time_s - want).abs() < 1e-6, "time {} against {want}", z.time_s);
    // Stamping in place adds the stamps' time, not the hand's path.
    let twice = simulate(&text.replace("stamps = 3000\n", "stamps = 3000\nstamps_per_point = 2\n"));
    let z2 = &twice.zones[0];
    assert!((z2.path_length_mm - z.path_length_mm).abs() < 1e-9);
    assert!((z2.time_s - z.time_s - 3000.0 / rate).abs() < 1e-6, "{} vs {}", z2.time_s, z.time_s);
}
