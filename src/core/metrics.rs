//! Metrics: punctures -> fields (hit raster, analysis cells) -> the figures
//! defined in DESIGN.md (density, coverage, hit shares, overlap, bands).
//!
//! Coverage and hit shares come from a raster of the zone's bounding box with
//! square cells of side `h <= r / 4` (r = needle radius) that divide the
//! analysis cell exactly; a raster cell counts as in the zone when its centre
//! is, and as hit by a needle disk when its centre lies within r of the
//! puncture. Each analysis cell carries the true area of its in-zone part, so
//! every share is area-weighted (ready for curved zones, where a chart cell's
//! true area differs from its chart area).
//!
//! Every parallel step either writes disjoint memory or sums integers, so the
//! figures do not depend on the number of threads.

use super::StageTimes;
use super::geometry::{Region, Vec2};
use super::mesh::Surface;
use super::seams::{SeamSide, chart_distance};
use super::simulate::{Puncture, ZoneRun};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// floor(x) as an integer without a libm call (baseline x86-64 has no
/// rounding instruction); exact for |x| < 2^52.
#[inline(always)]
fn floor_i(x: f64) -> i64 {
    let i = x as i64;
    i - ((i as f64) > x) as i64
}

/// Raster cells per needle radius, at least: the coverage error is then well
/// under 0.005 (tested against exact disk areas).
pub const RASTER_CELLS_PER_RADIUS: f64 = 4.0;

/// The grid of one zone: analysis cells of `cell_mm`, each split into
/// `sub x sub` raster cells of `h_mm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub origin_mm: Vec2,
    pub cell_mm: f64,
    pub sub: usize,
    pub h_mm: f64,
    /// Analysis cells across and up.
    pub cells_u: usize,
    pub cells_v: usize,
}

impl Layout {
    pub fn new(region: &Region, cell_mm: f64, needle_radius_mm: f64) -> Layout {
        let b = region.bounds();
        let size = b.size_mm();
        let sub = (cell_mm / (needle_radius_mm / RASTER_CELLS_PER_RADIUS)).ceil().max(1.0) as usize;
        Layout {
            origin_mm: b.min_mm,
            cell_mm,
            sub,
            h_mm: cell_mm / sub as f64,
            cells_u: ((size.x / cell_mm).ceil() as usize).max(1),
            cells_v: ((size.y / cell_mm).ceil() as usize).max(1),
        }
    }
    pub fn raster_u(&self) -> usize {
        self.cells_u.saturating_mul(self.sub)
    }
    pub fn raster_v(&self) -> usize {
        self.cells_v.saturating_mul(self.sub)
    }
    /// Bytes per raster row: the row plus 16 bytes of padding, so a disk row
    /// can always be added as one 16-byte vector.
    pub fn raster_stride(&self) -> usize {
        self.raster_u().saturating_add(SPLAT_LANES)
    }
    pub fn raster_cells(&self) -> u64 {
        (self.raster_stride() as u64).saturating_mul(self.raster_v() as u64)
    }
    pub fn cells(&self) -> usize {
        self.cells_u.saturating_mul(self.cells_v)
    }
    /// Bytes the zone's fields take while it is measured: the hit raster and
    /// about 64 bytes of figures per analysis cell.
    pub fn field_bytes(&self) -> u64 {
        self.raster_cells().saturating_add((self.cells() as u64).saturating_mul(64))
    }
    /// Analysis cell of a chart point, if inside the grid.
    pub fn cell_of(&self, p: Vec2) -> Option<usize> {
        let q = (p - self.origin_mm) / self.cell_mm;
        let (cu, cv) = (floor_i(q.x), floor_i(q.y));
        if cu < 0 || cv < 0 || cu >= self.cells_u as i64 || cv >= self.cells_v as i64 {
            return None;
        }
        Some(cv as usize * self.cells_u + cu as usize)
    }
}

/// Spans `[i0, i1)` of raster cells whose centres lie in the region, per raster row.
pub fn treatable_spans(region: &Region, layout: &Layout) -> Vec<Vec<(u32, u32)>> {
    let (nu, h, o) = (layout.raster_u(), layout.h_mm, layout.origin_mm);
    (0..layout.raster_v())
        .into_par_iter()
        .map(|j| {
            let y = o.y + (j as f64 + 0.5) * h;
            region
                .line_intervals(Vec2::new(0.0, y), Vec2::new(1.0, 0.0), true)
                .into_iter()
                .filter_map(|(x0, x1)| {
                    let i0 = ((x0 - o.x) / h - 0.5).ceil().max(0.0) as usize;
                    let i1 = (((x1 - o.x) / h - 0.5).floor() + 1.0).clamp(0.0, nu as f64) as usize;
                    (i1 > i0).then_some((i0 as u32, i1 as u32))
                })
                .collect()
        })
        .collect()
}

/// Width of the vector a disk row is added with.
const SPLAT_LANES: usize = 16;

/// `MASKS[n]`: n ones, then zeros.
const MASKS: [[u8; SPLAT_LANES]; SPLAT_LANES + 1] = {
    let mut m = [[0u8; SPLAT_LANES]; SPLAT_LANES + 1];
    let mut n = 0;
    while n <= SPLAT_LANES {
        let mut k = 0;
        while k < n {
            m[n][k] = 1;
            k += 1;
        }
        n += 1;
    }
    m
};

/// Sub-cell positions of a disk centre, per axis, for which disk shapes are
/// tabulated: the centre is taken at the middle of its 1/16 of a raster cell.
/// Taking the middle biases the tabulated disks' mean area (0.19 % too large
/// at r = 4 cells, which showed as a coverage 7e-4 above the Boolean law in
/// tests/engine/strategies.rs), so each table's radius is calibrated: see
/// [`DiskTable::calibrated`].
const PHASES: usize = 16;

/// The raster rows of a needle disk for every sub-cell centre position:
/// for row offset dj (from -reach to +reach), the first cell offset and the
/// number of cells whose centres lie within the radius.
struct DiskTable {
    reach: i64,
    /// [phase_v][phase_u][row] -> (first cell offset, cells)
    spans: Vec<(i32, u32)>,
}

impl DiskTable {
    /// The table for true radius `rc` (raster cells) whose disks, averaged
    /// over the tabulated centre positions, cover pi rc^2 cells (within half
    /// a cell in 256 positions: 4e-5 of the area at rc = 4): its own radius
    /// is moved by a small fraction of a cell (found by bisection; the mean
    /// area only grows with the radius). Built once per radius per process.
    fn calibrated(rc: f64) -> std::sync::Arc<DiskTable> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock};
        static CACHE: OnceLock<Mutex<HashMap<u64, Arc<DiskTable>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&rc.to_bits()) {
            return t.clone();
        }
        let want = std::f64::consts::PI * rc * rc;
        let (mut lo, mut hi) = (rc * 0.97 - 0.05, rc * 1.03 + 0.05);
        for _ in 0..24 {
            let mid = (lo + hi) / 2.0;
            if DiskTable::new(mid).mean_cells() < want { lo = mid } else { hi = mid }
        }
        // The mean steps at `hi`: take whichever side is nearer the area.
        let (a, b) = (DiskTable::new(lo), DiskTable::new(hi));
        let table = Arc::new(if (a.mean_cells() - want).abs() <= (b.mean_cells() - want).abs() { a } else { b });
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(rc.to_bits(), table.clone());
        table
    }

    /// Cells of a disk, averaged over the tabulated centre positions.
    fn mean_cells(&self) -> f64 {
        self.spans.iter().map(|&(_, n)| n as f64).sum::<f64>() / (PHASES * PHASES) as f64
    }

    fn new(rc: f64) -> DiskTable {
        let reach = rc.ceil() as i64 + 1;
        let rows = (2 * reach + 1) as usize;
        let mut spans = vec![(0i32, 0u32); PHASES * PHASES * rows];
        for qv in 0..PHASES {
            let cy = (qv as f64 + 0.5) / PHASES as f64;
            for qu in 0..PHASES {
                let cx = (qu as f64 + 0.5) / PHASES as f64;
                for (k, dj) in (-reach..=reach).enumerate() {
                    let dy = dj as f64 + 0.5 - cy;
                    if dy.abs() > rc {
                        continue;
                    }
                    let half = (rc * rc - dy * dy).sqrt();
                    let i0 = (cx - half - 0.5).ceil() as i64;
                    let i1 = (cx + half - 0.5).floor() as i64 + 1;
                    if i1 > i0 {
                        spans[(qv * PHASES + qu) * rows + k] = (i0 as i32, (i1 - i0) as u32);
                    }
                }
            }
        }
        DiskTable { reach, spans }
    }

    fn rows(&self) -> usize {
        (2 * self.reach + 1) as usize
    }
}

/// Adds every puncture's needle disk (radius `r_mm`) to the hit raster,
/// saturating at 255: a raster cell is hit when its centre lies within
/// `r_mm` of the puncture. Rows are split into bands written by one thread
/// each; each disk row is one 16-byte saturating add.
///
/// `cell_stretch`: for a curved zone, each analysis cell's true/chart area
/// ratio s. A needle disk of true radius r covers a chart disk of radius
/// r / sqrt(s) there (tabulated per 1/256 of that factor); `None` for a flat
/// chart.
pub fn splat(raster: &mut [u8], layout: &Layout, punctures: &[Puncture], r_mm: f64, cell_stretch: Option<&[f64]>) {
    let plan = SplatPlan::new(layout, punctures, r_mm, cell_stretch);
    raster.par_chunks_mut(plan.stride * plan.band_rows).enumerate().for_each(|(b, rows)| plan.band(b, rows));
}

/// Splats and classifies band by band (one row of analysis cells each) in a
/// small buffer per thread that stays in cache, never building the whole
/// hit raster: `classify(splat(...))` without the raster's memory traffic.
pub fn splat_classify(
    layout: &Layout,
    spans: &[Vec<(u32, u32)>],
    punctures: &[Puncture],
    r_mm: f64,
    cell_stretch: Option<&[f64]>,
) -> Vec<[u32; 4]> {
    let plan = SplatPlan::new(layout, punctures, r_mm, cell_stretch);
    let band_len = plan.stride * plan.band_rows;
    let mut out = vec![[0u32; 4]; layout.cells()];
    out.par_chunks_mut(layout.cells_u).enumerate().for_each_init(
        || vec![0u8; band_len],
        |buf, (cv, cells)| {
            let rows = (layout.raster_v() - cv * plan.band_rows).min(plan.band_rows);
            let band = &mut buf[..rows * plan.stride];
            band.fill(0);
            plan.band(cv, band);
            classify_band(band, cv, layout, spans, cells);
        },
    );
    out
}

/// What every band of a splat needs: the disk tables, each puncture located
/// once, and the punctures of each band.
struct SplatPlan {
    nu: usize,
    stride: usize,
    band_rows: usize,
    tables: Vec<std::sync::Arc<DiskTable>>,
    located: Vec<(i32, i32, u32, u32)>,
    counts: Vec<u32>,
    bucket: Vec<u32>,
}

impl SplatPlan {
    fn new(layout: &Layout, punctures: &[Puncture], r_mm: f64, cell_stretch: Option<&[f64]>) -> SplatPlan {
        let (nu, nv, stride, h, o) =
            (layout.raster_u(), layout.raster_v(), layout.raster_stride(), layout.h_mm, layout.origin_mm);
        // One disk table per chart radius met; each analysis cell names its table.
        let mut tables: Vec<std::sync::Arc<DiskTable>> = Vec::new();
        let mut keys: std::collections::BTreeMap<u32, u16> = std::collections::BTreeMap::new();
        let mut table_of = |factor: f64| -> u16 {
            let key = (factor * 256.0).round().max(1.0) as u32;
            *keys.entry(key).or_insert_with(|| {
                tables.push(DiskTable::calibrated(r_mm / h * key as f64 / 256.0));
                (tables.len() - 1) as u16
            })
        };
        let cell_table: Vec<u16> = match cell_stretch {
            None => {
                table_of(1.0);
                Vec::new()
            }
            Some(s) => {
                s.iter().map(|&s| table_of(if s > 0.0 && s.is_finite() { 1.0 / s.sqrt() } else { 1.0 })).collect()
            }
        };
        let reach = tables.iter().map(|t| t.reach).max().unwrap_or(0);
        let band_rows = layout.sub;
        let bands = nv.div_ceil(band_rows);
        let sub = layout.sub as i64;
        // Base cell, sub-cell phase and disk table of a puncture.
        let locate = |p: &Puncture| -> (i64, i64, usize, usize) {
            let (fx, fy) = ((p.u_mm as f64 - o.x) / h, (p.v_mm as f64 - o.y) / h);
            let (bx, by) = (floor_i(fx), floor_i(fy));
            let qu = (((fx - bx as f64) * PHASES as f64) as usize).min(PHASES - 1);
            let qv = (((fy - by as f64) * PHASES as f64) as usize).min(PHASES - 1);
            let table = if cell_table.is_empty() {
                0
            } else {
                let cu = (bx / sub).clamp(0, layout.cells_u as i64 - 1) as usize;
                let cv = (by / sub).clamp(0, layout.cells_v as i64 - 1) as usize;
                cell_table[cv * layout.cells_u + cu] as usize
            };
            (bx, by, (qv * PHASES + qu) * tables[table].rows(), table)
        };
        // Each puncture located once (the float work is most of a splat's cost).
        // Packed small (16 bytes): base cell (within i32 as the raster is), table row, table.
        let located: Vec<(i32, i32, u32, u32)> = punctures
            .par_iter()
            .with_min_len(8192)
            .map(|p| {
                let (bx, by, at, table) = locate(p);
                (
                    bx.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                    by.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                    at as u32,
                    table as u32,
                )
            })
            .collect();
        let band_range = |&(_, by, _, _): &(i32, i32, u32, u32)| -> Option<(usize, usize)> {
            let by = by as i64;
            let (j0, j1) = ((by - reach).max(0), (by + reach).min(nv as i64 - 1));
            (j1 >= j0).then(|| (j0 as usize / band_rows, j1 as usize / band_rows))
        };
        // Bucket puncture indices by band (a disk may touch two bands).
        let mut counts = vec![0u32; bands + 1];
        for p in &located {
            if let Some((b0, b1)) = band_range(p) {
                for b in b0..=b1 {
                    counts[b + 1] += 1;
                }
            }
        }
        for b in 0..bands {
            counts[b + 1] += counts[b];
        }
        let mut fill = counts.clone();
        let mut bucket = vec![0u32; counts[bands] as usize];
        for (idx, p) in located.iter().enumerate() {
            if let Some((b0, b1)) = band_range(p) {
                for b in b0..=b1 {
                    bucket[fill[b] as usize] = idx as u32;
                    fill[b] += 1;
                }
            }
        }
        SplatPlan { nu, stride, band_rows, tables, located, counts, bucket }
    }

    /// Adds the disks of band `b` to `rows` (the band's raster rows).
    fn band(&self, b: usize, rows: &mut [u8]) {
        let (nu, stride, band_rows) = (self.nu, self.stride, self.band_rows);
        let (tables, located, counts, bucket) = (&self.tables, &self.located, &self.counts, &self.bucket);
        let first_row = (b * band_rows) as i64;
        let last_row = first_row + (rows.len() / stride) as i64 - 1;
        for &idx in &bucket[counts[b] as usize..counts[b + 1] as usize] {
            let (bx, by, at, table) = located[idx as usize];
            let (bx, by, at, table) = (bx as i64, by as i64, at as usize, &tables[table as usize]);
            let disk = &table.spans[at..at + table.rows()];
            for (k, &(off, n)) in disk.iter().enumerate() {
                let j = by - table.reach + k as i64;
                if n == 0 || j < first_row || j > last_row {
                    continue;
                }
                let row = &mut rows[(j - first_row) as usize * stride..][..stride];
                let i0 = bx + off as i64;
                let n = n as usize;
                if i0 >= 0 && i0 as usize + n <= nu && n <= SPLAT_LANES {
                    // One 16-byte saturating add (the row padding makes room).
                    let i0 = i0 as usize;
                    let dst: &mut [u8; SPLAT_LANES] = (&mut row[i0..i0 + SPLAT_LANES]).try_into().expect("padded row");
                    let mask = &MASKS[n];
                    for k in 0..SPLAT_LANES {
                        dst[k] = dst[k].saturating_add(mask[k]);
                    }
                } else {
                    // At the raster's edge, or a disk wider than a vector.
                    let (a, e) = (i0.max(0) as usize, ((i0 + n as i64).max(0) as usize).min(nu));
                    for c in row[a.min(e)..e].iter_mut() {
                        *c = c.saturating_add(1);
                    }
                }
            }
        }
    }
}

/// Calls `f(analysis cell, i0, i1)` for each piece of a row span that lies
/// in one analysis cell.
#[inline]
fn for_cell_pieces(spans: &[(u32, u32)], sub: usize, mut f: impl FnMut(usize, usize, usize)) {
    for &(i0, i1) in spans {
        let (mut a, i1) = (i0 as usize, i1 as usize);
        while a < i1 {
            let cell = a / sub;
            let b = ((cell + 1) * sub).min(i1);
            f(cell, a, b);
            a = b;
        }
    }
}

/// In-zone raster cells of each analysis cell (from the spans alone).
pub fn inzone_counts(layout: &Layout, spans: &[Vec<(u32, u32)>]) -> Vec<u32> {
    let mut out = vec![0u32; layout.cells()];
    for (j, row) in spans.iter().enumerate() {
        let base = (j / layout.sub) * layout.cells_u;
        for_cell_pieces(row, layout.sub, |c, a, b| out[base + c] += (b - a) as u32);
    }
    out
}

/// Per analysis cell: how many of its in-zone raster cells are hit 0, 1, 2 and 3+ times.
pub fn classify(raster: &[u8], layout: &Layout, spans: &[Vec<(u32, u32)>]) -> Vec<[u32; 4]> {
    let (nu, sub, cu) = (layout.raster_stride(), layout.sub, layout.cells_u);
    let mut out = vec![[0u32; 4]; layout.cells()];
    out.par_chunks_mut(cu).enumerate().for_each(|(cv, cells)| {
        classify_band(&raster[cv * sub * nu..((cv + 1) * sub * nu).min(raster.len())], cv, layout, spans, cells);
    });
    out
}

/// Counts of raster values 0, 1 and 2, kept in byte lanes 16 wide (the
/// compiler turns a lane add into one vector compare and add) and summed
/// into totals before a lane could overflow.
#[derive(Clone, Copy, Default)]
struct LaneCounts {
    lanes: [[u8; SPLAT_LANES]; 3],
    /// Chunks added since the lanes were last summed (at most 255).
    chunks: u32,
    totals: [u32; 3],
}

impl LaneCounts {
    #[inline]
    fn add(&mut self, xs: &[u8]) {
        let mut chunks = xs.chunks_exact(SPLAT_LANES);
        for chunk in chunks.by_ref() {
            if self.chunks == 255 {
                self.flush();
            }
            let chunk: &[u8; SPLAT_LANES] = chunk.try_into().expect("a whole chunk");
            for (k, &x) in chunk.iter().enumerate() {
                self.lanes[0][k] += (x == 0) as u8;
                self.lanes[1][k] += (x == 1) as u8;
                self.lanes[2][k] += (x == 2) as u8;
            }
            self.chunks += 1;
        }
        for &x in chunks.remainder() {
            self.totals[0] += (x == 0) as u32;
            self.totals[1] += (x == 1) as u32;
            self.totals[2] += (x == 2) as u32;
        }
    }

    fn flush(&mut self) {
        for (t, l) in self.totals.iter_mut().zip(&mut self.lanes) {
            *t += l.iter().map(|&v| v as u32).sum::<u32>();
            *l = [0; SPLAT_LANES];
        }
        self.chunks = 0;
    }

    fn counts(mut self) -> [u32; 3] {
        self.flush();
        self.totals
    }
}

/// `classify` of one row of analysis cells (`cv`), from its raster rows
/// `band`: each cell's counts stay in byte lanes over all its rows.
fn classify_band(band: &[u8], cv: usize, layout: &Layout, spans: &[Vec<(u32, u32)>], cells: &mut [[u32; 4]]) {
    let (nu, sub) = (layout.raster_stride(), layout.sub);
    let mut counts = vec![LaneCounts::default(); cells.len()];
    let mut inside = vec![0u32; cells.len()];
    for (k, row) in band.chunks_exact(nu).enumerate() {
        for_cell_pieces(&spans[cv * sub + k], sub, |c, a, b| {
            counts[c].add(&row[a..b]);
            inside[c] += (b - a) as u32;
        });
    }
    for ((cell, lc), n) in cells.iter_mut().zip(counts).zip(inside) {
        let [n0, n1, n2] = lc.counts();
        *cell = [cell[0] + n0, cell[1] + n1, cell[2] + n2, cell[3] + n - n0 - n1 - n2];
    }
}

/// In-zone raster cells hit at least once, per analysis cell.
pub fn covered_counts(raster: &[u8], layout: &Layout, spans: &[Vec<(u32, u32)>]) -> Vec<u32> {
    let (nu, sub, cu) = (layout.raster_stride(), layout.sub, layout.cells_u);
    let mut out = vec![0u32; layout.cells()];
    out.par_chunks_mut(cu).enumerate().for_each(|(cv, cells)| {
        for j in cv * sub..(cv + 1) * sub {
            let row = &raster[j * nu..(j + 1) * nu];
            for_cell_pieces(&spans[j], sub, |c, a, b| {
                cells[c] += row[a..b].iter().map(|&x| (x != 0) as u32).sum::<u32>();
            });
        }
    });
    out
}

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

/// Punctures per analysis cell (partial counts per chunk, summed: integer
/// sums, so the same for any thread count).
pub fn cell_counts(layout: &Layout, punctures: &[Puncture]) -> Vec<u32> {
    let cells = layout.cells();
    let count = |chunk: &[Puncture]| {
        let mut counts = vec![0u32; cells];
        for p in chunk {
            if let Some(c) = layout.cell_of(p.pos_mm()) {
                counts[c] += 1;
            }
        }
        counts
    };
    // Chunks big enough that the per-chunk arrays cost little.
    let chunk = (cells * 16).max(1 << 16);
    if punctures.len() <= chunk {
        return count(punctures);
    }
    punctures.par_chunks(chunk).map(count).reduce(
        || vec![0u32; cells],
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        },
    )
}

/// Weighted percentile (`q` in 0..=1) of `values` with `weights`, by the
/// lower-value rule on the sorted cumulative weight.
pub fn weighted_percentile(sorted: &[(f64, f64)], q: f64) -> f64 {
    let total: f64 = sorted.iter().map(|(_, w)| w).sum();
    let mut acc = 0.0;
    for &(v, w) in sorted {
        acc += w;
        if acc >= q * total {
            return v;
        }
    }
    sorted.last().map_or(0.0, |(v, _)| *v)
}

/// Density spread over analysis cells, punctures per cm2.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DensityStats {
    pub mean: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
    pub cv: f64,
}

/// A mesh zone's chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChartInfo {
    pub method: String,
    pub distortion: super::mesh::Distortion,
    pub warnings: Vec<String>,
}

/// Cumulative figures after one pass.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PassMetrics {
    pub pattern: String,
    pub depth_mm: f64,
    /// Why this pass's depth is outside the zone's recommended range.
    pub depth_warning: Option<String>,
    pub punctures: u64,
    pub coverage_after: f64,
    pub density_after_per_cm2: f64,
}

/// The figures of one zone (field names are the report.json contract).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneMetrics {
    pub name: String,
    /// Where the geometry came from: `flat`, `builtin:forehead`, `face.obj#cheek`.
    pub surface: String,
    /// True treatable area (outline minus avoid regions) on the skin, cm2.
    pub area_cm2: f64,
    /// The same area in the chart, cm2 (equal for flat zones).
    pub chart_area_cm2: f64,
    /// How the chart was made and how much it stretches area (mesh zones).
    pub chart: Option<ChartInfo>,
    pub skin: Option<String>,
    pub depth_range_mm: Option<[f64; 2]>,
    /// Why passes are outside the depth range, if any are.
    pub depth_warnings: Vec<String>,
    /// Punctures whose 3D point could not be found (mesh zones; 0 expected).
    pub unmapped_punctures: u64,
    /// This zone's side of each seam it shares with another zone.
    pub seam_sides: Vec<SeamSide>,
    pub punctures: u64,
    pub avoid_violations: u64,
    pub density_per_cm2: DensityStats,
    pub coverage_fraction: f64,
    pub overlap_fraction: f64,
    /// Shares of area covered by exactly 0, 1, 2 and 3 or more needle disks.
    pub hit_shares: [f64; 4],
    pub under_fraction: Option<f64>,
    pub over_fraction: Option<f64>,
    pub target_per_cm2: Option<[f64; 2]>,
    pub passes: Vec<PassMetrics>,
    pub time_s: f64,
    pub path_length_mm: f64,
    pub stamps: u64,
    /// Needles that landed outside the outline (dropped).
    pub outside_punctures: u64,
    /// Analysis cells in the spread (at least half inside the zone).
    pub cells_in_spread: u64,
    /// Side of the coverage raster cells, mm.
    pub raster_mm: f64,
}

/// Map data for pictures of one zone.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneField {
    pub layout: Layout,
    pub cell_punctures: Vec<u32>,
    /// True in-zone area of each analysis cell, mm2.
    pub cell_area_mm2: Vec<f64>,
    /// Whether each cell counts in the spread (at least half inside).
    pub cell_in_spread: Vec<bool>,
    /// Hit class (0, 1, 2, 3 = 3+, 255 = outside) sampled on a preview grid.
    pub hits_preview: HitPreview,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HitPreview {
    pub width: usize,
    pub height: usize,
    pub px_mm: f64,
    pub classes: Vec<u8>,
}

impl ZoneField {
    /// Density of a cell, punctures/cm2 (None where the cell is outside).
    pub fn cell_density_per_cm2(&self, c: usize) -> Option<f64> {
        (self.cell_area_mm2[c] > 0.0).then(|| self.cell_punctures[c] as f64 / self.cell_area_mm2[c] * 100.0)
    }
}

/// Longest side of the hit preview, px.
pub const HIT_PREVIEW_MAX_PX: usize = 1200;

/// What `measure_zone` needs to know of a zone.
pub struct ZoneInput<'a> {
    pub name: &'a str,
    pub region: &'a Region,
    /// The curved surface under the chart (mesh zones): gives true cell areas.
    pub surface: Option<&'a Surface>,
    pub target_per_cm2: Option<[f64; 2]>,
    /// The pass patterns, in order.
    pub pass_labels: Vec<String>,
    /// Borders shared with other zones: the neighbour's name and the border
    /// as segments in this zone's chart; and the band's half-width, mm.
    pub borders: Vec<(String, Vec<[Vec2; 2]>)>,
    pub band_mm: f64,
}

/// How a zone is measured.
pub struct MeasureConfig {
    pub needle_diameter_mm: f64,
    /// Side of the analysis cells of the density spread, mm.
    pub cell_mm: f64,
    /// Only the zone's final figures: no coverage after each pass (NaN but
    /// for the last) and no hit preview for pictures. Comparisons of many
    /// runs use this; the final figures are the same.
    pub figures_only: bool,
}

thread_local! {
    /// A hit raster kept for the thread's next zone: many runs in a row
    /// (compare, tune) would otherwise fault in megabytes of fresh pages each.
    static SPARE_RASTER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A zeroed raster of `len` bytes, reusing the thread's spare one. Taken out
/// of the slot (not borrowed), so a nested call on the same thread (rayon
/// work stealing) just allocates.
fn take_raster(len: usize) -> Vec<u8> {
    let mut r = SPARE_RASTER.with(|s| s.take());
    r.clear();
    r.resize(len, 0);
    r
}

/// Keeps `r` for the thread's next zone (the larger of it and the one kept).
fn give_back_raster(r: Vec<u8>) {
    SPARE_RASTER.with(|s| {
        let kept = s.take();
        s.set(if kept.capacity() > r.capacity() { kept } else { r });
    });
}

/// Measures one zone.
pub fn measure_zone(
    zone: &ZoneInput,
    run: &ZoneRun,
    cfg: &MeasureConfig,
    times: &mut StageTimes,
) -> (ZoneMetrics, ZoneField) {
    let ZoneInput { name, region, surface, target_per_cm2, pass_labels: labels, .. } = zone;
    let (target_per_cm2, needle_diameter_mm, cell_mm) = (*target_per_cm2, cfg.needle_diameter_mm, cfg.cell_mm);
    let r = needle_diameter_mm / 2.0;
    let mut clock = Instant::now();
    let mut lap = |times: &mut StageTimes, name: &'static str| {
        let now = Instant::now();
        times.add(name, now - clock);
        clock = now;
    };
    let layout = Layout::new(region, cell_mm, r);
    let spans = treatable_spans(region, &layout);
    let subcell_mm2 = layout.h_mm * layout.h_mm;
    let inzone = inzone_counts(&layout, &spans);
    // In-zone chart area of each analysis cell, and its true area: the chart
    // area times the surface's true/chart area ratio within the cell.
    let chart_area_mm2: Vec<f64> = inzone.iter().map(|&n| n as f64 * subcell_mm2).collect();
    let cell_area_mm2: Vec<f64> = match surface {
        None => chart_area_mm2.clone(),
        Some(s) => {
            let mesh_cells = super::mesh::cell_areas(&s.mesh, &layout);
            chart_area_mm2
                .iter()
                .zip(&mesh_cells)
                .map(|(&a, &(chart, true_area))| if chart > 0.0 { a * true_area / chart } else { a })
                .collect()
        }
    };
    let area_mm2: f64 = cell_area_mm2.iter().sum();
    let chart_area_total_mm2: f64 = chart_area_mm2.iter().sum();
    // True/chart area ratio per cell, for the needle disks' size in the chart.
    let stretch: Option<Vec<f64>> = surface
        .map(|_| cell_area_mm2.iter().zip(&chart_area_mm2).map(|(&t, &c)| if c > 0.0 { t / c } else { 1.0 }).collect());
    // Covered share, weighting each raster cell by its true area.
    let coverage_of = |covered: &[u32]| {
        let hit: f64 = (0..covered.len())
            .filter(|&c| inzone[c] > 0)
            .map(|c| covered[c] as f64 / inzone[c] as f64 * cell_area_mm2[c])
            .sum();
        if area_mm2 > 0.0 { hit / area_mm2 } else { 0.0 }
    };
    lap(times, "measure: zone raster");

    // Final figures without seams need no whole raster: splat and classify
    // band by band in cache.
    let fused = cfg.figures_only && zone.borders.is_empty();
    let mut raster = if fused { Vec::new() } else { take_raster(layout.raster_cells() as usize) };
    let mut passes = Vec::with_capacity(labels.len());
    let mut cumulative = 0u64;
    if cfg.figures_only && !fused {
        splat(&mut raster, &layout, &run.punctures, r, stretch.as_deref());
        lap(times, "measure: splat disks");
    }
    for (pi, label) in labels.iter().enumerate() {
        let range = run.pass_ranges.get(pi).cloned().unwrap_or(0..0);
        if !cfg.figures_only {
            splat(&mut raster, &layout, &run.punctures[range.clone()], r, stretch.as_deref());
            lap(times, "measure: splat disks");
        }
        let coverage_after = if pi + 1 < labels.len() && !cfg.figures_only {
            coverage_of(&covered_counts(&raster, &layout, &spans))
        } else {
            f64::NAN
        };
        lap(times, "measure: classify");
        cumulative += range.len() as u64;
        passes.push(PassMetrics {
            pattern: label.clone(),
            depth_mm: 0.0,
            depth_warning: None,
            punctures: range.len() as u64,
            coverage_after,
            density_after_per_cm2: per_cm2(cumulative as f64, area_mm2),
        });
    }
    let classes = if fused {
        let classes = splat_classify(&layout, &spans, &run.punctures, r, stretch.as_deref());
        lap(times, "measure: splat disks");
        classes
    } else {
        classify(&raster, &layout, &spans)
    };
    let mut hit_shares = [0.0; 4];
    for (c, cl) in classes.iter().enumerate() {
        if inzone[c] > 0 {
            for k in 0..4 {
                hit_shares[k] += cl[k] as f64 / inzone[c] as f64 * cell_area_mm2[c];
            }
        }
    }
    if area_mm2 > 0.0 {
        for s in &mut hit_shares {
            *s /= area_mm2;
        }
    }
    let coverage_fraction = hit_shares[1] + hit_shares[2] + hit_shares[3];
    if let Some(last) = passes.last_mut() {
        last.coverage_after = coverage_fraction;
    }
    lap(times, "measure: classify");

    let cell_punctures = cell_counts(&layout, &run.punctures);
    let full_cell = (layout.sub * layout.sub) as u32;
    // At least half of the cell (in chart area) inside the zone.
    let cell_in_spread: Vec<bool> = inzone.iter().map(|&n| 2 * n >= full_cell && n > 0).collect();
    let mut samples: Vec<(f64, f64)> = (0..layout.cells())
        .filter(|&c| cell_in_spread[c])
        .map(|c| (per_cm2(cell_punctures[c] as f64, cell_area_mm2[c]), cell_area_mm2[c]))
        .collect();
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let wsum: f64 = samples.iter().map(|s| s.1).sum();
    let wmean = if wsum > 0.0 { samples.iter().map(|(v, w)| v * w).sum::<f64>() / wsum } else { 0.0 };
    let wvar = if wsum > 0.0 { samples.iter().map(|(v, w)| w * (v - wmean).powi(2)).sum::<f64>() / wsum } else { 0.0 };
    let n = run.punctures.len() as u64;
    let density = DensityStats {
        mean: per_cm2(n as f64, area_mm2),
        p5: weighted_percentile(&samples, 0.05),
        p50: weighted_percentile(&samples, 0.50),
        p95: weighted_percentile(&samples, 0.95),
        cv: if wmean > 0.0 { wvar.sqrt() / wmean } else { 0.0 },
    };
    let (under_fraction, over_fraction) = match target_per_cm2 {
        Some([lo, hi]) if wsum > 0.0 => {
            let under: f64 = samples.iter().filter(|(v, _)| *v < lo).map(|s| s.1).sum();
            let over: f64 = samples.iter().filter(|(v, _)| *v > hi).map(|s| s.1).sum();
            (Some(under / wsum), Some(over / wsum))
        }
        _ => (None, None),
    };
    lap(times, "measure: cells and spread");
    let overlap = overlap_count(&run.punctures, needle_diameter_mm);
    lap(times, "measure: overlap");
    let hits_preview = if cfg.figures_only {
        HitPreview { width: 0, height: 0, px_mm: 0.0, classes: Vec::new() }
    } else {
        let preview = hit_preview(&raster, &layout, &spans);
        lap(times, "measure: hit preview");
        preview
    };
    let band = BandInput {
        raster: &raster,
        layout: &layout,
        spans: &spans,
        cell_area_mm2: &cell_area_mm2,
        chart_area_mm2: &chart_area_mm2,
        run,
    };
    let seam_sides: Vec<SeamSide> = zone
        .borders
        .iter()
        .map(|(_, segs)| seam_side(name, segs, zone.band_mm, &band, n as f64 / area_mm2 * 100.0))
        .collect();
    if !zone.borders.is_empty() {
        lap(times, "measure: seams");
    }
    let metrics = ZoneMetrics {
        name: name.to_string(),
        surface: "flat".into(),
        area_cm2: area_mm2 / 100.0,
        chart_area_cm2: chart_area_total_mm2 / 100.0,
        chart: surface.map(|s| ChartInfo {
            method: s.chart_method.clone(),
            distortion: s.distortion.clone(),
            warnings: s.warnings.clone(),
        }),
        skin: None,
        depth_range_mm: None,
        depth_warnings: Vec::new(),
        unmapped_punctures: 0,
        seam_sides,
        punctures: n,
        avoid_violations: run.violations.len() as u64,
        density_per_cm2: density,
        coverage_fraction,
        overlap_fraction: if n > 0 { overlap as f64 / n as f64 } else { 0.0 },
        hit_shares,
        under_fraction,
        over_fraction,
        target_per_cm2,
        passes,
        time_s: run.time_s,
        path_length_mm: run.path_length_mm,
        stamps: run.stamps,
        outside_punctures: run.outside.len() as u64,
        cells_in_spread: samples.len() as u64,
        raster_mm: layout.h_mm,
    };
    give_back_raster(raster);
    let field = ZoneField { layout, cell_punctures, cell_area_mm2, cell_in_spread, hits_preview };
    (metrics, field)
}

struct BandInput<'a> {
    raster: &'a [u8],
    layout: &'a Layout,
    spans: &'a [Vec<(u32, u32)>],
    cell_area_mm2: &'a [f64],
    chart_area_mm2: &'a [f64],
    run: &'a ZoneRun,
}

/// The band within `band_mm` of a border, on this zone's side: its true area,
/// the part no needle disk touched, its density, and the needles that reached
/// over the border.
fn seam_side(name: &str, segs: &[[Vec2; 2]], band_mm: f64, b: &BandInput, mean_per_cm2: f64) -> SeamSide {
    let l = b.layout;
    let (h, o, stride, sub) = (l.h_mm, l.origin_mm, l.raster_stride(), l.sub);
    let (nu, nv) = (l.raster_u() as i64, l.raster_v() as i64);
    let cell_range = |lo: f64, hi: f64, n: i64| ((lo / h).floor().max(0.0) as i64, ((hi / h).ceil() as i64).min(n));
    // Mark the raster cells within the band (a bitmap over the band's box).
    let (mut lo, mut hi) = (Vec2::repeat(f64::INFINITY), Vec2::repeat(f64::NEG_INFINITY));
    for [a, c] in segs {
        lo = lo.inf(a).inf(c);
        hi = hi.sup(a).sup(c);
    }
    let (i0, i1) = cell_range(lo.x - band_mm - o.x, hi.x + band_mm - o.x, nu);
    let (j0, j1) = cell_range(lo.y - band_mm - o.y, hi.y + band_mm - o.y, nv);
    let mut side = SeamSide { zone: name.to_string(), ..SeamSide::default() };
    if i1 <= i0 || j1 <= j0 {
        return side;
    }
    let w = (i1 - i0) as usize;
    let mut marked = vec![false; w * (j1 - j0) as usize];
    for seg in segs {
        let (a, c) = (seg[0], seg[1]);
        let (si0, si1) = cell_range(a.x.min(c.x) - band_mm - o.x, a.x.max(c.x) + band_mm - o.x, nu);
        let (sj0, sj1) = cell_range(a.y.min(c.y) - band_mm - o.y, a.y.max(c.y) + band_mm - o.y, nv);
        for j in sj0.max(j0)..sj1.min(j1) {
            for i in si0.max(i0)..si1.min(i1) {
                let p = o + Vec2::new((i as f64 + 0.5) * h, (j as f64 + 0.5) * h);
                if chart_distance(p, std::slice::from_ref(seg)) <= band_mm {
                    marked[(j - j0) as usize * w + (i - i0) as usize] = true;
                }
            }
        }
    }
    for j in j0..j1 {
        for &(a, c) in &b.spans[j as usize] {
            for i in (a as i64).max(i0)..(c as i64).min(i1) {
                if !marked[(j - j0) as usize * w + (i - i0) as usize] {
                    continue;
                }
                let cell = (j as usize / sub) * l.cells_u + i as usize / sub;
                let stretch =
                    if b.chart_area_mm2[cell] > 0.0 { b.cell_area_mm2[cell] / b.chart_area_mm2[cell] } else { 1.0 };
                side.band_mm2 += h * h * stretch;
                if b.raster[j as usize * stride + i as usize] == 0 {
                    side.missed_mm2 += h * h * stretch;
                }
            }
        }
    }
    let in_band = |p: &Puncture| {
        let q = (p.pos_mm() - o) / h;
        let (i, j) = (q.x.floor() as i64, q.y.floor() as i64);
        i >= i0 && i < i1 && j >= j0 && j < j1 && marked[(j - j0) as usize * w + (i - i0) as usize]
    };
    let count = b.run.punctures.iter().filter(|p| in_band(p)).count() as f64;
    side.missed_share = if side.band_mm2 > 0.0 { side.missed_mm2 / side.band_mm2 } else { 0.0 };
    side.band_density_per_cm2 = per_cm2(count, side.band_mm2);
    side.density_ratio = if mean_per_cm2 > 0.0 { side.band_density_per_cm2 / mean_per_cm2 } else { 0.0 };
    side.reached_over = b.run.outside.iter().filter(|p| chart_distance(p.pos_mm(), segs) <= band_mm).count() as u64;
    side
}

fn per_cm2(count: f64, area_mm2: f64) -> f64 {
    if area_mm2 > 0.0 { count / area_mm2 * 100.0 } else { 0.0 }
}

fn hit_preview(raster: &[u8], layout: &Layout, spans: &[Vec<(u32, u32)>]) -> HitPreview {
    let (nu, nv) = (layout.raster_u(), layout.raster_v());
    let step = nu.max(nv).div_ceil(HIT_PREVIEW_MAX_PX).max(1);
    let (width, height) = (nu.div_ceil(step), nv.div_ceil(step));
    let mut classes = vec![255u8; width * height];
    for y in 0..height {
        let j = (y * step + step / 2).min(nv - 1);
        for &(i0, i1) in &spans[j] {
            for x in i0 as usize / step..((i1 as usize) / step + 1).min(width) {
                let i = (x * step + step / 2).min(nu - 1);
                if i >= i0 as usize && i < i1 as usize {
                    classes[y * width + x] = raster[j * layout.raster_stride() + i].min(3);
                }
            }
        }
    }
    HitPreview { width, height, px_mm: layout.h_mm * step as f64, classes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::Shape;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn counting_zeros_ones_and_twos_in_lanes_matches_a_plain_count() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
        for n in [0usize, 5, 16, 64, 77, 255 * 16, 255 * 16 + 3, 100_000] {
            let xs: Vec<u8> = (0..n).map(|_| (rng.random::<f64>() * 5.0) as u8).collect();
            let plain = [0u8, 1, 2].map(|v| xs.iter().filter(|&&x| x == v).count() as u32);
            let mut lc = LaneCounts::default();
            // In pieces, as a cell's rows come.
            for piece in xs.chunks(77) {
                lc.add(piece);
            }
            assert_eq!(lc.counts(), plain, "{n} bytes");
        }
    }

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

    #[test]
    fn the_fused_splat_and_classify_equals_splat_then_classify() {
        let region = Region {
            outline: Shape::Ellipse { center_mm: Vec2::new(20.0, 15.0), radius_u_mm: 20.0, radius_v_mm: 15.0 },
            avoid: vec![Shape::circle(Vec2::new(25.0, 15.0), 4.0)],
        };
        let r = 0.125;
        let layout = Layout::new(&region, 2.0, r);
        let spans = treatable_spans(&region, &layout);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        // Some outside the zone and its raster too, as needles near an edge are.
        let punctures: Vec<Puncture> = (0..40_000)
            .map(|i| {
                Puncture::new(
                    Vec2::new(rng.random::<f64>() * 42.0 - 1.0, rng.random::<f64>() * 32.0 - 1.0),
                    i as f64,
                    0,
                )
            })
            .collect();
        let stretch: Vec<f64> = (0..layout.cells()).map(|c| 1.0 + (c % 7) as f64 * 0.1).collect();
        for s in [None, Some(stretch.as_slice())] {
            let mut raster = vec![0u8; layout.raster_cells() as usize];
            splat(&mut raster, &layout, &punctures, r, s);
            let expected = classify(&raster, &layout, &spans);
            assert_eq!(splat_classify(&layout, &spans, &punctures, r, s), expected);
            assert!(expected.iter().map(|c| c[1] + c[2] + c[3]).sum::<u32>() > 100_000, "disks were splatted");
        }
    }
}
