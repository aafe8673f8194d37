//! Zone meshes: triangles with a 3D position (mm) and a chart position (mm)
//! at every vertex. Passes are laid in the chart as on a flat zone; the
//! chart's boundary is the zone outline; punctures are mapped to 3D through
//! the triangle they fall in; every area figure uses the true 3D area.
//!
//! Charts come from the mesh's own UVs (scaled to mm when nearly isometric)
//! or from a least-squares conformal map (LSCM, Lévy et al. 2002) solved by
//! conjugate gradients, scaled to the true area and turned so that the 3D
//! "up" points along +v.

use crate::core::geometry::layout::Layout;
use crate::core::geometry::shape::{Shape, Vec2, validate_polygon};
use nalgebra::Vector3;
use std::collections::HashMap;

/// A point or vector in 3D, mm (x to the patient's left, y up, z out of the body).
pub type Vec3 = Vector3<f64>;

/// A triangle mesh whose vertices each have a 3D position and a chart position (mm).
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    /// 3D position of each vertex, mm.
    pub positions_mm: Vec<Vec3>,
    /// Chart (flattened) position of each vertex, mm; same length as `positions_mm`.
    pub chart_mm: Vec<Vec2>,
    /// Triangles as three vertex indices into `positions_mm` and `chart_mm`.
    pub triangles: Vec<[u32; 3]>,
}

/// Why a mesh cannot be a zone.
#[derive(Clone, Debug, PartialEq)]
pub enum MeshProblem {
    /// The mesh has no triangles.
    Empty,
    /// A triangle names a vertex that does not exist.
    IndexOutOfRange {
        /// Index of the triangle.
        triangle: usize,
    },
    /// A vertex has a coordinate that is not a finite number.
    NotFinite {
        /// Index of the vertex.
        vertex: usize,
    },
    /// A triangle has zero 3D area.
    Degenerate {
        /// Index of the triangle.
        triangle: usize,
    },
    /// An edge is shared by more than two triangles.
    NonManifoldEdge {
        /// One end of the edge (vertex index, the smaller one).
        a: u32,
        /// The other end of the edge (vertex index, the larger one).
        b: u32,
        /// How many triangles share the edge.
        faces: usize,
    },
    /// The mesh is closed: no edge is used by only one triangle.
    NoBoundary,
    /// Two or more fans of triangles meet only at this vertex (a bowtie): the
    /// surface is not a disk there.
    BowtieVertex {
        /// The vertex (index in the mesh).
        vertex: u32,
    },
    /// The triangles cannot all be wound one way (a Möbius strip): no chart
    /// can keep a side of the skin up.
    NonOrientable {
        /// A triangle whose neighbours disagree on its winding.
        triangle: usize,
    },
    /// The triangles form several pieces that share no edge (two OBJ
    /// objects, say): a zone is one connected surface.
    SeparatePieces {
        /// Triangles in each piece, largest first.
        triangles: Vec<usize>,
    },
    /// The chart folds over itself (not all triangles turn the same way).
    ChartFolds {
        /// Index of the first triangle found turned the wrong way (or flat) in the chart.
        triangle: usize,
    },
    /// The chart's outer boundary is not a valid zone outline (the text says why).
    ChartOutline(String),
    /// The mesh has more triangles than one zone may have ([`MAX_TRIANGLES`]).
    TooBig {
        /// How many triangles the mesh has.
        triangles: usize,
        /// The most accepted ([`MAX_TRIANGLES`]).
        limit: usize,
    },
}

impl std::fmt::Display for MeshProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "has no triangles"),
            Self::IndexOutOfRange { triangle } => write!(f, "triangle {triangle} names a vertex that does not exist"),
            Self::NotFinite { vertex } => write!(f, "vertex {vertex} has a coordinate that is not a finite number"),
            Self::Degenerate { triangle } => write!(f, "triangle {triangle} is degenerate (zero area)"),
            Self::NonManifoldEdge { a, b, faces } => {
                write!(
                    f,
                    "the edge between vertices {a} and {b} is shared by {faces} triangles (non-manifold; at most 2)"
                )
            }
            Self::NoBoundary => {
                write!(f, "is closed (no boundary): a zone must be a patch with an edge, e.g. one OBJ group")
            }
            Self::BowtieVertex { vertex } => write!(
                f,
                "has a bowtie at vertex {vertex}: separate fans of triangles meet only there, so the surface is not one sheet (split it there or remove a fan)"
            ),
            Self::NonOrientable { triangle } => write!(
                f,
                "cannot be wound one way (non-orientable, like a Möbius strip; seen at triangle {triangle}): a zone needs a side of skin up"
            ),
            Self::SeparatePieces { triangles } => {
                let shown: Vec<String> = triangles.iter().take(5).map(|n| n.to_string()).collect();
                let more = if triangles.len() > 5 { " and more" } else { "" };
                write!(
                    f,
                    "is {} separate pieces that share no edge (of {}{more} triangles): a zone is one connected surface, so give each piece its own zone",
                    triangles.len(),
                    shown.join(", ")
                )
            }
            Self::ChartFolds { triangle } => write!(f, "its chart folds over itself at triangle {triangle}"),
            Self::ChartOutline(p) => write!(f, "its chart outline {p}"),
            Self::TooBig { triangles, limit } => {
                write!(f, "has {triangles} triangles; at most {limit} are accepted for one zone")
            }
        }
    }
}

/// Most triangles one zone may have (a face scan of 2 million triangles is
/// far finer than any needle pattern needs).
pub const MAX_TRIANGLES: usize = 2_000_000;

/// Meshes with at least this many vertices start their conformal solve
/// from a coarse one and take coarse corrections (see `Mesh::coarse_conformal`).
const COARSE_START_VERTICES: usize = 2_000;

/// Where the conformal solve stops: the squared residual under this share of
/// the system's scale (the squared diagonal, times the unknowns' mean
/// square). From the plane start the chart ends within a micrometre of the
/// minimiser. From the coarse start alone it ended 0.2 mm off on a 100 mm
/// saddle (its error is smooth: a small residual, slow to remove), hence the
/// coarse corrections, after which it ends within 0.01 mm
/// (`tests::lscm_from_the_coarse_start_is_the_same_chart`).
const LSCM_TOLERANCE: f64 = 1e-18;

/// Fewest rings of neighbours in a patch of the coarse conformal solve
/// (about 3 r^2 vertices a patch on a regular mesh).
const MIN_COARSE_RINGS: usize = 4;

/// Most rounds of fine iterations and coarse correction in the conformal
/// solve of a large mesh.
const COARSE_CYCLES: usize = 6;

/// A coarse correction moving no vertex farther than this (mm) ends the
/// rounds: the chart is then within about this of the minimiser.
const COARSE_SETTLED_MM: f64 = 0.01;

/// About how many patches the coarse conformal solve is given at most.
const COARSE_PATCHES: f64 = 3_000.0;

/// How much a chart stretches area, relative to the true surface.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Distortion {
    /// Per triangle, (true area / chart area) over the mesh's mean: min, max,
    /// and the true-area-weighted mean of |ratio - 1|.
    pub area_stretch_min: f64,
    /// Largest per-triangle area ratio over the mean (see `area_stretch_min`).
    pub area_stretch_max: f64,
    /// True-area-weighted mean of |ratio - 1| (0 = no area distortion).
    pub area_stretch_mean_deviation: f64,
    /// Largest ratio of the two principal stretches of a triangle (1 = conformal).
    pub shape_stretch_max: f64,
}

/// Solves A x = b by conjugate gradients with a diagonal preconditioner:
/// `r` is the starting residual (b - A x for the given x), `apply` computes
/// A p, `pre(i)` the preconditioner's entry, `free(i)` whether unknown i
/// moves (the others stay as given), `done(rr, x)` the stopping test on the
/// residual's square norm; at most `max_iter` steps. Both chart solvers
/// (LSCM and Tutte) use it.
fn solve_pcg(
    x: &mut [f64],
    mut r: Vec<f64>,
    apply: impl Fn(&[f64], &mut [f64]),
    pre: impl Fn(usize) -> f64,
    free: impl Fn(usize) -> bool,
    done: impl Fn(f64, &[f64]) -> bool,
    max_iter: usize,
) {
    let n = x.len();
    let mut z: Vec<f64> = (0..n).map(|i| r[i] * pre(i)).collect();
    let mut p = z.clone();
    let mut rz: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
    let mut ap = vec![0.0; n];
    for _ in 0..max_iter {
        let rr: f64 = r.iter().map(|v| v * v).sum();
        if done(rr, x) {
            break;
        }
        apply(&p, &mut ap);
        for (i, a) in ap.iter_mut().enumerate() {
            if !free(i) {
                *a = 0.0;
            }
        }
        let pap: f64 = p.iter().zip(&ap).map(|(a, b)| a * b).sum();
        if pap <= 0.0 {
            break;
        }
        let alpha = rz / pap;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        for i in 0..n {
            z[i] = r[i] * pre(i);
        }
        let rz_new: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
        let beta = rz_new / rz;
        rz = rz_new;
        for i in 0..n {
            p[i] = z[i] + beta * p[i];
        }
    }
}

/// The least weight of an edge in a Tutte chart (cotangent weights can be
/// negative on obtuse triangles; positive ones keep the chart fold-free).
const TUTTE_MIN_WEIGHT: f64 = 0.01;

fn tri<'a, T>(v: &'a [T], t: &[u32; 3]) -> [&'a T; 3] {
    [&v[t[0] as usize], &v[t[1] as usize], &v[t[2] as usize]]
}

fn cross2(a: Vec2, b: Vec2) -> f64 {
    a.x * b.y - a.y * b.x
}

impl Mesh {
    /// True 3D area of triangle `t`, mm².
    pub fn triangle_area_3d(&self, t: usize) -> f64 {
        let [a, b, c] = tri(&self.positions_mm, &self.triangles[t]);
        (b - a).cross(&(c - a)).norm() / 2.0
    }

    /// Signed chart area of a triangle (positive: counter-clockwise).
    pub fn triangle_area_chart(&self, t: usize) -> f64 {
        twice_signed_area(&self.chart_mm, &self.triangles[t]) / 2.0
    }

    /// True 3D area of the whole mesh, mm².
    pub fn area_3d_mm2(&self) -> f64 {
        (0..self.triangles.len()).map(|t| self.triangle_area_3d(t)).sum()
    }

    /// Chart area of the whole mesh (unsigned sum over triangles), mm².
    pub fn area_chart_mm2(&self) -> f64 {
        (0..self.triangles.len()).map(|t| self.triangle_area_chart(t).abs()).sum()
    }

    /// Checks the 3D mesh: indices, finite values, non-degenerate triangles,
    /// manifold edges, a boundary.
    pub fn validate_3d(&self) -> Result<(), MeshProblem> {
        if self.triangles.is_empty() {
            return Err(MeshProblem::Empty);
        }
        if self.triangles.len() > MAX_TRIANGLES {
            return Err(MeshProblem::TooBig { triangles: self.triangles.len(), limit: MAX_TRIANGLES });
        }
        let n = self.positions_mm.len() as u32;
        for (i, t) in self.triangles.iter().enumerate() {
            if t.iter().any(|&v| v >= n) {
                return Err(MeshProblem::IndexOutOfRange { triangle: i });
            }
        }
        if let Some(v) = self.positions_mm.iter().position(|p| !p.iter().all(|c| c.is_finite())) {
            return Err(MeshProblem::NotFinite { vertex: v });
        }
        let scale = self.positions_mm.iter().map(|p| p.norm()).fold(1.0, f64::max);
        for t in 0..self.triangles.len() {
            if self.triangle_area_3d(t) <= 1e-12 * scale * scale {
                return Err(MeshProblem::Degenerate { triangle: t });
            }
        }
        // Each edge's triangles (sorted by edge: the first edge used more
        // than twice is the lowest), joined into pieces.
        let edges = self.edge_slots();
        let mut pieces = Pieces::new(self.triangles.len());
        let mut has_boundary = false;
        for run in Self::edge_runs(&edges) {
            if run.len() > 2 {
                let (a, b) = ((run[0].0 >> 32) as u32, run[0].0 as u32);
                return Err(MeshProblem::NonManifoldEdge { a, b, faces: run.len() });
            }
            has_boundary |= run.len() == 1;
            for other in &run[1..] {
                pieces.join(run[0].1 / 3, other.1 / 3);
            }
        }
        let sizes = pieces.sizes();
        if sizes.len() > 1 {
            return Err(MeshProblem::SeparatePieces { triangles: sizes });
        }
        // Each vertex's triangles must form one fan (joined across the edges
        // at the vertex): two fans meeting only at it make a bowtie, closed
        // fans included. Corners joined across each shared edge at a vertex;
        // a vertex's fans are its corners less the joins that merged two.
        let mut at_edges: Vec<(u32, u32, u32)> = Vec::with_capacity(6 * self.triangles.len());
        for (ti, t) in self.triangles.iter().enumerate() {
            for k in 0..3 {
                let corner = (3 * ti + k) as u32;
                at_edges.push((t[k], t[(k + 1) % 3], corner));
                at_edges.push((t[k], t[(k + 2) % 3], corner));
            }
        }
        at_edges.sort_unstable();
        let mut corners = Pieces::new(3 * self.triangles.len());
        let mut count = vec![0u32; self.positions_mm.len()];
        for t in &self.triangles {
            for &v in t {
                count[v as usize] += 1;
            }
        }
        for w in at_edges.windows(2) {
            let ((v, a, c1), (v2, a2, c2)) = (w[0], w[1]);
            if (v, a) == (v2, a2) && corners.join_new(c1, c2) {
                count[v as usize] -= 1;
            }
        }
        if let Some(vertex) = count.iter().position(|&fans| fans > 1) {
            return Err(MeshProblem::BowtieVertex { vertex: vertex as u32 });
        }
        if !has_boundary {
            return Err(MeshProblem::NoBoundary);
        }
        Ok(())
    }

    /// Winds every triangle the way its neighbours are wound (across each
    /// shared edge the two run it in opposite directions), keeping the way
    /// most of them were wound: returns how many were turned. Call on a
    /// valid mesh (manifold edges, one piece).
    pub fn orient_consistently(&mut self) -> Result<usize, MeshProblem> {
        let n = self.triangles.len();
        // Per edge slot (3 t + k), the triangle across it (u32::MAX: none).
        let mut across = vec![u32::MAX; 3 * n];
        for run in Self::edge_runs(&self.edge_slots()) {
            if let [(_, s0), (_, s1)] = run {
                across[*s0 as usize] = s1 / 3;
                across[*s1 as usize] = s0 / 3;
            }
        }
        // Whether triangle t runs the edge (a, b) from a to b.
        let runs = |t: &[u32; 3], a: u32, b: u32| (0..3).any(|k| t[k] == a && t[(k + 1) % 3] == b);
        let mut flip: Vec<Option<bool>> = vec![None; n];
        let mut queue = std::collections::VecDeque::new();
        for start in 0..n {
            if flip[start].is_some() {
                continue;
            }
            flip[start] = Some(false);
            queue.push_back(start);
            while let Some(t) = queue.pop_front() {
                let tri_t = self.triangles[t];
                let ft = flip[t].unwrap_or(false);
                for k in 0..3 {
                    let (a, b) = (tri_t[k], tri_t[(k + 1) % 3]);
                    let other = across[3 * t + k];
                    if other == u32::MAX {
                        continue;
                    }
                    // As wound, t runs a -> b; the neighbour agrees when it runs b -> a.
                    let agrees = runs(&self.triangles[other as usize], b, a);
                    let want = if agrees { ft } else { !ft };
                    match flip[other as usize] {
                        None => {
                            flip[other as usize] = Some(want);
                            queue.push_back(other as usize);
                        }
                        Some(f) if f != want => return Err(MeshProblem::NonOrientable { triangle: other as usize }),
                        Some(_) => {}
                    }
                }
            }
        }
        let turned = flip.iter().filter(|f| **f == Some(true)).count();
        let keep_flagged = turned * 2 > n; // most were the other way: turn the rest
        let mut changed = 0;
        for (t, f) in self.triangles.iter_mut().zip(&flip) {
            if f.unwrap_or(false) != keep_flagged {
                t.swap(1, 2);
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Every triangle's edges as (undirected key, slot 3 t + k for edge k
    /// of triangle t, running corner k to corner k + 1), sorted: the
    /// triangles sharing an edge sit together. A sort, not a hash map: a
    /// scan's millions of edges in a hash map took seconds.
    fn edge_slots(&self) -> Vec<(u64, u32)> {
        let mut edges: Vec<(u64, u32)> = self
            .triangles
            .iter()
            .enumerate()
            .flat_map(|(ti, t)| {
                (0..3).map(move |k| {
                    let (a, b) = (t[k], t[(k + 1) % 3]);
                    (((a.min(b) as u64) << 32) | a.max(b) as u64, (3 * ti + k) as u32)
                })
            })
            .collect();
        edges.sort_unstable();
        edges
    }

    /// The runs of `edge_slots` under one key: the slots of the triangles
    /// sharing each edge.
    fn edge_runs(edges: &[(u64, u32)]) -> impl Iterator<Item = &[(u64, u32)]> {
        edges.chunk_by(|a, b| a.0 == b.0)
    }

    /// Boundary edges (used by one triangle), oriented as in their triangle.
    fn boundary_edges(&self) -> Vec<(u32, u32)> {
        let edges = self.edge_slots();
        let mut out: Vec<(u32, u32)> = Self::edge_runs(&edges)
            .filter(|run| run.len() == 1)
            .map(|run| {
                let (t, k) = (run[0].1 as usize / 3, run[0].1 as usize % 3);
                (self.triangles[t][k], self.triangles[t][(k + 1) % 3])
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Closed boundary loops (vertex indices), longest first.
    pub fn boundary_loops(&self) -> Vec<Vec<u32>> {
        let edges = self.boundary_edges();
        let mut next: HashMap<u32, u32> = HashMap::new();
        for &(a, b) in &edges {
            next.entry(a).or_insert(b);
        }
        let mut seen = std::collections::HashSet::new();
        let mut loops = Vec::new();
        for &(start, _) in &edges {
            if seen.contains(&start) {
                continue;
            }
            let mut lp = vec![start];
            seen.insert(start);
            let mut cur = start;
            while let Some(&n) = next.get(&cur) {
                if n == start || !seen.insert(n) {
                    break;
                }
                lp.push(n);
                cur = n;
            }
            if lp.len() >= 3 {
                loops.push(lp);
            }
        }
        loops.sort_by_key(|l| std::cmp::Reverse(l.len()));
        loops
    }

    /// Checks the chart: no folds (all triangles turn the same way) and a
    /// simple outer boundary, which it returns as the zone outline.
    pub fn chart_outline(&self) -> Result<Shape, MeshProblem> {
        let positive = (0..self.triangles.len()).filter(|&t| self.triangle_area_chart(t) > 0.0).count();
        let flip = positive * 2 < self.triangles.len();
        for t in 0..self.triangles.len() {
            let a = self.triangle_area_chart(t);
            if (a > 0.0) == flip || a == 0.0 {
                return Err(MeshProblem::ChartFolds { triangle: t });
            }
        }
        let (outer, _) = self.chart_loops()?;
        validate_polygon(&outer).map_err(|p| MeshProblem::ChartOutline(p.to_string()))?;
        Ok(Shape::Polygon { vertices_mm: outer })
    }

    /// The chart's boundary loops as polygons: the outer one (enclosing the
    /// most chart area) and the inner ones, the mesh's holes (a scan's eyes
    /// and mouth, cut-outs).
    pub fn chart_loops(&self) -> Result<(Vec<Vec2>, Vec<Vec<Vec2>>), MeshProblem> {
        let mut loops: Vec<Vec<Vec2>> =
            self.boundary_loops().iter().map(|l| l.iter().map(|&v| self.chart_mm[v as usize]).collect()).collect();
        let enclosed =
            |p: &Vec<Vec2>| (0..p.len()).map(|i| cross2(p[i], p[(i + 1) % p.len()])).sum::<f64>().abs() / 2.0;
        let outer = (0..loops.len())
            .max_by(|&a, &b| enclosed(&loops[a]).total_cmp(&enclosed(&loops[b])))
            .ok_or(MeshProblem::NoBoundary)?;
        let outer = loops.swap_remove(outer);
        Ok((outer, loops))
    }

    /// The mesh's holes in the chart (see [`Mesh::chart_loops`]), as polygons
    /// to keep out of the zone; a hole whose outline is not a simple polygon
    /// in the chart is refused.
    pub fn chart_holes(&self) -> Result<Vec<Shape>, MeshProblem> {
        let (_, holes) = self.chart_loops()?;
        holes
            .into_iter()
            .map(|vertices_mm| {
                validate_polygon(&vertices_mm).map_err(|p| MeshProblem::ChartOutline(format!("of a hole {p}")))?;
                Ok(Shape::Polygon { vertices_mm })
            })
            .collect()
    }

    /// Area distortion of the chart (see [`Distortion`]).
    pub fn distortion(&self) -> Distortion {
        let total_3d = self.area_3d_mm2();
        let total_chart = self.area_chart_mm2();
        let mean = total_3d / total_chart;
        let mut d = Distortion { area_stretch_min: f64::INFINITY, area_stretch_max: 0.0, ..Default::default() };
        for t in 0..self.triangles.len() {
            let (a3, ac) = (self.triangle_area_3d(t), self.triangle_area_chart(t).abs());
            let ratio = a3 / ac / mean;
            d.area_stretch_min = d.area_stretch_min.min(ratio);
            d.area_stretch_max = d.area_stretch_max.max(ratio);
            d.area_stretch_mean_deviation += (ratio - 1.0).abs() * a3 / total_3d;
            let (s1, s2) = self.principal_stretches(t);
            d.shape_stretch_max = d.shape_stretch_max.max(s1 / s2);
        }
        d
    }

    /// The most chart millimetres one true millimetre of skin spans on any
    /// triangle (the largest 1 / smallest principal stretch; triangles with
    /// no chart area are skipped): a neighbourhood of radius r on the skin
    /// lies within r times this of its centre in the chart.
    pub fn chart_per_true_max(&self) -> f64 {
        (0..self.triangles.len())
            .filter(|&t| self.triangle_area_chart(t).abs() > 0.0)
            .map(|t| 1.0 / self.principal_stretches(t).1)
            .filter(|k| k.is_finite())
            .fold(0.0, f64::max)
    }

    /// Singular values (largest first) of the map from chart to surface on a triangle.
    fn principal_stretches(&self, t: usize) -> (f64, f64) {
        let [p0, p1, p2] = tri(&self.positions_mm, &self.triangles[t]);
        let [c0, c1, c2] = tri(&self.chart_mm, &self.triangles[t]);
        let (e1, e2) = (c1 - c0, c2 - c0);
        let det = cross2(e1, e2);
        // Jacobian J = [p1-p0, p2-p0] * inverse([e1, e2]) (3 x 2).
        let inv = [[e2.y / det, -e2.x / det], [-e1.y / det, e1.x / det]];
        let (q1, q2) = (p1 - p0, p2 - p0);
        let ju = q1 * inv[0][0] + q2 * inv[1][0];
        let jv = q1 * inv[0][1] + q2 * inv[1][1];
        let (a, b, c) = (ju.dot(&ju), ju.dot(&jv), jv.dot(&jv));
        let tr = a + c;
        let disc = ((a - c).powi(2) + 4.0 * b * b).sqrt();
        (((tr + disc) / 2.0).sqrt(), ((tr - disc) / 2.0).max(1e-300).sqrt())
    }

    /// The coarse level of the conformal solve: the vertices grouped into
    /// patches (a few rings of neighbours each), each patch mapping its own
    /// tangent plane by one similarity (u + iv = T + S (x + iy)), with the
    /// conformal energy restricted to those (a Galerkin coarse problem, 4
    /// unknowns a patch). It gives the fine solve its start and then
    /// corrects its smooth error, which fine iterations remove slowly.
    fn coarse_conformal(&self) -> CoarseConformal {
        let n = self.positions_mm.len();
        // Vertex neighbours (CSR).
        let mut degree = vec![0u32; n + 1];
        for t in &self.triangles {
            for &v in t {
                degree[v as usize + 1] += 2;
            }
        }
        for i in 0..n {
            degree[i + 1] += degree[i];
        }
        let mut fill = degree.clone();
        let mut nbr = vec![0u32; degree[n] as usize];
        for t in &self.triangles {
            for j in 0..3 {
                let (a, b, c) = (t[j], t[(j + 1) % 3], t[(j + 2) % 3]);
                for o in [b, c] {
                    nbr[fill[a as usize] as usize] = o;
                    fill[a as usize] += 1;
                }
            }
        }
        // Patches: breadth-first from each vertex not yet taken, up to
        // `rings` rings: wider on larger meshes, so the coarse problem stays
        // small (about COARSE_PATCHES patches) and its own solve short.
        let rings = ((n as f64 / (3.0 * COARSE_PATCHES)).sqrt().ceil() as usize).max(MIN_COARSE_RINGS);
        let mut patch = vec![u32::MAX; n];
        let mut patches = 0u32;
        let mut frontier = Vec::new();
        let mut next = Vec::new();
        for seed in 0..n {
            if patch[seed] != u32::MAX {
                continue;
            }
            patch[seed] = patches;
            frontier.clear();
            frontier.push(seed as u32);
            for _ in 0..rings {
                next.clear();
                for &v in &frontier {
                    for &o in &nbr[degree[v as usize] as usize..degree[v as usize + 1] as usize] {
                        if patch[o as usize] == u32::MAX {
                            patch[o as usize] = patches;
                            next.push(o);
                        }
                    }
                }
                std::mem::swap(&mut frontier, &mut next);
            }
            patches += 1;
        }
        let np = patches as usize;
        // Each patch's tangent frame: centre, and axes (e1, e2) with e1 x e2
        // along the patch's winding normal (so the conformal map is u + iv
        // holomorphic in x + iy, as in the fine rows).
        let mut centre = vec![Vec3::zeros(); np];
        let mut count = vec![0.0f64; np];
        let mut normal = vec![Vec3::zeros(); np];
        for (i, p) in self.positions_mm.iter().enumerate() {
            centre[patch[i] as usize] += p;
            count[patch[i] as usize] += 1.0;
        }
        for t in &self.triangles {
            let [a, b, c] = tri(&self.positions_mm, t);
            let nt = (b - a).cross(&(c - a));
            for &v in t {
                normal[patch[v as usize] as usize] += nt;
            }
        }
        let frames: Vec<(Vec3, Vec3, Vec3)> = (0..np)
            .map(|k| {
                let c = centre[k] / count[k];
                let nk = normal[k].try_normalize(1e-300).unwrap_or(Vec3::z());
                let helper = if nk.x.abs() < 0.9 { Vec3::x() } else { Vec3::y() };
                let e1 = (helper - nk * helper.dot(&nk)).normalize();
                (c, e1, nk.cross(&e1))
            })
            .collect();
        let local: Vec<Vec2> = (0..n)
            .map(|i| {
                let (c, e1, e2) = frames[patch[i] as usize];
                let d = self.positions_mm[i] - c;
                Vec2::new(d.dot(&e1), d.dot(&e2))
            })
            .collect();
        // The coarse operator, 4 x 4 blocks: diagonal ones per patch, the
        // others per pair of neighbouring patches.
        let mut diag = vec![[0.0f64; 16]; np];
        let mut off: std::collections::HashMap<(u32, u32), [f64; 16]> = std::collections::HashMap::new();
        for t in &self.triangles {
            let [p0, p1, p2] = tri(&self.positions_mm, t);
            let ex = (p1 - p0).normalize();
            let nrm = (p1 - p0).cross(&(p2 - p0));
            let ey = nrm.cross(&ex).normalize();
            let l =
                [Vec2::zeros(), Vec2::new((p1 - p0).dot(&ex), 0.0), Vec2::new((p2 - p0).dot(&ex), (p2 - p0).dot(&ey))];
            let area2 = cross2(l[1] - l[0], l[2] - l[0]);
            if area2 <= 0.0 {
                continue;
            }
            let w2 = area2 / 2.0;
            // Coefficients of the two residual rows on each corner's patch.
            let mut rows = [[0.0f64; 4]; 6]; // [corner j][row r] flattened: (j, r) -> 2 j + r
            for j in 0..3 {
                let (k, m) = ((j + 1) % 3, (j + 2) % 3);
                let gx = (l[k].y - l[m].y) / area2;
                let gy = (l[m].x - l[k].x) / area2;
                let q = local[t[j] as usize];
                // u = tx + sr x - si y, v = ty + sr y + si x.
                rows[2 * j] = [gx, -gy, gx * q.x - gy * q.y, -gx * q.y - gy * q.x];
                rows[2 * j + 1] = [gy, gx, gy * q.x + gx * q.y, -gy * q.y + gx * q.x];
            }
            for a in 0..3 {
                for b in 0..3 {
                    let (pa, pb) = (patch[t[a] as usize], patch[t[b] as usize]);
                    let block =
                        if pa == pb { &mut diag[pa as usize] } else { off.entry((pa, pb)).or_insert([0.0; 16]) };
                    for r in 0..2 {
                        let (ra, rb) = (rows[2 * a + r], rows[2 * b + r]);
                        for i in 0..4 {
                            for j in 0..4 {
                                block[4 * i + j] += w2 * ra[i] * rb[j];
                            }
                        }
                    }
                }
            }
        }
        let mut off: Vec<((u32, u32), [f64; 16])> = off.into_iter().collect();
        off.sort_unstable_by_key(|e| e.0);
        CoarseConformal { patch, local, diag, off }
    }

    /// Replaces the chart by a least-squares conformal map of the surface,
    /// scaled to the true area, with the 3D up direction (+y) along +v.
    pub fn compute_lscm_chart(&mut self) {
        self.lscm_chart(self.positions_mm.len() >= COARSE_START_VERTICES, LSCM_TOLERANCE)
    }

    /// LSCM, its solve started from a coarse one (`coarse_start`) or from the
    /// surface projected on its best-fitting plane (the same minimiser),
    /// stopped at `tolerance` (see `LSCM_TOLERANCE`).
    fn lscm_chart(&mut self, coarse_start: bool, tolerance: f64) {
        let n = self.positions_mm.len();
        // Pin the two vertices farthest apart along the mesh's longest extent.
        let (mut lo, mut hi) = (0usize, 0usize);
        let axis = {
            let (mut mn, mut mx) = (self.positions_mm[0], self.positions_mm[0]);
            for p in &self.positions_mm {
                mn = mn.inf(p);
                mx = mx.sup(p);
            }
            let e = mx - mn;
            if e.x >= e.y && e.x >= e.z {
                Vec3::x()
            } else if e.y >= e.z {
                Vec3::y()
            } else {
                Vec3::z()
            }
        };
        for (i, p) in self.positions_mm.iter().enumerate() {
            if p.dot(&axis) < self.positions_mm[lo].dot(&axis) {
                lo = i;
            }
            if p.dot(&axis) > self.positions_mm[hi].dot(&axis) {
                hi = i;
            }
        }
        let pins =
            [(lo, Vec2::new(0.0, 0.0)), (hi, Vec2::new((self.positions_mm[hi] - self.positions_mm[lo]).norm(), 0.0))];
        // Rows of the conformality residual: per triangle two rows over 6 unknowns.
        struct Row {
            idx: [usize; 3],
            gx: [f64; 3],
            gy: [f64; 3],
            w: f64,
        }
        let rows: Vec<Row> = self
            .triangles
            .iter()
            .map(|t| {
                let [p0, p1, p2] = tri(&self.positions_mm, t);
                let ex = (p1 - p0).normalize();
                let nrm = (p1 - p0).cross(&(p2 - p0));
                let ey = nrm.cross(&ex).normalize();
                let l = [
                    Vec2::zeros(),
                    Vec2::new((p1 - p0).dot(&ex), 0.0),
                    Vec2::new((p2 - p0).dot(&ex), (p2 - p0).dot(&ey)),
                ];
                let area2 = cross2(l[1] - l[0], l[2] - l[0]);
                let mut gx = [0.0; 3];
                let mut gy = [0.0; 3];
                for j in 0..3 {
                    let (k, m) = ((j + 1) % 3, (j + 2) % 3);
                    gx[j] = (l[k].y - l[m].y) / area2;
                    gy[j] = (l[m].x - l[k].x) / area2;
                }
                Row { idx: [t[0] as usize, t[1] as usize, t[2] as usize], gx, gy, w: (area2 / 2.0).sqrt() }
            })
            .collect();
        let mut is_pinned = vec![false; n];
        for &(i, _) in &pins {
            is_pinned[i] = true;
        }
        // x = [u_0..u_n, v_0..v_n]; residual r1 = sum u gx - v gy, r2 = sum u gy + v gx.
        let apply = |x: &[f64], out: &mut [f64]| {
            out.iter_mut().for_each(|o| *o = 0.0);
            for r in &rows {
                let (mut r1, mut r2) = (0.0, 0.0);
                for j in 0..3 {
                    let (u, v) = (x[r.idx[j]], x[n + r.idx[j]]);
                    r1 += u * r.gx[j] - v * r.gy[j];
                    r2 += u * r.gy[j] + v * r.gx[j];
                }
                let (r1, r2) = (r1 * r.w * r.w, r2 * r.w * r.w);
                for j in 0..3 {
                    out[r.idx[j]] += r1 * r.gx[j] + r2 * r.gy[j];
                    out[n + r.idx[j]] += -r1 * r.gy[j] + r2 * r.gx[j];
                }
            }
        };
        // The diagonal of the system (the same for u_j and v_j), for a
        // Jacobi preconditioner.
        let mut diag = vec![0.0; n];
        for r in &rows {
            for j in 0..3 {
                diag[r.idx[j]] += r.w * r.w * (r.gx[j] * r.gx[j] + r.gy[j] * r.gy[j]);
            }
        }
        let free = |i: usize| !is_pinned[i % n];
        let pre = |i: usize| if free(i) && diag[i % n] > 0.0 { 1.0 / diag[i % n] } else { 0.0 };
        // Converged to 1e-9 of the system's scale (mm-sized unknowns).
        let scale: f64 = diag.iter().map(|d| d * d).sum::<f64>().max(1e-300);
        let done =
            |rr: f64, x: &[f64]| rr <= tolerance * scale * (1.0 + x.iter().map(|v| v * v).sum::<f64>() / n as f64);
        let residual = |x: &[f64]| {
            let mut ax = vec![0.0; 2 * n];
            apply(x, &mut ax);
            (0..2 * n).map(|i| if free(i) { -ax[i] } else { 0.0 }).collect::<Vec<f64>>()
        };
        let mut x;
        if coarse_start {
            // Large meshes: start from the coarse solve (patch 0 held at the
            // identity, T = 0 and S = 1), then alternate fine iterations
            // (which remove the error within patches) with coarse
            // corrections (the smooth error, the pins' patches held), until
            // a correction moves no vertex by COARSE_SETTLED_MM.
            let coarse = self.coarse_conformal();
            let np = coarse.diag.len();
            let mut xc = vec![0.0; 4 * np];
            xc[2] = 1.0;
            coarse.solve(&mut xc, &vec![0.0; 4 * np], &[0], 1e-16);
            x = aligned_to_pins(&coarse.prolong(&xc), &pins);
            let held = [coarse.patch[pins[0].0] as usize, coarse.patch[pins[1].0] as usize];
            for _ in 0..COARSE_CYCLES {
                let r = residual(&x);
                solve_pcg(&mut x, r, apply, pre, free, done, 20 * n.max(50));
                let mut e = vec![0.0; 4 * np];
                // A correction needs no more than three digits: the next round
                // corrects what it leaves.
                coarse.solve(&mut e, &coarse.restrict(&residual(&x)), &held, 1e-6);
                let step = coarse.prolong(&e);
                let mut largest = 0.0f64;
                for (i, d) in step.iter().enumerate().filter(|(i, _)| free(*i)) {
                    x[i] += d.x;
                    x[n + i] += d.y;
                    largest = largest.max(d.norm());
                }
                if largest < COARSE_SETTLED_MM {
                    break;
                }
            }
        } else {
            // Small meshes: start from the surface projected on its
            // best-fitting plane.
            let centre = self.positions_mm.iter().sum::<Vec3>() / n as f64;
            let mut cov = nalgebra::Matrix3::<f64>::zeros();
            for p in &self.positions_mm {
                let d = p - centre;
                cov += d * d.transpose();
            }
            let eig = nalgebra::SymmetricEigen::new(cov);
            let mut order = [0usize, 1, 2];
            order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
            let (ax, ay) =
                (eig.eigenvectors.column(order[0]).into_owned(), eig.eigenvectors.column(order[1]).into_owned());
            let flat: Vec<Vec2> =
                self.positions_mm.iter().map(|p| Vec2::new((p - centre).dot(&ax), (p - centre).dot(&ay))).collect();
            x = aligned_to_pins(&flat, &pins);
        }
        // Solve A x = 0 with pinned values: preconditioned CG on the free unknowns.
        let r = residual(&x);
        solve_pcg(&mut x, r, apply, pre, free, done, 20 * n.max(50));
        self.chart_mm = (0..n).map(|i| Vec2::new(x[i], x[n + i])).collect();
        self.normalise_chart();
    }

    /// Replaces the chart by a Tutte embedding, bijective for any disk-shaped
    /// surface: the outer boundary on a circle (spaced by true edge length),
    /// each other vertex at the weighted mean of its neighbours, with the
    /// cotangent weights of the surface clamped to stay positive (Floater:
    /// positive weights and a convex boundary give an embedding with no
    /// fold). Holes are filled with a fan around a vertex at their centre
    /// while solving, so they map inside as star-shaped holes. Scaled to the
    /// true area like [`Mesh::compute_lscm_chart`]; stretch is larger than
    /// LSCM's, which is why it is the fallback where LSCM folds.
    pub fn compute_tutte_chart(&mut self) {
        if let Some(mut filled) = self.tutte_filled() {
            filled.chart.truncate(self.positions_mm.len());
            self.chart_mm = filled.chart;
            self.normalise_chart();
        }
    }

    /// A fold-free chart of least distortion this engine finds where LSCM
    /// folds: the Tutte embedding ([`Mesh::compute_tutte_chart`]), then
    /// rounds of a local-global iteration that lowers its stretch without
    /// ever flipping a triangle ([`local_global`]: as-rigid-as-possible
    /// energy, free boundary, holes kept filled). The iterated chart is kept
    /// when its outline and holes are simple polygons (a free boundary could
    /// in principle run over itself) and it stretches less than the Tutte
    /// chart, in mean area deviation and in the largest shape stretch;
    /// otherwise the Tutte chart is. Returns whether the iterated chart was
    /// kept.
    pub fn compute_bijective_chart(&mut self) -> bool {
        let Some(mut filled) = self.tutte_filled() else {
            return false;
        };
        let n = self.positions_mm.len();
        self.chart_mm = filled.chart[..n].to_vec();
        self.normalise_chart();
        let (tutte, before) = (self.chart_mm.clone(), self.distortion());
        // Fewer rounds on a large mesh (each is two sparse solves): the
        // first rounds lower the energy most.
        let rounds = (LOCAL_GLOBAL_WORK / filled.triangles.len().max(1)).clamp(2, LOCAL_GLOBAL_ROUNDS);
        local_global(&filled.positions, &filled.triangles, &mut filled.chart, rounds);
        filled.chart.truncate(n);
        self.chart_mm = filled.chart;
        self.normalise_chart();
        let after = self.distortion();
        // Kept only where it is simple and stretches less by both measures
        // (on a large mesh the few rounds it is given may not get there).
        let better = self.chart_outline().is_ok()
            && self.chart_holes().is_ok()
            && after.area_stretch_mean_deviation <= before.area_stretch_mean_deviation
            && after.shape_stretch_max <= before.shape_stretch_max;
        if !better {
            self.chart_mm = tutte;
        }
        better
    }

    /// The Tutte embedding of the mesh with each hole filled by a fan around
    /// a vertex at its centre (appended after the mesh's own vertices), on
    /// the filled triangles; `None` for a mesh with no boundary.
    fn tutte_filled(&self) -> Option<Filled> {
        let loops = self.boundary_loops();
        let length = |l: &Vec<u32>| -> f64 {
            (0..l.len())
                .map(|i| (self.positions_mm[l[i] as usize] - self.positions_mm[l[(i + 1) % l.len()] as usize]).norm())
                .sum()
        };
        let outer = (0..loops.len()).max_by(|&a, &b| length(&loops[a]).total_cmp(&length(&loops[b])))?;
        // Positions and triangles with each hole filled by a fan.
        let mut positions = self.positions_mm.clone();
        let mut triangles = self.triangles.clone();
        for (k, l) in loops.iter().enumerate() {
            if k == outer {
                continue;
            }
            let centre = l.iter().map(|&v| self.positions_mm[v as usize]).sum::<Vec3>() / l.len() as f64;
            let c = positions.len() as u32;
            positions.push(centre);
            for i in 0..l.len() {
                triangles.push([l[i], l[(i + 1) % l.len()], c]);
            }
        }
        let m = positions.len();
        // Symmetric edge weights: half the cotangents of the angles opposite.
        let mut weights: HashMap<(u32, u32), f64> = HashMap::new();
        for t in &triangles {
            for k in 0..3 {
                let (i, j, o) = (t[k], t[(k + 1) % 3], t[(k + 2) % 3]);
                let (a, b) =
                    (positions[i as usize] - positions[o as usize], positions[j as usize] - positions[o as usize]);
                let cot = a.dot(&b) / a.cross(&b).norm().max(1e-300);
                *weights.entry((i.min(j), i.max(j))).or_default() += cot / 2.0;
            }
        }
        let mut nbrs: Vec<Vec<(u32, f64)>> = vec![Vec::new(); m];
        for (&(i, j), &w) in &weights {
            let w = w.max(TUTTE_MIN_WEIGHT);
            nbrs[i as usize].push((j, w));
            nbrs[j as usize].push((i, w));
        }
        // The outer loop on a circle of the loop's length.
        let mut fixed: Vec<Option<Vec2>> = vec![None; m];
        let total = length(&loops[outer]).max(1e-300);
        let radius = total / std::f64::consts::TAU;
        let l = &loops[outer];
        let mut along = 0.0;
        for i in 0..l.len() {
            let a = along / total * std::f64::consts::TAU;
            fixed[l[i] as usize] = Some(Vec2::new(radius * a.cos(), radius * a.sin()));
            along += (self.positions_mm[l[i] as usize] - self.positions_mm[l[(i + 1) % l.len()] as usize]).norm();
        }
        // (D - W) x = 0 on the free vertices: Jacobi-preconditioned CG, u and v.
        let diag: Vec<f64> = nbrs.iter().map(|ns| ns.iter().map(|n| n.1).sum()).collect();
        let mut chart = vec![Vec2::zeros(); m];
        for axis in 0..2 {
            let known = |i: usize| fixed[i].map(|p| p[axis]);
            // b = W_fixed x_fixed; A = D - W_free.
            let b: Vec<f64> = (0..m)
                .map(|i| {
                    if known(i).is_some() {
                        return 0.0;
                    }
                    nbrs[i].iter().filter_map(|&(j, w)| known(j as usize).map(|x| w * x)).sum()
                })
                .collect();
            let apply = |x: &[f64], out: &mut [f64]| {
                for i in 0..m {
                    out[i] = if known(i).is_some() {
                        0.0
                    } else {
                        diag[i] * x[i]
                            - nbrs[i]
                                .iter()
                                .filter(|(j, _)| known(*j as usize).is_none())
                                .map(|&(j, w)| w * x[j as usize])
                                .sum::<f64>()
                    };
                }
            };
            let pre = |i: usize| if known(i).is_some() || diag[i] <= 0.0 { 0.0 } else { 1.0 / diag[i] };
            let b2: f64 = b.iter().map(|v| v * v).sum::<f64>().max(1e-300);
            let mut x = vec![0.0; m];
            solve_pcg(&mut x, b, apply, pre, |i| known(i).is_none(), |rr, _| rr <= 1e-26 * b2, 20 * m.max(50));
            for i in 0..m {
                chart[i][axis] = known(i).unwrap_or(x[i]);
            }
        }
        Some(Filled { positions, triangles, chart })
    }

    /// Scales the chart to the true area, orients it counter-clockwise and turns
    /// it so that the 3D up direction (+y) runs along +v, centred on the box's
    /// lower-left corner at the origin.
    pub fn normalise_chart(&mut self) {
        if self.area_chart_mm2() <= 0.0 {
            return;
        }
        // Mirror if most triangles run clockwise.
        let negative = (0..self.triangles.len()).filter(|&t| self.triangle_area_chart(t) < 0.0).count();
        if negative * 2 > self.triangles.len() {
            for c in &mut self.chart_mm {
                c.x = -c.x;
            }
        }
        let s = (self.area_3d_mm2() / self.area_chart_mm2()).sqrt();
        for c in &mut self.chart_mm {
            *c *= s;
        }
        // Direction of increasing height in the chart, area-weighted.
        let mut up = Vec2::zeros();
        for t in &self.triangles {
            let [c0, c1, c2] = tri(&self.chart_mm, t);
            let [p0, p1, p2] = tri(&self.positions_mm, t);
            let (e1, e2) = (c1 - c0, c2 - c0);
            let det = cross2(e1, e2);
            let (h1, h2) = (p1.y - p0.y, p2.y - p0.y);
            // Gradient of height over the chart triangle.
            let g = Vec2::new(h1 * e2.y - h2 * e1.y, h2 * e1.x - h1 * e2.x) / det;
            up += g * det.abs();
        }
        if up.norm() > 1e-12 {
            let angle = std::f64::consts::FRAC_PI_2 - up.y.atan2(up.x);
            let rot = nalgebra::Rotation2::new(angle);
            for c in &mut self.chart_mm {
                *c = rot * *c;
            }
        }
        let mut mn = self.chart_mm[0];
        for c in &self.chart_mm {
            mn = mn.inf(c);
        }
        for c in &mut self.chart_mm {
            *c -= mn;
        }
    }

    /// For a mesh made by [`Mesh::from_grid`] with `nu x nv` quads: the chart
    /// u = arc length along each row from the middle column, v = arc length
    /// up the middle column. Lengths across the rows are exact (lanes keep
    /// their true spacing over a ridge); the area stretch is what the rows'
    /// and columns' departure from a net of equal squares leaves.
    // Running sums over neighbouring grid vertices read best with indices.
    #[allow(clippy::needless_range_loop)]
    pub fn set_grid_arc_length_chart(&mut self, nu: usize, nv: usize) {
        let id = |i: usize, j: usize| j * (nu + 1) + i;
        let mid = nu / 2;
        let mut v_of_row = vec![0.0; nv + 1];
        for j in 1..=nv {
            v_of_row[j] = v_of_row[j - 1] + (self.positions_mm[id(mid, j)] - self.positions_mm[id(mid, j - 1)]).norm();
        }
        for j in 0..=nv {
            let mut u = vec![0.0; nu + 1];
            for i in mid + 1..=nu {
                u[i] = u[i - 1] + (self.positions_mm[id(i, j)] - self.positions_mm[id(i - 1, j)]).norm();
            }
            for i in (0..mid).rev() {
                u[i] = u[i + 1] - (self.positions_mm[id(i + 1, j)] - self.positions_mm[id(i, j)]).norm();
            }
            for i in 0..=nu {
                self.chart_mm[id(i, j)] = Vec2::new(u[i], v_of_row[j]);
            }
        }
        let mut mn = self.chart_mm[0];
        for c in &self.chart_mm {
            mn = mn.inf(c);
        }
        for c in &mut self.chart_mm {
            *c -= mn;
        }
    }

    /// Builds a mesh from a grid of `nu x nv` quads over the unit square,
    /// mapped to 3D by `surface(s, t)`, s and t in [0, 1]; the chart starts
    /// as (s, t) and should be replaced (LSCM or an exact one).
    pub fn from_grid(nu: usize, nv: usize, surface: impl Fn(f64, f64) -> Vec3) -> Mesh {
        let mut positions_mm = Vec::with_capacity((nu + 1) * (nv + 1));
        let mut chart_mm = Vec::with_capacity((nu + 1) * (nv + 1));
        for j in 0..=nv {
            for i in 0..=nu {
                let (s, t) = (i as f64 / nu as f64, j as f64 / nv as f64);
                positions_mm.push(surface(s, t));
                chart_mm.push(Vec2::new(s, t));
            }
        }
        let id = |i: usize, j: usize| (j * (nu + 1) + i) as u32;
        let mut triangles = Vec::with_capacity(2 * nu * nv);
        for j in 0..nv {
            for i in 0..nu {
                // Alternate the diagonal so the mesh has no preferred direction.
                if (i + j) % 2 == 0 {
                    triangles.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
                    triangles.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
                } else {
                    triangles.push([id(i, j), id(i + 1, j), id(i, j + 1)]);
                    triangles.push([id(i + 1, j), id(i + 1, j + 1), id(i, j + 1)]);
                }
            }
        }
        Mesh { positions_mm, chart_mm, triangles }
    }
}

/// A mesh with its holes filled by fans (each fan's centre appended after the
/// mesh's vertices) and a chart of all its vertices.
struct Filled {
    positions: Vec<Vec3>,
    triangles: Vec<[u32; 3]>,
    chart: Vec<Vec2>,
}

/// Most rounds of the local-global iteration after a Tutte chart.
const LOCAL_GLOBAL_ROUNDS: usize = 100;

/// Triangles times rounds the local-global iteration is given: every round
/// up to 3 000 triangles, 3 rounds at 100 000, 2 from 150 000.
const LOCAL_GLOBAL_WORK: usize = 300_000;

/// A round lowering the energy by less than this share of it ends the
/// local-global iteration.
const LOCAL_GLOBAL_SETTLED: f64 = 1e-5;

/// A step of the local-global iteration goes at most this share of the way
/// to where the first triangle would lose all its chart area.
const FLIP_MARGIN: f64 = 0.8;

/// Twice the signed chart area of triangle `t` (positive: counter-clockwise).
fn twice_signed_area(chart: &[Vec2], t: &[u32; 3]) -> f64 {
    let [a, b, c] = tri(chart, t);
    cross2(b - a, c - a)
}

/// The smallest positive α at which the signed area c + β α + γ α² of a
/// triangle reaches zero (c > 0), or infinity.
fn first_zero(c: f64, beta: f64, gamma: f64) -> f64 {
    let mut best = f64::INFINITY;
    if gamma.abs() < 1e-300 {
        if beta < 0.0 {
            best = -c / beta;
        }
        return best;
    }
    let disc = beta * beta - 4.0 * gamma * c;
    if disc < 0.0 {
        return best;
    }
    // Roots by the stable form (no cancellation).
    let q = -0.5 * (beta + beta.signum() * disc.sqrt());
    for root in [q / gamma, if q != 0.0 { c / q } else { f64::INFINITY }] {
        if root > 0.0 {
            best = best.min(root);
        }
    }
    best
}

/// How far (0 to 1) a chart may move toward `target` with every triangle's
/// signed area still positive: `FLIP_MARGIN` of the way to the first
/// triangle's zero, or the whole way when none reaches it. The signed area
/// along the way is a quadratic in the step, so its first zero is exact.
fn flip_free_step(triangles: &[[u32; 3]], chart: &[Vec2], target: &[Vec2]) -> f64 {
    let mut step: f64 = 1.0;
    for t in triangles {
        let [a, b, c] = tri(chart, t);
        let [ta, tb, tc] = tri(target, t);
        let (e1, e2) = (b - a, c - a);
        let (d1, d2) = ((tb - ta) - e1, (tc - ta) - e2);
        let zero = first_zero(cross2(e1, e2), cross2(e1, d2) + cross2(d1, e2), cross2(d1, d2));
        step = step.min(FLIP_MARGIN * zero);
    }
    step
}

/// Lowers the distortion of a fold-free chart (every triangle counter-
/// clockwise, or every one clockwise) of `positions` by the local-global
/// iteration of the as-rigid-as-possible energy (Liu, Zhang, Xu, Gotsman
/// and Gortler 2008): E = sum over triangles of area * |J - R|^2, J the
/// chart's Jacobian on the triangle's own isometric frame and R the
/// rotation nearest it. Each round fits R per triangle (local), solves for
/// the chart that best follows them (global: one sparse symmetric system per
/// axis, the cotangent Laplacian, by conjugate gradients from the current
/// chart), and moves toward it only as far as keeps every triangle's signed
/// area positive, at most `FLIP_MARGIN` of the way to the first zero
/// (Smith and Schaefer 2015's injectivity-preserving line search, as SLIM
/// uses). A step of a convex energy toward its minimum lowers it, so the
/// energy never rises and no triangle ever flips. The boundary is free.
/// Returns the energy before and after, per unit area.
fn local_global(positions: &[Vec3], triangles: &[[u32; 3]], chart: &mut [Vec2], rounds: usize) -> (f64, f64) {
    let m = chart.len();
    let signed = twice_signed_area;
    // Counter-clockwise, as the triangles' own frames are.
    if triangles.iter().map(|t| signed(chart, t)).sum::<f64>() < 0.0 {
        for c in chart.iter_mut() {
            c.x = -c.x;
        }
    }
    if triangles.iter().any(|t| signed(chart, t) <= 0.0) {
        return (f64::NAN, f64::NAN); // not fold-free: nothing to keep
    }
    // Per triangle: its area and the gradients of its three hat functions in
    // its own isometric frame (zero for a triangle with no area).
    let frames: Vec<(f64, [Vec2; 3])> = triangles
        .iter()
        .map(|t| {
            let [p0, p1, p2] = tri(positions, t);
            let (e1, e2) = (p1 - p0, p2 - p0);
            let l1 = e1.norm();
            let n = e1.cross(&e2).norm();
            if l1 <= 0.0 || n <= 1e-12 * l1 * l1 {
                return (0.0, [Vec2::zeros(); 3]);
            }
            let x = [Vec2::zeros(), Vec2::new(l1, 0.0), Vec2::new(e2.dot(&e1) / l1, n / l1)];
            let two_a = n;
            let perp = |v: Vec2| Vec2::new(-v.y, v.x) / two_a;
            (two_a / 2.0, [perp(x[2] - x[1]), perp(x[0] - x[2]), perp(x[1] - x[0])])
        })
        .collect();
    let total: f64 = frames.iter().map(|f| f.0).sum::<f64>().max(1e-300);
    let jacobian = |c: &[Vec2], k: usize| -> nalgebra::Matrix2<f64> {
        let t = &triangles[k];
        let g = &frames[k].1;
        let mut j = nalgebra::Matrix2::zeros();
        for i in 0..3 {
            let u = c[t[i] as usize];
            j += u * g[i].transpose();
        }
        j
    };
    let nearest_rotation = |j: &nalgebra::Matrix2<f64>| -> nalgebra::Matrix2<f64> {
        let a = (j[(1, 0)] - j[(0, 1)]).atan2(j[(0, 0)] + j[(1, 1)]);
        let (s, c) = a.sin_cos();
        nalgebra::Matrix2::new(c, -s, s, c)
    };
    // Local: the rotations nearest the chart's Jacobians, and the energy
    // against them.
    let fit = |c: &[Vec2], rot: &mut [nalgebra::Matrix2<f64>]| -> f64 {
        let mut e = 0.0;
        for (k, r) in rot.iter_mut().enumerate() {
            let j = jacobian(c, k);
            *r = nearest_rotation(&j);
            e += frames[k].0 * (j - *r).norm_squared();
        }
        e / total
    };
    // The system's diagonal: sum over a vertex's triangles of area |g|^2.
    let mut diag = vec![0.0; m];
    for (t, (a, g)) in triangles.iter().zip(&frames) {
        for i in 0..3 {
            diag[t[i] as usize] += a * g[i].norm_squared();
        }
    }
    // A x: per triangle the gradient of x, spread back to its corners.
    let apply = |x: &[f64], out: &mut [f64]| {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (t, (a, g)) in triangles.iter().zip(&frames) {
            let grad = g[0] * x[t[0] as usize] + g[1] * x[t[1] as usize] + g[2] * x[t[2] as usize];
            for i in 0..3 {
                out[t[i] as usize] += a * g[i].dot(&grad);
            }
        }
    };
    // One vertex pinned: the energy does not see where the chart lies.
    let pinned = (0..m).find(|&i| diag[i] > 0.0).unwrap_or(0);
    let free = |i: usize| i != pinned && diag[i] > 0.0;
    let pre = |i: usize| if free(i) { 1.0 / diag[i] } else { 0.0 };
    let mut rot = vec![nalgebra::Matrix2::zeros(); triangles.len()];
    let first = fit(chart, &mut rot);
    let mut e = first;
    let mut ax = vec![0.0; m];
    for _ in 0..rounds {
        // Global: the chart that best follows the rotations, per axis.
        let mut target = chart.to_vec();
        for axis in 0..2 {
            let mut b = vec![0.0; m];
            for (k, (t, (a, g))) in triangles.iter().zip(&frames).enumerate() {
                let row = Vec2::new(rot[k][(axis, 0)], rot[k][(axis, 1)]);
                for i in 0..3 {
                    b[t[i] as usize] += a * g[i].dot(&row);
                }
            }
            let mut x: Vec<f64> = chart.iter().map(|c| c[axis]).collect();
            apply(&x, &mut ax);
            let r: Vec<f64> = (0..m).map(|i| if free(i) { b[i] - ax[i] } else { 0.0 }).collect();
            let b2: f64 = b.iter().map(|v| v * v).sum::<f64>().max(1e-300);
            solve_pcg(&mut x, r, apply, pre, free, |rr, _| rr <= 1e-20 * b2, 200);
            for i in 0..m {
                target[i][axis] = x[i];
            }
        }
        let step = flip_free_step(triangles, chart, &target);
        for (c, t) in chart.iter_mut().zip(&target) {
            *c += (t - *c) * step;
        }
        let next = fit(chart, &mut rot);
        let settled = e - next < LOCAL_GLOBAL_SETTLED * e;
        e = next;
        if settled || step <= 0.0 {
            break;
        }
    }
    (first, e)
}

/// A zone's surface: its mesh, the index that maps chart points to it, and
/// how much the chart distorts it.
#[derive(Clone, Debug, PartialEq)]
pub struct Surface {
    /// The zone's mesh (3D positions and chart).
    pub mesh: Mesh,
    /// Grid over the chart that finds the triangle under a chart point.
    pub index: ChartIndex,
    /// How much the chart stretches the true surface.
    pub distortion: Distortion,
    /// The most chart mm one true mm of skin spans ([`Mesh::chart_per_true_max`]),
    /// computed once: the overlap count's search reach.
    pub chart_per_true_max: f64,
    /// How the chart was made: `uv`, `lscm`, `arc-length grid`, `cylinder`.
    pub chart_method: String,
    /// Notes about how the chart was made (e.g. UVs that fold, replaced by LSCM), shown to the user.
    pub warnings: Vec<String>,
}

impl Surface {
    /// Builds the chart index and measures the distortion of `mesh`.
    pub fn new(mesh: Mesh, chart_method: String, warnings: Vec<String>) -> Surface {
        let index = ChartIndex::new(&mesh);
        let distortion = mesh.distortion();
        let chart_per_true_max = mesh.chart_per_true_max();
        Surface { mesh, index, distortion, chart_per_true_max, chart_method, warnings }
    }

    /// The 3D point under a chart point of the zone.
    pub fn to_3d(&self, p: Vec2) -> Option<Vec3> {
        self.index.to_3d(&self.mesh, p)
    }

    /// True length on the skin of one chart millimetre along the unit
    /// direction `d` at chart point `p`: |J d|, with J the affine map of the
    /// triangle under p from the chart to 3D. `None` off the chart or on a
    /// degenerate chart triangle.
    pub fn stretch_along(&self, p: Vec2, d: Vec2) -> Option<f64> {
        self.jacobian_at(p).map(|j| j(d).norm())
    }

    /// True distance on the skin between the lines through `p` along the
    /// unit direction `d` one chart millimetre apart: the true area of a unit
    /// chart square over the true length of its side along d (|J d x J n| /
    /// |J d|, n normal to d: with shear this is less than |J n|).
    pub fn spacing_across(&self, p: Vec2, d: Vec2) -> Option<f64> {
        let j = self.jacobian_at(p)?;
        let (jd, jn) = (j(d), j(Vec2::new(-d.y, d.x)));
        let along = jd.norm();
        (along > 0.0).then(|| jd.cross(&jn).norm() / along)
    }

    /// The chart-to-3D map of the triangle under `p`, as a function of a
    /// chart vector.
    fn jacobian_at(&self, p: Vec2) -> Option<impl Fn(Vec2) -> Vec3> {
        let (t, _) = self.index.locate(&self.mesh, p)?;
        let tr = &self.mesh.triangles[t];
        let [a, b, c] = tri(&self.mesh.positions_mm, tr);
        let [ua, ub, uc] = tri(&self.mesh.chart_mm, tr);
        let (e1, e2) = (ub - ua, uc - ua);
        let det = e1.x * e2.y - e1.y * e2.x;
        if det.abs() < 1e-18 {
            return None;
        }
        let (f1, f2) = (b - a, c - a);
        // d in the triangle's chart edge basis, then the same mix of 3D edges.
        Some(move |d: Vec2| f1 * ((d.x * e2.y - d.y * e2.x) / det) + f2 * ((e1.x * d.y - e1.y * d.x) / det))
    }
}

/// A uniform grid over the chart listing the triangles overlapping each bin:
/// finds the triangle under a chart point in O(1) on average.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartIndex {
    origin_mm: Vec2,
    bin_mm: f64,
    bins_u: usize,
    bins_v: usize,
    start: Vec<u32>,
    items: Vec<u32>,
}

impl ChartIndex {
    /// Bins the triangles of `mesh` by their chart bounding boxes (about two triangles per bin).
    pub fn new(mesh: &Mesh) -> ChartIndex {
        let (mut mn, mut mx) = (mesh.chart_mm[0], mesh.chart_mm[0]);
        for c in &mesh.chart_mm {
            mn = mn.inf(c);
            mx = mx.sup(c);
        }
        let area = mesh.area_chart_mm2().max(1e-9);
        // About two triangles per bin.
        let bin_mm = (2.0 * area / mesh.triangles.len() as f64).sqrt().max(1e-6);
        let bins_u = (((mx.x - mn.x) / bin_mm) as usize + 1).min(4096);
        let bins_v = (((mx.y - mn.y) / bin_mm) as usize + 1).min(4096);
        let bin_mm = ((mx.x - mn.x) / bins_u as f64).max((mx.y - mn.y) / bins_v as f64).max(1e-6) * 1.000001;
        let bin_of = |c: Vec2| {
            let q = (c - mn) / bin_mm;
            ((q.x.max(0.0) as usize).min(bins_u - 1), (q.y.max(0.0) as usize).min(bins_v - 1))
        };
        let ranges: Vec<((usize, usize), (usize, usize))> = mesh
            .triangles
            .iter()
            .map(|t| {
                let [a, b, c] = tri(&mesh.chart_mm, t);
                (bin_of(a.inf(b).inf(c)), bin_of(a.sup(b).sup(c)))
            })
            .collect();
        let mut start = vec![0u32; bins_u * bins_v + 1];
        for ((u0, v0), (u1, v1)) in &ranges {
            for v in *v0..=*v1 {
                for u in *u0..=*u1 {
                    start[v * bins_u + u + 1] += 1;
                }
            }
        }
        for i in 0..bins_u * bins_v {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; start[bins_u * bins_v] as usize];
        for (t, ((u0, v0), (u1, v1))) in ranges.iter().enumerate() {
            for v in *v0..=*v1 {
                for u in *u0..=*u1 {
                    let b = v * bins_u + u;
                    items[fill[b] as usize] = t as u32;
                    fill[b] += 1;
                }
            }
        }
        ChartIndex { origin_mm: mn, bin_mm, bins_u, bins_v, start, items }
    }

    /// The triangle under chart point `p` and its barycentric weights.
    pub fn locate(&self, mesh: &Mesh, p: Vec2) -> Option<(usize, [f64; 3])> {
        let q = (p - self.origin_mm) / self.bin_mm;
        if q.x < 0.0 || q.y < 0.0 || q.x >= self.bins_u as f64 || q.y >= self.bins_v as f64 {
            return None;
        }
        let b = q.y as usize * self.bins_u + q.x as usize;
        let mut best: Option<(usize, [f64; 3], f64)> = None;
        for &t in &self.items[self.start[b] as usize..self.start[b + 1] as usize] {
            let [a, bb, c] = tri(&mesh.chart_mm, &mesh.triangles[t as usize]);
            let det = cross2(bb - a, c - a);
            let w1 = cross2(p - a, c - a) / det;
            let w2 = cross2(bb - a, p - a) / det;
            let w = [1.0 - w1 - w2, w1, w2];
            let worst = w.iter().copied().fold(f64::INFINITY, f64::min);
            if worst >= -1e-9 {
                return Some((t as usize, w));
            }
            // Keep the nearest miss: a point on a shared edge may round outside both.
            if best.as_ref().is_none_or(|b| worst > b.2) {
                best = Some((t as usize, w, worst));
            }
        }
        best.filter(|b| b.2 > -1e-6).map(|(t, w, _)| (t, w))
    }

    /// The 3D point under chart point `p`.
    pub fn to_3d(&self, mesh: &Mesh, p: Vec2) -> Option<Vec3> {
        self.locate(mesh, p).map(|(t, w)| {
            let [a, b, c] = tri(&mesh.positions_mm, &mesh.triangles[t]);
            a * w[0] + b * w[1] + c * w[2]
        })
    }
}

/// Area of the part of a chart triangle inside an axis-aligned box (Sutherland-Hodgman).
fn clipped_area(tri_mm: [Vec2; 3], lo: Vec2, hi: Vec2) -> f64 {
    let mut poly: Vec<Vec2> = tri_mm.to_vec();
    for (axis, bound, keep_below) in [(0, lo.x, false), (0, hi.x, true), (1, lo.y, false), (1, hi.y, true)] {
        if poly.is_empty() {
            return 0.0;
        }
        let inside = |p: &Vec2| if keep_below { p[axis] <= bound } else { p[axis] >= bound };
        let mut out = Vec::with_capacity(poly.len() + 2);
        for i in 0..poly.len() {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            let (ia, ib) = (inside(&a), inside(&b));
            if ia {
                out.push(a);
            }
            if ia != ib {
                let f = (bound - a[axis]) / (b[axis] - a[axis]);
                out.push(a + (b - a) * f);
            }
        }
        poly = out;
    }
    let n = poly.len();
    (0..n).map(|i| cross2(poly[i], poly[(i + 1) % n])).sum::<f64>().abs() / 2.0
}

/// Per analysis cell of `layout`: (chart area, true 3D area) of the mesh inside it, mm2.
pub fn cell_areas(mesh: &Mesh, layout: &Layout) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0); layout.cells()];
    let o = layout.origin_mm;
    for t in 0..mesh.triangles.len() {
        let [a, b, c] = tri(&mesh.chart_mm, &mesh.triangles[t]);
        let ratio = mesh.triangle_area_3d(t) / mesh.triangle_area_chart(t).abs();
        let (mn, mx) = (a.inf(b).inf(c), a.sup(b).sup(c));
        let cu0 = (((mn.x - o.x) / layout.cell_mm).floor().max(0.0) as usize).min(layout.cells_u - 1);
        let cu1 = (((mx.x - o.x) / layout.cell_mm).floor().max(0.0) as usize).min(layout.cells_u - 1);
        let cv0 = (((mn.y - o.y) / layout.cell_mm).floor().max(0.0) as usize).min(layout.cells_v - 1);
        let cv1 = (((mx.y - o.y) / layout.cell_mm).floor().max(0.0) as usize).min(layout.cells_v - 1);
        for cv in cv0..=cv1 {
            for cu in cu0..=cu1 {
                let lo = o + Vec2::new(cu as f64, cv as f64) * layout.cell_mm;
                let area = clipped_area([*a, *b, *c], lo, lo + Vec2::new(layout.cell_mm, layout.cell_mm));
                let cell = &mut out[cv * layout.cells_u + cu];
                cell.0 += area;
                cell.1 += area * ratio;
            }
        }
    }
    out
}

/// Triangles joined into connected pieces (union-find with path halving).
struct Pieces {
    parent: Vec<u32>,
}

impl Pieces {
    fn new(n: usize) -> Pieces {
        Pieces { parent: (0..n as u32).collect() }
    }
    fn root(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let up = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = up;
            x = up;
        }
        x
    }
    fn join(&mut self, a: u32, b: u32) {
        self.join_new(a, b);
    }
    /// Joins the pieces of a and b; whether they were two.
    fn join_new(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            self.parent[ra.max(rb) as usize] = ra.min(rb);
        }
        ra != rb
    }
    /// The size of each piece, largest first.
    fn sizes(&mut self) -> Vec<usize> {
        let mut count: HashMap<u32, usize> = HashMap::new();
        for x in 0..self.parent.len() as u32 {
            *count.entry(self.root(x)).or_default() += 1;
        }
        let mut sizes: Vec<usize> = count.into_values().collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes
    }
}

/// The coarse level of the conformal solve (see `Mesh::coarse_conformal`).
struct CoarseConformal {
    /// Each vertex's patch.
    patch: Vec<u32>,
    /// Each vertex in its patch's tangent frame, mm.
    local: Vec<Vec2>,
    /// The coarse operator's diagonal 4 x 4 blocks (row-major), per patch.
    diag: Vec<[f64; 16]>,
    /// Its other blocks, by (row patch, column patch), sorted.
    off: Vec<((u32, u32), [f64; 16])>,
}

impl CoarseConformal {
    /// Solves A_c x = rhs for the patches' similarities, the patches in
    /// `held` kept at `x` as given, until the residual's square is
    /// `tolerance` of its start's.
    fn solve(&self, x: &mut [f64], rhs: &[f64], held: &[usize], tolerance: f64) {
        let np = self.diag.len();
        let apply = |x: &[f64], out: &mut [f64]| {
            for (k, blk) in self.diag.iter().enumerate() {
                for i in 0..4 {
                    out[4 * k + i] = (0..4).map(|j| blk[4 * i + j] * x[4 * k + j]).sum();
                }
            }
            for ((a, b), blk) in &self.off {
                let (a, b) = (*a as usize, *b as usize);
                for i in 0..4 {
                    out[4 * a + i] += (0..4).map(|j| blk[4 * i + j] * x[4 * b + j]).sum::<f64>();
                }
            }
        };
        let free = |i: usize| !held.contains(&(i / 4));
        let pre = |i: usize| {
            let d = self.diag[i / 4][5 * (i % 4)];
            if free(i) && d > 0.0 { 1.0 / d } else { 0.0 }
        };
        let mut ax = vec![0.0; 4 * np];
        apply(x, &mut ax);
        let r: Vec<f64> = (0..4 * np).map(|i| if free(i) { rhs[i] - ax[i] } else { 0.0 }).collect();
        let r0: f64 = r.iter().map(|v| v * v).sum();
        solve_pcg(x, r, apply, pre, free, |rr, _| rr <= tolerance * r0, 20 * 4 * np.max(50));
    }

    /// The fine chart (u, v per vertex) of the patches' similarities `x`.
    fn prolong(&self, x: &[f64]) -> Vec<Vec2> {
        self.patch
            .iter()
            .zip(&self.local)
            .map(|(&k, q)| {
                let k = k as usize;
                let (tx, ty, sr, si) = (x[4 * k], x[4 * k + 1], x[4 * k + 2], x[4 * k + 3]);
                Vec2::new(tx + sr * q.x - si * q.y, ty + sr * q.y + si * q.x)
            })
            .collect()
    }

    /// The fine residual `r` ([u..., v...]) as forces on the patches'
    /// similarities (the prolongation's transpose).
    fn restrict(&self, r: &[f64]) -> Vec<f64> {
        let n = self.patch.len();
        let mut out = vec![0.0; 4 * self.diag.len()];
        for (i, (&k, q)) in self.patch.iter().zip(&self.local).enumerate() {
            let (ru, rv, k) = (r[i], r[n + i], 4 * k as usize);
            out[k] += ru;
            out[k + 1] += rv;
            out[k + 2] += ru * q.x + rv * q.y;
            out[k + 3] += -ru * q.y + rv * q.x;
        }
        out
    }
}

/// The chart values `start` moved by the similarity that puts the two pins
/// where they are pinned, as the solve's unknowns [u..., v...].
fn aligned_to_pins(start: &[Vec2], pins: &[(usize, Vec2); 2]) -> Vec<f64> {
    let n = start.len();
    let (p0, p1) = (start[pins[0].0], start[pins[1].0]);
    let (q0, q1) = (pins[0].1, pins[1].1);
    let (d, e) = (p1 - p0, q1 - q0);
    let dd = d.norm_squared().max(1e-300);
    // As complex numbers: z -> a (z - p0) + q0.
    let a = Vec2::new((e.x * d.x + e.y * d.y) / dd, (e.y * d.x - e.x * d.y) / dd);
    let mut x = vec![0.0; 2 * n];
    for (i, f) in start.iter().enumerate() {
        let z = f - p0;
        x[i] = q0.x + a.x * z.x - a.y * z.y;
        x[n + i] = q0.y + a.x * z.y + a.y * z.x;
    }
    for &(i, p) in pins {
        x[i] = p.x;
        x[n + i] = p.y;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(nu: usize, nv: usize) -> Mesh {
        let mut m = Mesh::from_grid(nu, nv, |s, t| Vec3::new(40.0 * s, 20.0 * t, 0.0));
        m.chart_mm = m.positions_mm.iter().map(|p| Vec2::new(p.x, p.y)).collect();
        m
    }

    #[test]
    fn a_flat_grid_has_its_area_and_one_boundary_loop() {
        let m = plane(8, 4);
        assert!((m.area_3d_mm2() - 800.0).abs() < 1e-9);
        assert_eq!(m.validate_3d(), Ok(()));
        let loops = m.boundary_loops();
        assert_eq!(loops.len(), 1);
        assert_eq!(loops[0].len(), 2 * (8 + 4));
        let Shape::Polygon { vertices_mm } = m.chart_outline().unwrap() else { panic!() };
        assert!((Shape::Polygon { vertices_mm }.area_mm2() - 800.0).abs() < 1e-9);
    }

    #[test]
    fn lscm_flattens_a_plane_isometrically_with_up_along_v() {
        let mut m = plane(10, 5);
        m.compute_lscm_chart();
        let d = m.distortion();
        assert!(d.area_stretch_max < 1.0 + 1e-6 && d.area_stretch_min > 1.0 - 1e-6, "{d:?}");
        assert!(d.shape_stretch_max < 1.0 + 1e-6, "{d:?}");
        // Vertex (0, 20) sits straight above vertex (0, 0) in the chart.
        let top = m.positions_mm.iter().position(|p| p.x == 0.0 && p.y == 20.0).unwrap();
        let dv = m.chart_mm[top] - m.chart_mm[0];
        assert!((dv.x).abs() < 1e-6 && (dv.y - 20.0).abs() < 1e-6, "{dv:?}");
    }

    /// The coarse level (a similarity per patch) changes how the conformal
    /// solve gets there, not where it ends: on a saddle of 3 721 vertices,
    /// solved far past the shipped tolerance, both ways give one chart to a
    /// micrometre; at the shipped tolerance the coarse way (the one large
    /// meshes take) ends within 0.01 mm of it (it ended 0.2 mm off with the
    /// coarse start and no corrections), its distortion figures to 0.001.
    #[test]
    fn lscm_from_the_coarse_start_is_the_same_chart() {
        let saddle = Mesh::from_grid(60, 60, |s, t| {
            let (x, y) = (100.0 * s, 100.0 * t);
            Vec3::new(x, y, 0.004 * (x - 50.0).powi(2) - 0.003 * (y - 50.0).powi(2))
        });
        assert!(saddle.positions_mm.len() >= COARSE_START_VERTICES);
        let chart = |coarse_start: bool, tolerance: f64| {
            let mut m = saddle.clone();
            m.lscm_chart(coarse_start, tolerance);
            m
        };
        let apart =
            |a: &Mesh, b: &Mesh| a.chart_mm.iter().zip(&b.chart_mm).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
        // Solved far past the shipped tolerance, both starts meet.
        let (plain, coarse) = (chart(false, 1e-28), chart(true, 1e-28));
        assert!(apart(&plain, &coarse) < 1e-3, "the two starts end {} mm apart", apart(&plain, &coarse));
        // At the shipped one.
        let (plain_fast, coarse_fast) = (chart(false, LSCM_TOLERANCE), chart(true, LSCM_TOLERANCE));
        assert!(apart(&plain_fast, &plain) < 1e-3, "plain start {} mm off", apart(&plain_fast, &plain));
        assert!(apart(&coarse_fast, &plain) < 0.01, "coarse start {} mm off", apart(&coarse_fast, &plain));
        let (a, b) = (plain.distortion(), coarse_fast.distortion());
        for (x, y) in [
            (a.area_stretch_min, b.area_stretch_min),
            (a.area_stretch_max, b.area_stretch_max),
            (a.area_stretch_mean_deviation, b.area_stretch_mean_deviation),
            (a.shape_stretch_max, b.shape_stretch_max),
        ] {
            assert!((x - y).abs() < 1e-3, "distortion {a:?} against {b:?}");
        }
        let d = coarse_fast.distortion();
        assert!(d.area_stretch_mean_deviation > 0.001, "test set-up: a saddle stretches some ({d:?})");
        let mut default = saddle.clone();
        default.compute_lscm_chart();
        assert_eq!(default.chart_mm, coarse_fast.chart_mm, "large meshes get the coarse start");
    }

    #[test]
    fn the_index_finds_the_triangle_under_a_point_and_maps_it_to_3d() {
        let mut m = Mesh::from_grid(12, 6, |s, t| {
            let a = s * 1.5;
            Vec3::new(30.0 * a.sin(), 20.0 * t, 30.0 * a.cos())
        });
        m.chart_mm = m
            .positions_mm
            .iter()
            .zip(0..)
            .map(|(_, i)| Vec2::new((i % 13) as f64 / 12.0 * 45.0, (i / 13) as f64 / 6.0 * 20.0))
            .collect();
        let idx = ChartIndex::new(&m);
        let p3 = idx.to_3d(&m, Vec2::new(22.5, 10.0)).unwrap();
        assert!((p3.x.powi(2) + p3.z.powi(2)).sqrt() <= 30.0 + 1e-9);
        assert!((p3.y - 10.0).abs() < 1e-9);
        assert!(idx.to_3d(&m, Vec2::new(-1.0, 10.0)).is_none());
    }

    #[test]
    fn broken_meshes_are_named() {
        let mut m = plane(2, 2);
        m.positions_mm[3].x = f64::NAN;
        assert_eq!(m.validate_3d(), Err(MeshProblem::NotFinite { vertex: 3 }));
        let mut m = plane(2, 2);
        m.triangles.push([0, 1, 2]);
        m.triangles.push([0, 1, 5]);
        assert!(matches!(m.validate_3d(), Err(MeshProblem::NonManifoldEdge { .. } | MeshProblem::Degenerate { .. })));
        let mut m = plane(2, 2);
        m.triangles[0] = [0, 0, 1];
        assert_eq!(m.validate_3d(), Err(MeshProblem::Degenerate { triangle: 0 }));
    }

    #[test]
    fn clipping_splits_a_triangle_area_between_cells() {
        let t = [Vec2::new(0.0, 0.0), Vec2::new(4.0, 0.0), Vec2::new(0.0, 4.0)];
        let whole = clipped_area(t, Vec2::new(-1.0, -1.0), Vec2::new(10.0, 10.0));
        let left = clipped_area(t, Vec2::new(-1.0, -1.0), Vec2::new(2.0, 10.0));
        let right = clipped_area(t, Vec2::new(2.0, -1.0), Vec2::new(10.0, 10.0));
        assert!((whole - 8.0).abs() < 1e-12 && (left + right - 8.0).abs() < 1e-12 && (right - 2.0).abs() < 1e-12);
    }
}

#[cfg(test)]
mod local_global_tests {
    use super::*;

    /// A sphere of radius 30 mm from 10° to 170° of polar angle, cut open
    /// along a meridian (0° to 340° of longitude): a disk no chart flattens
    /// without much stretch.
    fn cut_sphere() -> Mesh {
        let (t0, t1, p1) = (10f64.to_radians(), 170f64.to_radians(), 340f64.to_radians());
        Mesh::from_grid(34, 16, |s, t| {
            let (th, ph) = (t0 + (t1 - t0) * t, p1 * s);
            Vec3::new(30.0 * th.sin() * ph.cos(), 30.0 * th.sin() * ph.sin(), 30.0 * th.cos())
        })
    }

    #[test]
    fn the_first_zero_of_a_quadratic_area_is_its_smallest_positive_root() {
        // (1 - a)(1 - 2a) = 1 - 3a + 2a²: zeros at 1/2 and 1.
        assert!((first_zero(1.0, -3.0, 2.0) - 0.5).abs() < 1e-15);
        // 1 + a²: never zero; 1 + a: only at -1.
        assert_eq!(first_zero(1.0, 0.0, 1.0), f64::INFINITY);
        assert_eq!(first_zero(1.0, 1.0, 0.0), f64::INFINITY);
        assert!((first_zero(2.0, -4.0, 0.0) - 0.5).abs() < 1e-15);
        // Tiny c (nearly flat already): the root near zero is not lost.
        assert!((first_zero(1e-12, -1.0, 1.0) - 1e-12).abs() < 1e-20);
    }

    /// A target that turns one triangle over (and one that leaves all
    /// turned the right way): the step stops short of the first flip, at
    /// FLIP_MARGIN of the way to it, and every triangle keeps its area there.
    #[test]
    fn the_step_toward_a_target_stops_before_any_triangle_flips() {
        // Two triangles sharing the edge 1-2; vertex 3 moves across that edge.
        let triangles = [[0u32, 1, 2], [1, 3, 2]];
        let chart = [Vec2::new(0.0, 0.0), Vec2::new(1.0, 0.0), Vec2::new(0.0, 1.0), Vec2::new(1.0, 1.0)];
        let area = twice_signed_area;
        assert!(triangles.iter().all(|t| area(&chart, t) > 0.0));
        // Vertex 3 to (0, 0): triangle 1-3-2 has zero area when 3 reaches
        // the edge, at (1/2, 1/2): half the way.
        let mut target = chart;
        target[3] = Vec2::new(0.0, 0.0);
        let step = flip_free_step(&triangles, &chart, &target);
        assert!((step - FLIP_MARGIN * 0.5).abs() < 1e-12, "step {step}");
        let moved: Vec<Vec2> = chart.iter().zip(&target).map(|(c, t)| c + (t - c) * step).collect();
        assert!(triangles.iter().all(|t| area(&moved, t) > 0.0));
        // A target every triangle keeps its turn on: the whole way.
        let mut target = chart;
        target[3] = Vec2::new(2.0, 1.5);
        assert_eq!(flip_free_step(&triangles, &chart, &target), 1.0);
    }

    /// Round by round from the Tutte chart of the cut sphere: no triangle ever loses its orientation,
    /// the energy never rises, and at the end both the area and the shape
    /// stretch are far below the Tutte chart's.
    #[test]
    fn local_global_rounds_never_flip_a_triangle_and_lower_the_stretch() {
        let mut m = cut_sphere();
        let filled = m.tutte_filled().expect("a disk");
        let mut chart = filled.chart.clone();
        let (first, mut last) = local_global(&filled.positions, &filled.triangles, &mut chart, 0);
        assert!(first.is_finite() && first > 0.0, "the Tutte start is fold-free: {first}");
        // Which way the Tutte chart turns: the rounds keep every triangle that way.
        let turn = twice_signed_area;
        let sign = filled.triangles.iter().map(|t| turn(&chart, t)).sum::<f64>().signum();
        for round in 0..60 {
            let (e0, e1) = local_global(&filled.positions, &filled.triangles, &mut chart, 1);
            assert!(e1 <= e0 * (1.0 + 1e-12), "round {round}: energy {e0} -> {e1}");
            assert!(filled.triangles.iter().all(|t| sign * turn(&chart, t) > 0.0), "round {round}: a triangle flipped");
            last = e1;
        }
        assert!(last < first * 0.5, "energy {first} -> {last}");
        let mut tutte = m.clone();
        tutte.compute_tutte_chart();
        assert!(m.compute_bijective_chart(), "the iterated chart is kept");
        let (dt, dl) = (tutte.distortion(), m.distortion());
        assert!(
            dl.area_stretch_mean_deviation < 0.5 * dt.area_stretch_mean_deviation
                && dl.shape_stretch_max < dt.shape_stretch_max,
            "Tutte {dt:?}, local-global {dl:?}"
        );
        assert!(m.chart_outline().is_ok());
        assert!((0..m.triangles.len()).all(|t| m.triangle_area_chart(t) > 0.0));
    }
}
