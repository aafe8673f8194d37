//! The hit raster: needle disks splatted into a raster of the zone's bounding
//! box, and each analysis cell's raster cells classified by how many disks
//! cover them. A raster cell counts as in the zone when its centre is, and as
//! hit by a needle disk when its centre lies within r of the puncture.
//!
//! Every parallel step either writes disjoint memory or sums integers, so the
//! figures do not depend on the number of threads.

use crate::core::engine::simulate::Puncture;
use crate::core::geometry::layout::{Layout, SPLAT_LANES, floor_i};
use rayon::prelude::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::layout::treatable_spans;
    use crate::core::geometry::shape::{Region, Shape, Vec2};
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
