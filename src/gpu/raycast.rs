//! The first triangle a ray meets among many: a uniform grid of the
//! triangles' boxes walked cell by cell along the ray (Amanatides & Woo,
//! "A fast voxel traversal algorithm for ray tracing", Eurographics 1987),
//! so a pick on the drawn head (10^5 triangles) tests a few dozen.

use crate::core::geometry::mesh::Vec3;

/// Triangles bucketed in a grid of cubes.
pub struct RayGrid {
    triangles: Vec<[Vec3; 3]>,
    lo: Vec3,
    cell_mm: f64,
    dims: [usize; 3],
    /// Cell `c`'s triangles are `items[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    items: Vec<u32>,
}

/// Where a ray from `origin` along unit `dir` meets triangle `[a, b, c]`:
/// its distance and barycentric (u, v) (Möller & Trumbore 1997).
pub fn ray_triangle(origin: Vec3, dir: Vec3, [a, b, c]: [Vec3; 3]) -> Option<(f64, f64, f64)> {
    let (e1, e2) = (b - a, c - a);
    let p = dir.cross(&e2);
    let det = e1.dot(&p);
    if det.abs() < 1e-12 {
        return None;
    }
    let s = origin - a;
    let u = s.dot(&p) / det;
    let q = s.cross(&e1);
    let v = dir.dot(&q) / det;
    let t = e2.dot(&q) / det;
    (u >= 0.0 && v >= 0.0 && u + v <= 1.0 && t > 0.0).then_some((t, u, v))
}

impl RayGrid {
    /// The grid of `triangles`, about two a cell (at most 128 cells a side).
    pub fn new(triangles: Vec<[Vec3; 3]>) -> RayGrid {
        let (mut lo, mut hi) = (Vec3::repeat(f64::INFINITY), Vec3::repeat(f64::NEG_INFINITY));
        for p in triangles.iter().flatten() {
            lo = lo.inf(p);
            hi = hi.sup(p);
        }
        if triangles.is_empty() {
            (lo, hi) = (Vec3::zeros(), Vec3::zeros());
        }
        let size = (hi - lo).map(|s| s.max(1e-6));
        let cells = (triangles.len() as f64 / 2.0).max(1.0);
        let cell_mm = (size.x * size.y * size.z / cells).cbrt().max(size.max() / 128.0);
        let dims = [0, 1, 2].map(|k| ((size[k] / cell_mm).ceil() as usize).clamp(1, 128));
        let range = |t: &[Vec3; 3], k: usize| {
            let (a, b) = t.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p[k]), b.max(p[k])));
            let cell = |x: f64| (((x - lo[k]) / cell_mm).floor().max(0.0) as usize).min(dims[k] - 1);
            cell(a)..=cell(b)
        };
        let index = |i: usize, j: usize, k: usize| (k * dims[1] + j) * dims[0] + i;
        let mut counts = vec![0u32; dims[0] * dims[1] * dims[2] + 1];
        let each = |f: &mut dyn FnMut(usize, usize)| {
            for (n, t) in triangles.iter().enumerate() {
                for k in range(t, 2) {
                    for j in range(t, 1) {
                        for i in range(t, 0) {
                            f(n, index(i, j, k));
                        }
                    }
                }
            }
        };
        each(&mut |_, c| counts[c + 1] += 1);
        for c in 1..counts.len() {
            counts[c] += counts[c - 1];
        }
        let starts = counts.clone();
        let mut items = vec![0u32; *counts.last().unwrap() as usize];
        each(&mut |n, c| {
            items[counts[c] as usize] = n as u32;
            counts[c] += 1;
        });
        RayGrid { triangles, lo, cell_mm, dims, starts, items }
    }

    /// The nearest triangle the ray from `origin` along unit `dir` meets:
    /// its index, distance and barycentric (u, v).
    pub fn first_hit(&self, origin: Vec3, dir: Vec3) -> Option<(usize, f64, f64, f64)> {
        let size = Vec3::new(self.dims[0] as f64, self.dims[1] as f64, self.dims[2] as f64) * self.cell_mm;
        // The span of the ray inside the grid's box.
        let (mut t0, mut t1) = (0.0f64, f64::INFINITY);
        for k in 0..3 {
            if dir[k].abs() < 1e-300 {
                if origin[k] < self.lo[k] || origin[k] > self.lo[k] + size[k] {
                    return None;
                }
                continue;
            }
            let (a, b) = ((self.lo[k] - origin[k]) / dir[k], (self.lo[k] + size[k] - origin[k]) / dir[k]);
            t0 = t0.max(a.min(b));
            t1 = t1.min(a.max(b));
        }
        if t0 > t1 {
            return None;
        }
        let start = origin + dir * t0;
        let mut cell = [0, 1, 2]
            .map(|k| (((start[k] - self.lo[k]) / self.cell_mm).floor().max(0.0) as usize).min(self.dims[k] - 1) as i64);
        let step = [0, 1, 2].map(|k| if dir[k] > 0.0 { 1i64 } else { -1 });
        // The ray's distance to its next cell boundary on each axis, and between boundaries.
        let mut next = [0, 1, 2].map(|k| {
            if dir[k].abs() < 1e-300 {
                f64::INFINITY
            } else {
                let edge = self.lo[k] + (cell[k] + (step[k] > 0) as i64) as f64 * self.cell_mm;
                (edge - origin[k]) / dir[k]
            }
        });
        let delta = [0, 1, 2].map(|k| if dir[k].abs() < 1e-300 { f64::INFINITY } else { self.cell_mm / dir[k].abs() });
        let mut best: Option<(usize, f64, f64, f64)> = None;
        loop {
            let c = ((cell[2] as usize * self.dims[1]) + cell[1] as usize) * self.dims[0] + cell[0] as usize;
            for &n in &self.items[self.starts[c] as usize..self.starts[c + 1] as usize] {
                if let Some((t, u, v)) = ray_triangle(origin, dir, self.triangles[n as usize])
                    && best.is_none_or(|b| t < b.1)
                {
                    best = Some((n as usize, t, u, v));
                }
            }
            // The axis whose boundary comes first.
            let k = (0..3).min_by(|&a, &b| next[a].total_cmp(&next[b])).unwrap();
            // A hit before this cell's far side is the nearest (a triangle
            // in several cells is tested in each, the nearer ones first).
            if best.is_some_and(|b| b.1 <= next[k]) || next[k] > t1 {
                return best;
            }
            cell[k] += step[k];
            if cell[k] < 0 || cell[k] >= self.dims[k] as i64 {
                return best;
            }
            next[k] += delta[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn the_grid_finds_the_nearest_triangle_a_ray_meets_as_testing_them_all_does() {
        // 3000 random triangles in a 100 mm box, 2000 random rays from
        // outside and inside it: the same nearest triangle and distance as
        // testing every triangle.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut p = || Vec3::new(rng.random::<f64>(), rng.random::<f64>(), rng.random::<f64>()) * 100.0;
        let triangles: Vec<[Vec3; 3]> = (0..3000)
            .map(|_| {
                let a = p();
                let (b, c) = (p(), p());
                [a, a + (b - a) * 0.15, a + (c - a) * 0.15]
            })
            .collect();
        let grid = RayGrid::new(triangles.clone());
        let (mut hits, mut rng) = (0, rand_pcg::Pcg64::seed_from_u64(8));
        for n in 0..2000 {
            let mut q = || Vec3::new(rng.random::<f64>(), rng.random::<f64>(), rng.random::<f64>());
            let origin = if n % 2 == 0 { q() * 300.0 - Vec3::repeat(100.0) } else { q() * 100.0 };
            let dir = (q() * 100.0 - (origin - Vec3::repeat(50.0)) * 0.3).normalize();
            let all = triangles
                .iter()
                .enumerate()
                .filter_map(|(i, t)| ray_triangle(origin, dir, *t).map(|h| (i, h.0)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let found = grid.first_hit(origin, dir).map(|h| (h.0, h.1));
            assert_eq!(found, all, "ray {n} from {origin:?} along {dir:?}");
            hits += all.is_some() as usize;
        }
        assert!(hits > 400, "only {hits} rays met a triangle");
    }
}
