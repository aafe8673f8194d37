//! Overlap: punctures that land within a needle diameter of an earlier one.

use crate::core::engine::simulate::Puncture;

/// Number of punctures whose centre lies within `d_mm` of an earlier
/// puncture's centre (`punctures` in time order).
///
/// The chart is cut into strips of bin columns (bins of side `d_mm`), as
/// many as keep every worker busy, each holding about as many punctures;
/// each strip is counted on its own worker: one pass over its punctures and
/// those of the bin column on either side (a halo, inserted but not
/// counted), in time order, each bin holding a list of its punctures, newest
/// first (a head per bin and a link per puncture). A puncture looks through
/// its own bin and the eight around it (all earlier, as it is not yet in
/// them), newest first, and is then added. A strip sees every earlier
/// puncture within reach of its own, so the strips' counts add up to the
/// count of one pass over all (`strips_count_as_one_pass_does`). No sort,
/// and the newest neighbours, most often the ones within reach (the previous
/// stamp), are still in cache.
pub fn overlap_count(punctures: &[Puncture], d_mm: f64) -> u64 {
    overlap_by(punctures, d_mm as f32, auto_strips(punctures.len()), |i, j| {
        let (p, q) = (&punctures[i], &punctures[j]);
        let (dx, dy) = (q.u_mm - p.u_mm, q.v_mm - p.v_mm);
        dx * dx + dy * dy
    })
}

/// As [`overlap_count`] on a curved zone, by true distance: a puncture
/// overlaps when an earlier one lies within `d_mm` of it in 3D (`points_mm`,
/// one per puncture). Neighbours are looked up through the chart, in bins
/// `d_mm` × `chart_per_true` wide (the most chart mm a true mm of skin spans
/// anywhere on the chart, [`Surface::chart_per_true_max`]), so every
/// puncture within `d_mm` on the skin is a candidate; punctures close in 3D
/// but far apart on the skin (across a fold) are not neighbours. A point
/// with no 3D position (NaN) overlaps nothing.
///
/// [`Surface::chart_per_true_max`]: crate::core::geometry::mesh::Surface::chart_per_true_max
pub fn overlap_count_3d(punctures: &[Puncture], points_mm: &[[f32; 3]], d_mm: f64, chart_per_true: f64) -> u64 {
    assert_eq!(punctures.len(), points_mm.len(), "one 3D point per puncture");
    let bin = (d_mm * chart_per_true.max(1e-3)) as f32;
    overlap_by(punctures, bin, auto_strips(punctures.len()), dist_3d(points_mm, bin, d_mm))
}

/// The squared 3D distance of two punctures, scaled so that the test
/// against the bin's square is the test against `d_mm` (NaN: never near).
fn dist_3d(points_mm: &[[f32; 3]], bin: f32, d_mm: f64) -> impl Fn(usize, usize) -> f32 + Sync + '_ {
    let scale = bin * bin / (d_mm * d_mm) as f32;
    move |i, j| {
        let (p, q) = (points_mm[i], points_mm[j]);
        let dist2 = (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2) + (q[2] - p[2]).powi(2);
        if dist2.is_nan() { f32::INFINITY } else { dist2 * scale }
    }
}

/// Strips for `n` punctures: one on one worker or below 20 000 punctures
/// (a strip's halo and pass cost more than they save), else two per worker.
fn auto_strips(n: usize) -> usize {
    let workers = rayon::current_num_threads();
    if workers == 1 || n < 20_000 { 1 } else { 2 * workers }
}

/// The count of both: punctures in time order binned in the chart (bins of
/// side `bin`), counted in `strips` strips of bin columns; `dist2(i, j)` is
/// the squared distance of two punctures, in units where `bin` is the reach.
fn overlap_by(punctures: &[Puncture], bin: f32, strips: usize, dist2: impl Fn(usize, usize) -> f32 + Sync) -> u64 {
    use rayon::prelude::*;
    if punctures.is_empty() {
        return 0;
    }
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in punctures {
        lo = [lo[0].min(p.u_mm), lo[1].min(p.v_mm)];
        hi = [hi[0].max(p.u_mm), hi[1].max(p.v_mm)];
    }
    let d = bin;
    let gu = (((hi[0] - lo[0]) / d) as usize) + 1;
    let gv = (((hi[1] - lo[1]) / d) as usize) + 1;
    let bin_of = |p: &Puncture| {
        let u = (((p.u_mm - lo[0]) / d) as usize).min(gu - 1);
        let v = (((p.v_mm - lo[1]) / d) as usize).min(gv - 1);
        (u as u32, v as u32)
    };
    let strips = strips.clamp(1, gu);
    if strips == 1 {
        let bins: Vec<(u32, u32)> = punctures.iter().map(bin_of).collect();
        return count_strip(&bins, (0..punctures.len() as u32).collect(), 0..gu as u32, gv, d, &dist2);
    }
    let bins: Vec<(u32, u32)> = punctures.par_iter().map(bin_of).collect();
    // Strips of about equal counts: cut where the running count of the bin
    // columns passes each k/strips of all.
    // The columns alone, for the strips' passes over all.
    let columns: Vec<u32> = bins.par_iter().map(|b| b.0).collect();
    let mut per_column = vec![0usize; gu];
    for &u in &columns {
        per_column[u as usize] += 1;
    }
    let mut cuts = vec![0u32];
    let mut run = 0usize;
    for (u, &c) in per_column.iter().enumerate() {
        run += c;
        if run * strips >= cuts.len() * punctures.len() && cuts.len() < strips && u + 1 < gu {
            cuts.push(u as u32 + 1);
        }
    }
    cuts.push(gu as u32);
    cuts.dedup();
    cuts.windows(2)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|w| {
            let (start, end) = (w[0], w[1]);
            // Its own columns and one on either side, in time order.
            let members: Vec<u32> = (0..columns.len() as u32)
                .filter(|&i| {
                    let u = columns[i as usize];
                    u + 1 >= start && u <= end
                })
                .collect();
            count_strip(&bins, members, start..end, gv, d, &dist2)
        })
        .sum()
}

/// The punctures of `own` columns (of `members`, in time order, which also
/// holds the column on either side) that have an earlier member within
/// reach.
fn count_strip(
    bins: &[(u32, u32)],
    members: Vec<u32>,
    own: std::ops::Range<u32>,
    gv: usize,
    d: f32,
    dist2: &(impl Fn(usize, usize) -> f32 + Sync),
) -> u64 {
    // Local columns: own.start - 1 (the halo) is 0; a border of empty bins
    // all round, so every bin has eight neighbours.
    let first = own.start as i64 - 1;
    let stride = (own.end - own.start) as usize + 4;
    const NONE: u32 = u32::MAX;
    let mut head = vec![NONE; stride * (gv + 2)];
    let mut next = vec![NONE; members.len()];
    let d2 = d * d;
    // The own bin first (the previous stamp's needle is most often there).
    let around: [isize; 9] = {
        let s = stride as isize;
        [0, -1, 1, -s - 1, -s, -s + 1, s - 1, s, s + 1]
    };
    let mut count = 0u64;
    for (k, &i) in members.iter().enumerate() {
        let (u, v) = bins[i as usize];
        let b = (v as usize + 1) * stride + (u as i64 - first) as usize + 1;
        if own.contains(&u) {
            let found = around.iter().any(|&o| {
                let mut j = head[(b as isize + o) as usize];
                while j != NONE {
                    if dist2(i as usize, members[j as usize] as usize) < d2 {
                        return true;
                    }
                    j = next[j as usize];
                }
                false
            });
            count += found as u64;
        }
        next[k] = head[b];
        head[b] = k as u32;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::shape::Vec2;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn the_overlap_count_equals_a_brute_force_count() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        for n in [0usize, 1, 500, 4000] {
            let pts: Vec<Puncture> = (0..n)
                .map(|i| Puncture::new(Vec2::new(rng.random::<f64>() * 15.0, rng.random::<f64>() * 9.0), i as f64, 0))
                .collect();
            let d = 0.25f32;
            let brute = (0..n)
                .filter(|&i| {
                    (0..i).any(|j| {
                        let (dx, dy) = (pts[j].u_mm - pts[i].u_mm, pts[j].v_mm - pts[i].v_mm);
                        dx * dx + dy * dy < d * d
                    })
                })
                .count() as u64;
            assert_eq!(overlap_count(&pts, 0.25), brute, "{n} points");
            if n == 4000 {
                assert!(brute > 500, "the test has overlaps to find: {brute}");
            }
        }
    }

    /// The strips' counts add up to one pass's, whatever the cut: a lattice
    /// aligned with the bins (needles exactly one bin apart sit on the strip
    /// edges), an oblique one, and random points, each against brute force.
    #[test]
    fn strips_count_as_one_pass_does() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(21);
        let d = 0.25f32;
        let lattice = |step: f64, angle: f64, n: usize| -> Vec<Puncture> {
            let (c, s) = (angle.cos(), angle.sin());
            (0..n)
                .map(|k| {
                    let (a, b) = ((k % 70) as f64 * step, (k / 70) as f64 * step);
                    Puncture::new(Vec2::new(a * c - b * s + 20.0, a * s + b * c), k as f64, 0)
                })
                .collect()
        };
        let mut sets = vec![
            ("aligned, one bin apart", lattice(0.25, 0.0, 4200)),
            ("aligned, just under a bin apart", lattice(0.2499, 0.0, 4200)),
            ("oblique", lattice(0.21, 0.5, 4200)),
        ];
        // Random, then the same points again later (each of those overlaps).
        let mut random: Vec<Puncture> = (0..3000)
            .map(|i| Puncture::new(Vec2::new(rng.random::<f64>() * 15.0, rng.random::<f64>() * 9.0), i as f64, 0))
            .collect();
        random.extend(random.clone()[..500].iter().cloned());
        sets.push(("random, half a thousand repeated", random));
        for (what, pts) in &sets {
            let brute = (0..pts.len())
                .filter(|&i| {
                    (0..i).any(|j| {
                        let (dx, dy) = (pts[j].u_mm - pts[i].u_mm, pts[j].v_mm - pts[i].v_mm);
                        dx * dx + dy * dy < d * d
                    })
                })
                .count() as u64;
            let dist = |i: usize, j: usize| {
                let (dx, dy) = (pts[j].u_mm - pts[i].u_mm, pts[j].v_mm - pts[i].v_mm);
                dx * dx + dy * dy
            };
            for strips in [1, 2, 3, 7, 16, 1000] {
                assert_eq!(overlap_by(pts, d, strips, dist), brute, "{what}, {strips} strips");
            }
            assert_eq!(overlap_count(pts, d as f64), brute, "{what}");
        }
        assert!(sets.iter().any(|(_, p)| overlap_count(p, d as f64) > 1000), "some overlaps to find");
    }

    /// Points on a cylinder (radius 3 mm) whose chart squeezes the skin by 2
    /// around it and stretches it by 2 along it: the count by true distance
    /// equals a brute-force count of 3D pairs, and differs from the chart's.
    #[test]
    fn the_true_distance_overlap_equals_a_brute_force_3d_count() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
        let (radius, d) = (3.0f64, 0.25f64);
        let n = 4000;
        let (mut pts, mut xyz) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (arc, y) = (rng.random::<f64>() * 12.0, rng.random::<f64>() * 6.0);
            let theta = arc / radius;
            pts.push(Puncture::new(Vec2::new(arc / 2.0, y * 2.0), i as f64, 0));
            xyz.push([(radius * theta.cos()) as f32, (radius * theta.sin()) as f32, y as f32]);
        }
        // One puncture without a 3D point overlaps nothing.
        xyz[17] = [f32::NAN; 3];
        let near = |i: usize, j: usize| {
            let (p, q) = (xyz[i], xyz[j]);
            ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)) < (d * d) as f32
        };
        let brute = (0..n).filter(|&i| (0..i).any(|j| near(i, j))).count() as u64;
        assert!(brute > 300, "the test has overlaps to find: {brute}");
        // Two chart mm per true mm across the cylinder (the squeeze).
        assert_eq!(overlap_count_3d(&pts, &xyz, d, 2.0), brute);
        for strips in [2, 5, 13] {
            let bin = (d * 2.0) as f32;
            assert_eq!(overlap_by(&pts, bin, strips, dist_3d(&xyz, bin, d)), brute, "{strips} strips");
        }
        assert_eq!(overlap_count_3d(&pts, &xyz, d, 3.5), brute, "a wider search finds no more");
        assert!(overlap_count_3d(&pts, &xyz, d, 0.6) < brute, "too narrow a search misses some");
        assert_ne!(overlap_count(&pts, d), brute, "the chart's distance is not the skin's");
    }
}
