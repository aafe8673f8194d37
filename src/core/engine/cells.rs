//! Analysis cells: punctures per cell and the density spread over cells.

use crate::core::engine::simulate::Puncture;
use crate::core::geometry::layout::Layout;
use rayon::prelude::*;
use serde::Serialize;

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

/// Density spread over analysis cells (those at least half inside the zone),
/// punctures per cm2.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DensityStats {
    /// Punctures of the zone over its true area.
    pub mean: f64,
    /// 5th percentile of cell density (weighted by cell area).
    pub p5: f64,
    /// Median cell density (weighted by cell area).
    pub p50: f64,
    /// 95th percentile of cell density (weighted by cell area).
    pub p95: f64,
    /// Coefficient of variation of cell density: area-weighted standard deviation over mean (0 = even).
    pub cv: f64,
}
