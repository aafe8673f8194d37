//! The hit raster: needle disks splatted into a raster of the zone's bounding
//! box, and each analysis cell's raster cells classified by how many disks
//! cover them. A raster cell counts as in the zone when its centre is, and as
//! hit by a needle disk when its sample point lies within r of the puncture.
//! Sample points are shifted by a seeded random offset per small tile of
//! cells (`Layout::sample_shift`), so a disk's expected hit count is its
//! area for any position: the covered share and every hit share are
//! unbiased estimates of the true area shares for any fixed set of disks,
//! structured passes aligned with the raster included
//! (tests/engine/unbiased.rs).
//!
//! Every parallel step either writes disjoint memory or sums integers, so the
//! figures do not depend on the number of threads.

use crate::core::engine::simulate::Puncture;
use crate::core::geometry::layout::{Layout, SAMPLE_TILE_COLS, SPLAT_LANES, floor_i};
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

/// Heights of a disk centre within a cell, relative to the sample lattice,
/// for which the disk's half chords are tabulated: 2^PHASE_BITS.
const PHASE_BITS: u32 = 8;
const PHASES: usize = 1 << PHASE_BITS;

/// A needle disk's half chords, for every centre height in one 1/PHASES of
/// a cell: per row offset dj (from -reach to +reach), a half width within
/// which every sample point of the row is hit (for every centre height in
/// the slice and every radius of the table) and one beyond which none is,
/// in 1/65536 cells. The row's hit cells follow from the disk's exact
/// centre across; only the cells between the two widths (few, at 1/256-cell
/// heights) need the exact test, so every hit is exact.
struct DiskTable {
    reach: i64,
    /// [phase][row] -> (certain half width, possible half width), or -1
    /// where none.
    widths: Vec<[i32; 2]>,
    /// [phase] -> the first and last row offsets with any possible cell.
    extent: Vec<[i64; 2]>,
}

impl DiskTable {
    /// The table for disk radii `rc_lo ..= rc_hi` (raster cells). Built once
    /// per radius range per process.
    fn cached(rc_lo: f64, rc_hi: f64) -> std::sync::Arc<DiskTable> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock};
        type Cache = Mutex<HashMap<(u64, u64), Arc<DiskTable>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let key = (rc_lo.to_bits(), rc_hi.to_bits());
        if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return t.clone();
        }
        let table = Arc::new(DiskTable::new(rc_lo, rc_hi));
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, table.clone());
        table
    }

    fn new(rc_lo: f64, rc_hi: f64) -> DiskTable {
        // Margins far above rounding (a disk's radius is rounded to 1/65536
        // cell) and far below a cell: certain is kept certain and possible
        // possible.
        let (r_in, r_out) = (rc_lo * (1.0 - 1e-9) - 1e-4, rc_hi * (1.0 + 1e-9) + 1e-4);
        let reach = rc_hi.ceil() as i64 + 1;
        let rows = (2 * reach + 1) as usize;
        let (q, f) = (PHASES as f64, FIXED as f64);
        let mut widths = vec![[-1i32; 2]; PHASES * rows];
        for qv in 0..PHASES {
            // Centres at heights y0 .. y1 above the base row's sample points.
            let (y0, y1) = (qv as f64 / q, (qv + 1) as f64 / q);
            for (k, dj) in (-reach..=reach).enumerate() {
                let (lo, hi) = (dj as f64 - y1, dj as f64 - y0);
                let dy_far = lo.abs().max(hi.abs());
                let dy_near = if lo > 0.0 {
                    lo
                } else if hi < 0.0 {
                    -hi
                } else {
                    0.0
                };
                let w = &mut widths[qv * rows + k];
                if dy_far <= r_in {
                    w[0] = ((r_in * r_in - dy_far * dy_far).sqrt() * f).floor().min(i32::MAX as f64) as i32;
                }
                if dy_near <= r_out {
                    w[1] = ((r_out * r_out - dy_near * dy_near).sqrt() * f).ceil().min(i32::MAX as f64) as i32;
                }
            }
        }
        let extent = widths
            .chunks(rows)
            .map(|w| {
                let first = w.iter().position(|w| w[1] >= 0).unwrap_or(rows) as i64;
                let last = w.iter().rposition(|w| w[1] >= 0).map_or(-1, |k| k as i64);
                [first - reach, last - reach]
            })
            .collect();
        DiskTable { reach, widths, extent }
    }

    fn rows(&self) -> usize {
        (2 * self.reach + 1) as usize
    }
}

/// Adds every puncture's needle disk (radius `r_mm`) to the hit raster,
/// saturating at 255: a raster cell is hit when its sample point
/// ([`Layout::sample_shift`]) lies within `r_mm` of the puncture. Rows are split into bands written by one thread
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
    layout: Layout,
    reach: i64,
    tables: Vec<std::sync::Arc<DiskTable>>,
    /// Every disk of every band it meets, band by band and in each band
    /// tile by tile: band b's are `counts[b tiles] .. counts[(b + 1) tiles]`.
    located: Vec<Located>,
    counts: Vec<u32>,
}

/// A disk located in the raster: its centre in 1/65536 raster cells from
/// the raster's corner, its radius and its disk table.
#[derive(Clone, Copy)]
struct Located {
    x: i64,
    y: i64,
    /// Radius, 1/65536 raster cells.
    r_fixed: u32,
    table: u32,
}

/// The table key of a disk whose chart radius is `factor` times the flat one.
fn stretch_key(factor: f64) -> u32 {
    (factor * 256.0).round().clamp(1.0, 1e6) as u32
}

/// Fixed point of disk centres and sample shifts: 1/65536 of a raster cell.
const FIXED: i64 = 1 << 16;

impl SplatPlan {
    fn new(layout: &Layout, punctures: &[Puncture], r_mm: f64, cell_stretch: Option<&[f64]>) -> SplatPlan {
        let (nu, nv, stride, h, o) =
            (layout.raster_u(), layout.raster_v(), layout.raster_stride(), layout.h_mm, layout.origin_mm);
        // One disk table per chart radius met; each analysis cell names its table.
        let mut tables: Vec<std::sync::Arc<DiskTable>> = Vec::new();
        let mut keys: std::collections::BTreeMap<u32, u16> = std::collections::BTreeMap::new();
        let mut table_of = |factor: f64| -> u16 {
            let key = stretch_key(factor);
            *keys.entry(key).or_insert_with(|| {
                tables.push(match cell_stretch {
                    None => DiskTable::cached(r_mm / h, r_mm / h),
                    Some(_) => {
                        DiskTable::cached(r_mm / h * (key as f64 - 0.5) / 256.0, r_mm / h * (key as f64 + 0.5) / 256.0)
                    }
                });
                (tables.len() - 1) as u16
            })
        };
        let factor_of = |s: f64| if s > 0.0 && s.is_finite() { 1.0 / s.sqrt() } else { 1.0 };
        let cell_table: Vec<u16> = match cell_stretch {
            None => {
                table_of(1.0);
                Vec::new()
            }
            Some(s) => s.iter().map(|&s| table_of(factor_of(s))).collect(),
        };
        // The sample shift moves a disk's base cell by at most one.
        let reach = tables.iter().map(|t| t.reach).max().unwrap_or(0) + 1;
        let band_rows = layout.sub;
        let bands = nv.div_ceil(band_rows);
        let sub = layout.sub as i64;
        // Each puncture located once (the float work is most of a splat's
        // cost): its centre in fixed point and its disk table.
        let located: Vec<Located> = punctures
            .par_iter()
            .with_min_len(8192)
            .map(|p| {
                let (fx, fy) = ((p.u_mm as f64 - o.x) / h, (p.v_mm as f64 - o.y) / h);
                // Far outside the raster is as good as just outside it.
                let clamp = |f: f64| (f.clamp(-1e9, 1e9) * FIXED as f64) as i64;
                let (table, factor) = match cell_stretch {
                    None => (0, 1.0),
                    Some(st) => {
                        let cu = (floor_i(fx) / sub).clamp(0, layout.cells_u as i64 - 1) as usize;
                        let cv = (floor_i(fy) / sub).clamp(0, layout.cells_v as i64 - 1) as usize;
                        let c = cv * layout.cells_u + cu;
                        // Within its table's range of radii.
                        let f = factor_of(st[c]);
                        let key = stretch_key(f) as f64;
                        (cell_table[c] as u32, f.clamp((key - 0.5) / 256.0, (key + 0.5) / 256.0))
                    }
                };
                let r_fixed = (r_mm / h * factor * FIXED as f64).round().min(u32::MAX as f64) as u32;
                Located { x: clamp(fx), y: clamp(fy), r_fixed, table }
            })
            .collect();
        let tiles_u = nu.div_ceil(SAMPLE_TILE_COLS).max(1);
        let band_range = |p: &Located| -> Option<(usize, usize, usize)> {
            let by = p.y >> 16;
            let (j0, j1) = ((by - reach).max(0), (by + reach).min(nv as i64 - 1));
            let tile = ((p.x >> 16).clamp(0, nu as i64 - 1) as usize / SAMPLE_TILE_COLS).min(tiles_u - 1);
            (j1 >= j0).then(|| (j0 as usize / band_rows, j1 as usize / band_rows, tile))
        };
        // Bucket puncture indices by band (a disk may touch two bands), and
        // in each band by the sample tile of its centre.
        let (counts, bucket) = bucket_by_band_and(bands, tiles_u, located.iter().map(band_range));
        // The disks themselves in that order, so each band streams through its own.
        let located: Vec<Located> = bucket.par_iter().with_min_len(8192).map(|&i| located[i as usize]).collect();
        SplatPlan { layout: *layout, reach, nu, stride, band_rows, tables, located, counts }
    }

    /// Adds the disks of band `b` to `rows` (the band's raster rows): per
    /// sample tile a disk meets, the disk's rows from its exact centre across
    /// and the half chords of its height relative to that tile's sample
    /// lattice, clipped to the tile.
    fn band(&self, b: usize, rows: &mut [u8]) {
        let (nu, stride, band_rows, reach) = (self.nu, self.stride, self.band_rows, self.reach);
        let (tables, located, counts) = (&self.tables, &self.located, &self.counts);
        let first_row = (b * band_rows) as i64;
        let last_row = first_row + (rows.len() / stride) as i64 - 1;
        let tiles_u = nu.div_ceil(SAMPLE_TILE_COLS).max(1);
        let shifts: Vec<[i64; 2]> = (0..tiles_u).map(|tx| self.layout.sample_shift(b, tx).map(|v| v as i64)).collect();
        for &Located { x, y, r_fixed, table } in
            &located[counts[b * tiles_u] as usize..counts[(b + 1) * tiles_u] as usize]
        {
            let table = &tables[table as usize];
            let r2 = r_fixed as i64 * r_fixed as i64;
            let (cx, cy) = (x >> 16, y >> 16);
            // Rows and tiles the disk can reach, clipped to the band and raster.
            let (r0, r1) = ((cy - reach).max(first_row), (cy + reach).min(last_row));
            let (x0, x1) = ((cx - reach).max(0), (cx + reach).min(nu as i64 - 1));
            if r1 < r0 || x1 < x0 {
                continue;
            }
            let (sa, sb) = (x0 as usize / SAMPLE_TILE_COLS, x1 as usize / SAMPLE_TILE_COLS);
            for (tx, &[sx, sy]) in shifts.iter().enumerate().take(sb + 1).skip(sa) {
                // Cell (i, j)'s sample point (i + sx, j + sy) is within the
                // disk when (i F - a)^2 + (j F - c)^2 <= r^2: the centre
                // relative to the tile's sample lattice, in fixed point.
                let (a, c) = (x - sx, y - sy);
                let by = c >> 16;
                let phase = ((c >> (16 - PHASE_BITS)) as usize) & (PHASES - 1);
                let widths = &table.widths[phase * table.rows()..][..table.rows()];
                let (t0, t1) = ((tx * SAMPLE_TILE_COLS) as i64, ((tx + 1) * SAMPLE_TILE_COLS).min(nu) as i64);
                let [lo, hi] = table.extent[phase];
                for j in r0.max(by + lo)..=r1.min(by + hi) {
                    // (Within the extent every row has possible cells.)
                    let [wc, wp] = widths[(j - by + table.reach) as usize];
                    // Possible cells p0 .. p1 and certain ones c0 .. c1, in the tile.
                    let span = |w: i64| (((a - w + FIXED - 1) >> 16).max(t0), (((a + w) >> 16) + 1).min(t1));
                    let (p0, p1) = span(wp as i64);
                    if p1 <= p0 {
                        continue;
                    }
                    let (c0, c1) = if wc >= 0 { span(wc as i64) } else { (p0, p0) };
                    let row = &mut rows[(j - first_row) as usize * stride..][..stride];
                    if c0 == p0 && c1 == p1 {
                        // Most rows: no cell between certain and possible.
                        add_run(row, p0 as usize, (p1 - p0) as usize);
                        continue;
                    }
                    let dy = j * FIXED - c;
                    let room = r2 - dy * dy;
                    let hit = |i: i64| {
                        let dx = i * FIXED - a;
                        dx * dx <= room
                    };
                    // The hit cells of a row are one run: grow the certain
                    // run into the possible cells by the exact test (or
                    // find it, where no cell of the row is certain).
                    let (mut i0, mut i1) = (c0, c1);
                    if i1 <= i0 {
                        i0 = (p0..p1).find(|&i| hit(i)).unwrap_or(p1);
                        i1 = i0;
                    }
                    while i0 > p0 && hit(i0 - 1) {
                        i0 -= 1;
                    }
                    while i1 < p1 && hit(i1) {
                        i1 += 1;
                    }
                    add_run(row, i0 as usize, (i1 - i0) as usize);
                }
            }
        }
    }
}

/// Adds 1 to the `n` cells of `row` from `i0`, saturating: one 16-byte
/// add where the run fits (the row padding makes room).
#[inline(always)]
fn add_run(row: &mut [u8], i0: usize, n: usize) {
    if n <= SPLAT_LANES {
        let dst: &mut [u8; SPLAT_LANES] = (&mut row[i0..i0 + SPLAT_LANES]).try_into().expect("padded row");
        // Loaded, added and stored whole: one vector add.
        let (v, mask) = (*dst, &MASKS[n]);
        *dst = std::array::from_fn(|k| v[k].saturating_add(mask[k]));
    } else {
        // A disk row wider than a vector.
        for c in row[i0..i0 + n].iter_mut() {
            *c = c.saturating_add(1);
        }
    }
}

/// Indices bucketed by band: `counts[b]..counts[b + 1]` of `bucket` are the
/// items whose band range (first and last band, if any) holds band b.
fn bucket_by_band(bands: usize, ranges: impl Iterator<Item = Option<(usize, usize)>> + Clone) -> (Vec<u32>, Vec<u32>) {
    bucket_by_band_and(bands, 1, ranges.map(|r| r.map(|(b0, b1)| (b0, b1, 0))))
}

/// As [`bucket_by_band`], each band's items further ordered by a key
/// `0..per` (a disk's sample tile, so a band's disks come tile by tile and
/// the raster they write stays in cache): band b's are `counts[b per]..
/// counts[(b + 1) per]`.
fn bucket_by_band_and(
    bands: usize,
    per: usize,
    ranges: impl Iterator<Item = Option<(usize, usize, usize)>> + Clone,
) -> (Vec<u32>, Vec<u32>) {
    let keys = bands * per;
    let mut counts = vec![0u32; keys + 1];
    for (b0, b1, k) in ranges.clone().flatten() {
        for b in b0..=b1 {
            counts[b * per + k + 1] += 1;
        }
    }
    for key in 0..keys {
        counts[key + 1] += counts[key];
    }
    let mut fill = counts.clone();
    let mut bucket = vec![0u32; counts[keys] as usize];
    for (idx, r) in ranges.enumerate() {
        if let Some((b0, b1, k)) = r {
            for b in b0..=b1 {
                bucket[fill[b * per + k] as usize] = idx as u32;
                fill[b * per + k] += 1;
            }
        }
    }
    (counts, bucket)
}

/// Adds every puncture's channel as a capsule (the needle disk dragged by
/// `drags[k]`, chart mm) to the hit raster: a raster cell is hit when its
/// sample point (`Layout::sample_shift`) lies within `r_mm` of the segment
/// from the puncture to where the drag took it. Each row's run is the
/// capsule's exact chord at the tile's sample height (the capsule is convex:
/// the union of its two end disks' chords and its side band's). Slower than
/// [`splat`]'s tabulated disks; used only with `analysis.channel = "capsule"`.
pub fn splat_capsules(
    raster: &mut [u8],
    layout: &Layout,
    punctures: &[Puncture],
    drags: &[[f32; 2]],
    r_mm: f64,
    cell_stretch: Option<&[f64]>,
) {
    let (nu, nv, stride, h, o) =
        (layout.raster_u(), layout.raster_v(), layout.raster_stride(), layout.h_mm, layout.origin_mm);
    let sub = layout.sub as i64;
    // Per capsule: its ends and radius in raster cells.
    let caps: Vec<[f64; 5]> = punctures
        .iter()
        .zip(drags)
        .map(|(p, d)| {
            let (ax, ay) = ((p.u_mm as f64 - o.x) / h, (p.v_mm as f64 - o.y) / h);
            let rad = match cell_stretch {
                None => r_mm / h,
                Some(st) => {
                    let cu = (floor_i(ax) / sub).clamp(0, layout.cells_u as i64 - 1) as usize;
                    let cv = (floor_i(ay) / sub).clamp(0, layout.cells_v as i64 - 1) as usize;
                    let s = st[cv * layout.cells_u + cu];
                    r_mm / h / if s > 0.0 && s.is_finite() { s.sqrt() } else { 1.0 }
                }
            };
            [ax, ay, ax + d[0] as f64 / h, ay + d[1] as f64 / h, rad]
        })
        .collect();
    let band_rows = layout.sub;
    let bands = nv.div_ceil(band_rows);
    let rows_of = |c: &[f64; 5]| {
        let (y0, y1) = (c[1].min(c[3]) - c[4] - 1.0, c[1].max(c[3]) + c[4] + 1.0);
        let (j0, j1) = (y0.floor().max(0.0), y1.ceil().min(nv as f64 - 1.0));
        (j1 >= j0).then(|| (j0 as usize / band_rows, j1 as usize / band_rows))
    };
    let (counts, bucket) = bucket_by_band(bands, caps.iter().map(rows_of));
    let f = 1.0 / FIXED as f64;
    raster.par_chunks_mut(stride * band_rows).enumerate().for_each(|(b, rows)| {
        let first_row = b * band_rows;
        let n_rows = rows.len() / stride;
        for &idx in &bucket[counts[b] as usize..counts[b + 1] as usize] {
            let [ax, ay, bx, by, rad] = caps[idx as usize];
            let (len, (ux, uy)) = {
                let (dx, dy) = (bx - ax, by - ay);
                let l = (dx * dx + dy * dy).sqrt();
                (l, if l > 0.0 { (dx / l, dy / l) } else { (1.0, 0.0) })
            };
            let (x_lo, x_hi) = (ax.min(bx) - rad - 1.0, ax.max(bx) + rad + 1.0);
            let (y_lo, y_hi) = (ay.min(by) - rad - 1.0, ay.max(by) + rad + 1.0);
            let j0 = (y_lo.floor().max(first_row as f64)) as usize;
            let j1 = (y_hi.ceil().min((first_row + n_rows) as f64 - 1.0)).max(-1.0);
            if j1 < j0 as f64 || x_hi < 0.0 || x_lo >= nu as f64 {
                continue;
            }
            let (t0, t1) =
                ((x_lo.max(0.0) as usize) / SAMPLE_TILE_COLS, (x_hi.min(nu as f64 - 1.0) as usize) / SAMPLE_TILE_COLS);
            for j in j0..=j1 as usize {
                let ty = j / band_rows;
                let row = &mut rows[(j - first_row) * stride..][..stride];
                for tx in t0..=t1 {
                    let [sx, sy] = layout.sample_shift(ty, tx);
                    let y = j as f64 + sy as f64 * f;
                    // The chord of x where (x, y) lies within the capsule.
                    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                    for (cx, cy) in [(ax, ay), (bx, by)] {
                        let dy = y - cy;
                        if dy.abs() <= rad {
                            let w = (rad * rad - dy * dy).sqrt();
                            lo = lo.min(cx - w);
                            hi = hi.max(cx + w);
                        }
                    }
                    if len > 0.0 {
                        // 0 <= (x - ax) ux + (y - ay) uy <= len and
                        // |ux (y - ay) - uy (x - ax)| <= rad, each linear in x.
                        let (mut a, mut e) = (f64::NEG_INFINITY, f64::INFINITY);
                        for (value, slope, min, max) in
                            [((y - ay) * uy - ax * ux, ux, 0.0, len), (ux * (y - ay) + uy * ax, -uy, -rad, rad)]
                        {
                            if slope.abs() < 1e-12 {
                                if value < min || value > max {
                                    a = f64::INFINITY;
                                }
                            } else {
                                let (p, q) = ((min - value) / slope, (max - value) / slope);
                                a = a.max(p.min(q));
                                e = e.min(p.max(q));
                            }
                        }
                        if e >= a {
                            lo = lo.min(a);
                            hi = hi.max(e);
                        }
                    }
                    if hi < lo {
                        continue;
                    }
                    // Cells i whose sample point i + sx lies in [lo, hi], in the tile.
                    let sxf = sx as f64 * f;
                    let c0 = (tx * SAMPLE_TILE_COLS) as f64;
                    let c1 = ((tx + 1) * SAMPLE_TILE_COLS).min(nu) as f64;
                    let i0 = (lo - sxf).ceil().max(c0);
                    let i1 = ((hi - sxf).floor() + 1.0).min(c1);
                    if i1 > i0 {
                        for c in row[i0 as usize..i1 as usize].iter_mut() {
                            *c = c.saturating_add(1);
                        }
                    }
                }
            }
        }
    });
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

    /// Every raster cell of a splat against a plain count in floating point:
    /// a cell is hit as often as its sample point lies within a disk, for
    /// disks at every sub-cell position, flat and stretched (the disk's chart
    /// radius taken from its centre's analysis cell), tile edges included.
    /// Points within 1e-4 cells of a disk's edge (fixed-point rounding) are
    /// left out of the comparison.
    #[test]
    fn every_splatted_cell_counts_the_disks_over_its_sample_point() {
        let region = Region {
            outline: Shape::Polygon {
                vertices_mm: vec![Vec2::new(0.0, 0.0), Vec2::new(12.0, 0.0), Vec2::new(12.0, 9.0), Vec2::new(0.0, 9.0)],
            },
            avoid: vec![],
        };
        let r = 0.125;
        let layout = Layout::new(&region, 2.0, r).with_sample_seed(77);
        let (h, o, sub) = (layout.h_mm, layout.origin_mm, layout.sub);
        let (nu, nv, stride) = (layout.raster_u(), layout.raster_v(), layout.raster_stride());
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let punctures: Vec<Puncture> = (0..6_000)
            .map(|i| {
                Puncture::new(Vec2::new(rng.random::<f64>() * 12.6 - 0.3, rng.random::<f64>() * 9.6 - 0.3), i as f64, 0)
            })
            .collect();
        let stretch: Vec<f64> = (0..layout.cells()).map(|c| 0.6 + (c % 9) as f64 * 0.15).collect();
        for st in [None, Some(stretch.as_slice())] {
            let mut raster = vec![0u8; layout.raster_cells() as usize];
            splat(&mut raster, &layout, &punctures, r, st);
            let mut want = vec![0u32; nu * nv];
            let mut ties = vec![false; nu * nv];
            for p in &punctures {
                let (fx, fy) = ((p.u_mm as f64 - o.x) / h, (p.v_mm as f64 - o.y) / h);
                let factor = st.map_or(1.0, |st| {
                    let cu = (fx.floor() as i64 / sub as i64).clamp(0, layout.cells_u as i64 - 1) as usize;
                    let cv = (fy.floor() as i64 / sub as i64).clamp(0, layout.cells_v as i64 - 1) as usize;
                    1.0 / st[cv * layout.cells_u + cu].sqrt()
                });
                let rad = r / h * factor;
                let (j0, j1) = ((fy - rad - 2.0).floor().max(0.0) as usize, ((fy + rad + 2.0).ceil() as usize).min(nv));
                let (i0, i1) = ((fx - rad - 2.0).floor().max(0.0) as usize, ((fx + rad + 2.0).ceil() as usize).min(nu));
                for j in j0..j1 {
                    for i in i0..i1 {
                        let [sx, sy] = layout.sample_shift(j / sub, i / SAMPLE_TILE_COLS);
                        let (x, y) = (i as f64 + sx as f64 / 65536.0, j as f64 + sy as f64 / 65536.0);
                        let d = ((x - fx).powi(2) + (y - fy).powi(2)).sqrt();
                        want[j * nu + i] += (d <= rad) as u32;
                        ties[j * nu + i] |= (d - rad).abs() < 1e-4;
                    }
                }
            }
            let (mut compared, mut hit) = (0usize, 0usize);
            for j in 0..nv {
                for i in 0..nu {
                    if ties[j * nu + i] {
                        continue;
                    }
                    let got = raster[j * stride + i] as u32;
                    assert_eq!(got, want[j * nu + i], "cell ({i}, {j}), stretched: {}", st.is_some());
                    compared += 1;
                    hit += (got > 0) as usize;
                }
            }
            assert!(compared > nu * nv * 99 / 100 && hit > compared / 4, "{compared} cells compared, {hit} hit");
        }
    }

    /// The splat against its own rule, every cell, no tolerance: cell (i, j)
    /// is hit by a located disk when its sample point lies within the disk in
    /// fixed point, (i F - (x - sx))^2 + (j F - (y - sy))^2 <= r^2, so no
    /// rounding margin of the tables can hide in cells left out. (The test
    /// above checks the locating in floating point.)
    #[test]
    fn every_splatted_cell_obeys_the_fixed_point_rule_exactly() {
        let region = Region {
            outline: Shape::Polygon {
                vertices_mm: vec![Vec2::new(0.0, 0.0), Vec2::new(12.0, 0.0), Vec2::new(12.0, 9.0), Vec2::new(0.0, 9.0)],
            },
            avoid: vec![],
        };
        let r = 0.125;
        let layout = Layout::new(&region, 2.0, r).with_sample_seed(91);
        let (nu, nv, stride, sub) = (layout.raster_u(), layout.raster_v(), layout.raster_stride(), layout.sub);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(8);
        let punctures: Vec<Puncture> = (0..6_000)
            .map(|i| {
                Puncture::new(Vec2::new(rng.random::<f64>() * 12.6 - 0.3, rng.random::<f64>() * 9.6 - 0.3), i as f64, 0)
            })
            .collect();
        let stretch: Vec<f64> = (0..layout.cells()).map(|c| 0.6 + (c % 9) as f64 * 0.15).collect();
        let tiles_u = nu.div_ceil(SAMPLE_TILE_COLS).max(1);
        for st in [None, Some(stretch.as_slice())] {
            let mut raster = vec![0u8; layout.raster_cells() as usize];
            splat(&mut raster, &layout, &punctures, r, st);
            let plan = SplatPlan::new(&layout, &punctures, r, st);
            let mut want = vec![0u32; nu * nv];
            for b in 0..nv.div_ceil(sub) {
                let disks = &plan.located[plan.counts[b * tiles_u] as usize..plan.counts[(b + 1) * tiles_u] as usize];
                for d in disks {
                    let r2 = d.r_fixed as i64 * d.r_fixed as i64;
                    let (cx, span) = (d.x >> 16, (d.r_fixed >> 16) as i64 + 3);
                    for j in b * sub..((b + 1) * sub).min(nv) {
                        for i in (cx - span).max(0)..(cx + span + 1).min(nu as i64) {
                            let [sx, sy] = layout.sample_shift(b, i as usize / SAMPLE_TILE_COLS).map(|v| v as i64);
                            let (dx, dy) = (i * FIXED - (d.x - sx), j as i64 * FIXED - (d.y - sy));
                            want[j * nu + i as usize] += (dx * dx + dy * dy <= r2) as u32;
                        }
                    }
                }
            }
            let mut hit = 0;
            for j in 0..nv {
                for i in 0..nu {
                    let got = raster[j * stride + i] as u32;
                    assert_eq!(got, want[j * nu + i].min(255), "cell ({i}, {j}), stretched: {}", st.is_some());
                    hit += (got > 0) as usize;
                }
            }
            assert!(hit > nu * nv / 4, "{hit} cells hit");
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
