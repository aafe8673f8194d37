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
    if punctures.is_empty() {
        return 0;
    }
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in punctures {
        lo = [lo[0].min(p.u_mm), lo[1].min(p.v_mm)];
        hi = [hi[0].max(p.u_mm), hi[1].max(p.v_mm)];
    }
    let d = d_mm as f32;
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
                let q = &punctures[j as usize];
                let (dx, dy) = (q.u_mm - x, q.v_mm - y);
                if dx * dx + dy * dy < d2 {
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
}
