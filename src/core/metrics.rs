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

use super::geometry::{Region, Vec2};
use super::simulate::{Puncture, ZoneRun};
use rayon::prelude::*;
use serde::Serialize;

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
        let sub = (cell_mm / (needle_radius_mm / RASTER_CELLS_PER_RADIUS))
            .ceil()
            .max(1.0) as usize;
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
        self.cells_u * self.sub
    }
    pub fn raster_v(&self) -> usize {
        self.cells_v * self.sub
    }
    pub fn raster_cells(&self) -> u64 {
        self.raster_u() as u64 * self.raster_v() as u64
    }
    pub fn cells(&self) -> usize {
        self.cells_u * self.cells_v
    }
    /// Analysis cell of a chart point, if inside the grid.
    pub fn cell_of(&self, p: Vec2) -> Option<usize> {
        let q = (p - self.origin_mm) / self.cell_mm;
        let (cu, cv) = (q.x.floor(), q.y.floor());
        if cu < 0.0 || cv < 0.0 || cu >= self.cells_u as f64 || cv >= self.cells_v as f64 {
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

/// Adds every puncture's needle disk (radius `r_mm`) to the hit raster,
/// saturating at 255. Rows are split into bands written by one thread each.
pub fn splat(raster: &mut [u8], layout: &Layout, punctures: &[Puncture], r_mm: f64) {
    let (nu, nv, h, o) = (
        layout.raster_u(),
        layout.raster_v(),
        layout.h_mm,
        layout.origin_mm,
    );
    let band_rows = layout.sub;
    let bands = nv.div_ceil(band_rows);
    let rc = r_mm / h;
    let row_range = |p: &Puncture| -> Option<(usize, usize)> {
        let fy = (p.pos_mm.y - o.y) / h;
        let j0 = (fy - rc - 0.5).ceil().max(0.0);
        let j1 = (fy + rc - 0.5).floor().min(nv as f64 - 1.0);
        (j1 >= j0).then_some((j0 as usize, j1 as usize))
    };
    // Bucket puncture indices by band (a disk may touch two bands).
    let mut counts = vec![0u32; bands + 1];
    for p in punctures {
        if let Some((j0, j1)) = row_range(p) {
            for b in j0 / band_rows..=j1 / band_rows {
                counts[b + 1] += 1;
            }
        }
    }
    for b in 0..bands {
        counts[b + 1] += counts[b];
    }
    let mut fill = counts.clone();
    let mut bucket = vec![0u32; counts[bands] as usize];
    for (idx, p) in punctures.iter().enumerate() {
        if let Some((j0, j1)) = row_range(p) {
            for b in j0 / band_rows..=j1 / band_rows {
                bucket[fill[b] as usize] = idx as u32;
                fill[b] += 1;
            }
        }
    }
    raster
        .par_chunks_mut(nu * band_rows)
        .enumerate()
        .for_each(|(b, rows)| {
            let first_row = b * band_rows;
            let last_row = first_row + rows.len() / nu - 1;
            for &idx in &bucket[counts[b] as usize..counts[b + 1] as usize] {
                let p = &punctures[idx as usize];
                let (fx, fy) = ((p.pos_mm.x - o.x) / h, (p.pos_mm.y - o.y) / h);
                let Some((j0, j1)) = row_range(p) else {
                    continue;
                };
                for j in j0.max(first_row)..=j1.min(last_row) {
                    let dy = j as f64 + 0.5 - fy;
                    let half = (rc * rc - dy * dy).max(0.0).sqrt();
                    let i0 = (fx - half - 0.5).ceil().max(0.0) as usize;
                    let i1 = ((fx + half - 0.5).floor() + 1.0).clamp(0.0, nu as f64) as usize;
                    if i1 > i0 {
                        let row = &mut rows[(j - first_row) * nu..(j - first_row + 1) * nu];
                        for c in &mut row[i0..i1] {
                            *c = c.saturating_add(1);
                        }
                    }
                }
            }
        });
}

/// Per analysis cell: how many of its in-zone raster cells are hit 0, 1, 2 and 3+ times.
pub fn classify(raster: &[u8], layout: &Layout, spans: &[Vec<(u32, u32)>]) -> Vec<[u32; 4]> {
    let (nu, sub, cu) = (layout.raster_u(), layout.sub, layout.cells_u);
    let mut out = vec![[0u32; 4]; layout.cells()];
    out.par_chunks_mut(cu).enumerate().for_each(|(cv, cells)| {
        for j in cv * sub..(cv + 1) * sub {
            let row = &raster[j * nu..(j + 1) * nu];
            for &(i0, i1) in &spans[j] {
                for i in i0 as usize..i1 as usize {
                    cells[i / sub][(row[i] as usize).min(3)] += 1;
                }
            }
        }
    });
    out
}

/// Share of punctures whose centre lies within `d_mm` of an earlier puncture's
/// centre (`punctures` in time order).
pub fn overlap_count(punctures: &[Puncture], d_mm: f64) -> u64 {
    if punctures.is_empty() {
        return 0;
    }
    let (mut lo, mut hi) = (punctures[0].pos_mm, punctures[0].pos_mm);
    for p in punctures {
        lo = lo.inf(&p.pos_mm);
        hi = hi.sup(&p.pos_mm);
    }
    let gu = (((hi.x - lo.x) / d_mm).floor() as usize) + 1;
    let gv = (((hi.y - lo.y) / d_mm).floor() as usize) + 1;
    let cell = |p: &Vec2| -> (usize, usize) {
        (
            (((p.x - lo.x) / d_mm) as usize).min(gu - 1),
            (((p.y - lo.y) / d_mm) as usize).min(gv - 1),
        )
    };
    // Counting sort by grid cell keeps each cell's list in time order.
    let mut start = vec![0u32; gu * gv + 1];
    for p in punctures {
        let (u, v) = cell(&p.pos_mm);
        start[v * gu + u + 1] += 1;
    }
    for i in 0..gu * gv {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; punctures.len()];
    for (i, p) in punctures.iter().enumerate() {
        let (u, v) = cell(&p.pos_mm);
        let c = v * gu + u;
        order[fill[c] as usize] = i as u32;
        fill[c] += 1;
    }
    let d2 = d_mm * d_mm;
    (0..punctures.len())
        .into_par_iter()
        .filter(|&i| {
            let p = punctures[i].pos_mm;
            let (u, v) = cell(&p);
            for nv in v.saturating_sub(1)..=(v + 1).min(gv - 1) {
                for nu in u.saturating_sub(1)..=(u + 1).min(gu - 1) {
                    let c = nv * gu + nu;
                    for &j in &order[start[c] as usize..start[c + 1] as usize] {
                        if j as usize >= i {
                            break; // the rest of the list is later
                        }
                        if (punctures[j as usize].pos_mm - p).norm_squared() < d2 {
                            return true;
                        }
                    }
                }
            }
            false
        })
        .count() as u64
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

/// Cumulative figures after one pass.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PassMetrics {
    pub pattern: String,
    pub punctures: u64,
    pub coverage_after: f64,
    pub density_after_per_cm2: f64,
}

/// The figures of one zone (field names are the report.json contract).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneMetrics {
    pub name: String,
    /// True treatable area (outline minus avoid regions), cm2.
    pub area_cm2: f64,
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
        (self.cell_area_mm2[c] > 0.0)
            .then(|| self.cell_punctures[c] as f64 / self.cell_area_mm2[c] * 100.0)
    }
}

/// Longest side of the hit preview, px.
pub const HIT_PREVIEW_MAX_PX: usize = 1200;

/// Measures one zone. `labels` are the pass patterns, in order.
pub fn measure_zone(
    name: &str,
    region: &Region,
    target_per_cm2: Option<[f64; 2]>,
    labels: &[String],
    run: &ZoneRun,
    needle_diameter_mm: f64,
    cell_mm: f64,
) -> (ZoneMetrics, ZoneField) {
    let r = needle_diameter_mm / 2.0;
    let layout = Layout::new(region, cell_mm, r);
    let spans = treatable_spans(region, &layout);
    let subcell_mm2 = layout.h_mm * layout.h_mm;

    let mut raster = vec![0u8; layout.raster_cells() as usize];
    let mut classes = Vec::new();
    let mut passes = Vec::with_capacity(labels.len());
    // In-zone raster cells per analysis cell, and their true area: flat here.
    let coverage_of = |classes: &[[u32; 4]]| {
        let (mut hit, mut all) = (0u64, 0u64);
        for c in classes {
            all += c.iter().map(|&x| x as u64).sum::<u64>();
            hit += (c[1] + c[2] + c[3]) as u64;
        }
        if all == 0 {
            0.0
        } else {
            hit as f64 / all as f64
        }
    };
    let inzone: Vec<u32>;
    {
        let first = classify(&raster, &layout, &spans);
        inzone = first.iter().map(|c| c.iter().sum()).collect();
    }
    let cell_area_mm2: Vec<f64> = inzone.iter().map(|&n| n as f64 * subcell_mm2).collect();
    let area_mm2: f64 = cell_area_mm2.iter().sum();
    let mut cumulative = 0u64;
    for (pi, label) in labels.iter().enumerate() {
        let range = run.pass_ranges.get(pi).cloned().unwrap_or(0..0);
        splat(&mut raster, &layout, &run.punctures[range.clone()], r);
        classes = classify(&raster, &layout, &spans);
        cumulative += range.len() as u64;
        passes.push(PassMetrics {
            pattern: label.clone(),
            punctures: range.len() as u64,
            coverage_after: coverage_of(&classes),
            density_after_per_cm2: per_cm2(cumulative as f64, area_mm2),
        });
    }
    if labels.is_empty() {
        classes = classify(&raster, &layout, &spans);
    }
    let mut hit_shares = [0.0; 4];
    let all: u64 = inzone.iter().map(|&n| n as u64).sum();
    for c in &classes {
        for k in 0..4 {
            hit_shares[k] += c[k] as f64;
        }
    }
    if all > 0 {
        for s in &mut hit_shares {
            *s /= all as f64;
        }
    }

    let mut cell_punctures = vec![0u32; layout.cells()];
    for p in &run.punctures {
        if let Some(c) = layout.cell_of(p.pos_mm) {
            cell_punctures[c] += 1;
        }
    }
    let full_cell = (layout.sub * layout.sub) as u32;
    let cell_in_spread: Vec<bool> = inzone
        .iter()
        .map(|&n| 2 * n >= full_cell && n > 0)
        .collect();
    let mut samples: Vec<(f64, f64)> = (0..layout.cells())
        .filter(|&c| cell_in_spread[c])
        .map(|c| {
            (
                per_cm2(cell_punctures[c] as f64, cell_area_mm2[c]),
                cell_area_mm2[c],
            )
        })
        .collect();
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let wsum: f64 = samples.iter().map(|s| s.1).sum();
    let wmean = if wsum > 0.0 {
        samples.iter().map(|(v, w)| v * w).sum::<f64>() / wsum
    } else {
        0.0
    };
    let wvar = if wsum > 0.0 {
        samples
            .iter()
            .map(|(v, w)| w * (v - wmean).powi(2))
            .sum::<f64>()
            / wsum
    } else {
        0.0
    };
    let n = run.punctures.len() as u64;
    let density = DensityStats {
        mean: per_cm2(n as f64, area_mm2),
        p5: weighted_percentile(&samples, 0.05),
        p50: weighted_percentile(&samples, 0.50),
        p95: weighted_percentile(&samples, 0.95),
        cv: if wmean > 0.0 {
            wvar.sqrt() / wmean
        } else {
            0.0
        },
    };
    let (under_fraction, over_fraction) = match target_per_cm2 {
        Some([lo, hi]) if wsum > 0.0 => {
            let under: f64 = samples.iter().filter(|(v, _)| *v < lo).map(|s| s.1).sum();
            let over: f64 = samples.iter().filter(|(v, _)| *v > hi).map(|s| s.1).sum();
            (Some(under / wsum), Some(over / wsum))
        }
        _ => (None, None),
    };
    let overlap = overlap_count(&run.punctures, needle_diameter_mm);

    let hits_preview = hit_preview(&raster, &layout, &spans);
    let metrics = ZoneMetrics {
        name: name.to_string(),
        area_cm2: area_mm2 / 100.0,
        punctures: n,
        avoid_violations: run.violations.len() as u64,
        density_per_cm2: density,
        coverage_fraction: hit_shares[1] + hit_shares[2] + hit_shares[3],
        overlap_fraction: if n > 0 {
            overlap as f64 / n as f64
        } else {
            0.0
        },
        hit_shares,
        under_fraction,
        over_fraction,
        target_per_cm2,
        passes,
        time_s: run.time_s,
        path_length_mm: run.path_length_mm,
        stamps: run.stamps,
        outside_punctures: run.outside,
        cells_in_spread: samples.len() as u64,
        raster_mm: layout.h_mm,
    };
    let field = ZoneField {
        layout,
        cell_punctures,
        cell_area_mm2,
        cell_in_spread,
        hits_preview,
    };
    (metrics, field)
}

fn per_cm2(count: f64, area_mm2: f64) -> f64 {
    if area_mm2 > 0.0 {
        count / area_mm2 * 100.0
    } else {
        0.0
    }
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
                    classes[y * width + x] = raster[j * nu + i].min(3);
                }
            }
        }
    }
    HitPreview {
        width,
        height,
        px_mm: layout.h_mm * step as f64,
        classes,
    }
}
