//! Overlap: punctures that land within a needle diameter of an earlier one.

use crate::core::engine::simulate::Puncture;

/// Number of punctures whose centre lies within `d_mm` of an earlier
/// puncture's centre (`punctures` in time order).
///
/// One pass in time order, on one thread: each bin (side `d_mm`) holds a
/// list of its punctures, newest first (a head per bin and a link per
/// puncture); a puncture looks through its own bin and the eight around it
/// (all earlier, as it is not yet in them), newest first, and is then added.
/// No sort, and the newest neighbours, most often the ones within reach (the
/// previous stamp), are still in cache: on the reference job it takes less
/// time on one thread than a binned parallel scan took on two.
pub fn overlap_count(punctures: &[Puncture], d_mm: f64) -> u64 {
    overlap_by(punctures, d_mm as f32, |i, j| {
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
    // Distances scaled so that the test against the bin's square is the test against d.
    let scale = bin * bin / (d_mm * d_mm) as f32;
    overlap_by(punctures, bin, |i, j| {
        let (p, q) = (points_mm[i], points_mm[j]);
        let dist2 = (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2) + (q[2] - p[2]).powi(2);
        if dist2.is_nan() { f32::INFINITY } else { dist2 * scale }
    })
}

/// The count of both: punctures in time order binned in the chart (bins of
/// side `bin`); `dist2(i, j)` is the squared distance of two punctures, in
/// units where `bin` is the reach.
fn overlap_by(punctures: &[Puncture], bin: f32, dist2: impl Fn(usize, usize) -> f32) -> u64 {
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
    // A border of empty bins all round: every bin has eight neighbours.
    let stride = gu + 2;
    const NONE: u32 = u32::MAX;
    let mut head = vec![NONE; stride * (gv + 2)];
    let mut next = vec![NONE; punctures.len()];
    let d2 = d * d;
    // The own bin first (the previous stamp's needle is most often there).
    let around: [isize; 9] = {
        let s = stride as isize;
        [0, -1, 1, -s - 1, -s, -s + 1, s - 1, s, s + 1]
    };
    let mut count = 0u64;
    for (i, p) in punctures.iter().enumerate() {
        let (x, y) = (p.u_mm, p.v_mm);
        let u = (((x - lo[0]) / d) as usize).min(gu - 1) + 1;
        let v = (((y - lo[1]) / d) as usize).min(gv - 1) + 1;
        let b = v * stride + u;
        let found = around.iter().any(|&o| {
            let mut j = head[(b as isize + o) as usize];
            while j != NONE {
                if dist2(i, j as usize) < d2 {
                    return true;
                }
                j = next[j as usize];
            }
            false
        });
        count += found as u64;
        next[i] = head[b];
        head[b] = i as u32;
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
        assert_eq!(overlap_count_3d(&pts, &xyz, d, 3.5), brute, "a wider search finds no more");
        assert!(overlap_count_3d(&pts, &xyz, d, 0.6) < brute, "too narrow a search misses some");
        assert_ne!(overlap_count(&pts, d), brute, "the chart's distance is not the skin's");
    }
}
