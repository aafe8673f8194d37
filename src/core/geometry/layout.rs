//! The analysis grid of a zone: analysis cells of `cell_mm`, each split into
//! `sub x sub` raster cells of side `h <= r / 4` (r = needle radius) that
//! divide the analysis cell exactly, and the raster's in-zone spans.

use crate::core::geometry::shape::{Avoid, Region, Vec2};
use rayon::prelude::*;

/// floor(x) as an integer without a libm call (baseline x86-64 has no
/// rounding instruction); exact for |x| < 2^52.
#[inline(always)]
pub(crate) fn floor_i(x: f64) -> i64 {
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
    /// Lower-left corner of the grid in the chart (the region's bounding box), mm.
    pub origin_mm: Vec2,
    /// Side of an analysis cell, mm.
    pub cell_mm: f64,
    /// Raster cells per analysis cell side.
    pub sub: usize,
    /// Side of a raster cell (`cell_mm / sub`), mm.
    pub h_mm: f64,
    /// Analysis cells across.
    pub cells_u: usize,
    /// Analysis cells up.
    pub cells_v: usize,
    /// Seed of the raster's sample points (see [`Layout::sample_shift`]).
    pub sample_seed: u32,
}

impl Layout {
    /// Covers the region's bounding box with analysis cells of `cell_mm` and
    /// picks `sub` so that raster cells are at most a quarter of the needle radius.
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
            sample_seed: 0,
        }
    }
    /// The same grid with its sample points drawn from `seed`.
    pub fn with_sample_seed(self, seed: u32) -> Layout {
        Layout { sample_seed: seed, ..self }
    }
    /// Where the raster cells of sample tile (`ty`, `tx`) (rows
    /// `sub ty ..`, one row of analysis cells, columns `SAMPLE_TILE_COLS tx ..`) are
    /// sampled: offsets across and up within a cell, in 1/65536 of a cell.
    /// Cell (i, j) of the tile is hit by a disk when the point
    /// (i + x / 65536, j + y / 65536) lies within it.
    ///
    /// The pair is a bijective 32-bit hash of the tile's position xor the
    /// seed, so over a uniformly drawn seed every cell's sample point is
    /// uniform in the cell: the expected hit count of every cell is the
    /// disks' area in it, for any fixed set of disks. Tiles are independent
    /// draws, so a boundary row of a structured pattern averages over many
    /// sample points.
    #[inline]
    pub fn sample_shift(&self, ty: usize, tx: usize) -> [u32; 2] {
        let key = (ty as u32).wrapping_mul(0x9E37_79B1) ^ (tx as u32).wrapping_mul(0x85EB_CA77).rotate_left(16);
        let h = lowbias32(key ^ self.sample_seed);
        [h >> 16, h & 0xffff]
    }

    /// Raster cells across (`cells_u x sub`).
    pub fn raster_u(&self) -> usize {
        self.cells_u.saturating_mul(self.sub)
    }
    /// Raster cells up (`cells_v x sub`).
    pub fn raster_v(&self) -> usize {
        self.cells_v.saturating_mul(self.sub)
    }
    /// Bytes per raster row: the row plus 16 bytes of padding, so a disk row
    /// can always be added as one 16-byte vector.
    pub fn raster_stride(&self) -> usize {
        self.raster_u().saturating_add(SPLAT_LANES)
    }
    /// Raster cells including the row padding (`raster_stride() x raster_v()`), one byte each.
    pub fn raster_cells(&self) -> u64 {
        (self.raster_stride() as u64).saturating_mul(self.raster_v() as u64)
    }
    /// Analysis cells in all (`cells_u x cells_v`).
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

/// A bijective 32-bit integer hash (Chris Wellons' lowbias32): every step is
/// invertible, so a uniform input gives a uniform output.
#[inline(always)]
pub(crate) fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Spans `[i0, i1)` of raster cells whose centres lie in the region, per raster row.
pub fn treatable_spans(region: &Region, layout: &Layout) -> Vec<Vec<(u32, u32)>> {
    let (nu, h, o) = (layout.raster_u(), layout.h_mm, layout.origin_mm);
    (0..layout.raster_v())
        .into_par_iter()
        .map(|j| {
            let y = o.y + (j as f64 + 0.5) * h;
            region
                .line_intervals(Vec2::new(0.0, y), Vec2::new(1.0, 0.0), Avoid::Cut)
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

/// Raster columns of a sample tile (see [`Layout::sample_shift`]); its
/// rows are one row of analysis cells (`sub`), the splat's band, so a disk
/// meets one tile row per band.
pub const SAMPLE_TILE_COLS: usize = 64;

/// Width of the vector a disk row is added with: every raster row has this
/// many bytes of padding, so a disk row can always be added as one vector.
pub const SPLAT_LANES: usize = 16;
