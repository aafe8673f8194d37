//! The metrics of a zone that studies compare: every figure `simulate`
//! reports per zone that varies from run to run, with its key (as in
//! compare.csv and compare.json), label, unit and how it combines over zones.

use crate::core::engine::zone::ZoneMetrics;
use serde::Serialize;

/// A metric of a zone, as compared. Its position in [`Metric::ALL`] is its
/// index in a run's metric rows ([`Metric::index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of the zone covered by at least one needle disk.
    Coverage,
    /// Mean punctures per cm².
    DensityMean,
    /// 5th percentile of the cell densities.
    DensityP5,
    /// Median cell density.
    DensityP50,
    /// 95th percentile of the cell densities.
    DensityP95,
    /// Coefficient of variation of the cell densities.
    Cv,
    /// Share of punctures within a needle diameter of an earlier one.
    Overlap,
    /// Share of the zone hit by no needle disk.
    Hits0,
    /// Share hit by exactly one disk.
    Hits1,
    /// Share hit by exactly two disks.
    Hits2,
    /// Share hit by three or more disks.
    Hits3Plus,
    /// Share of the zone under the target band.
    Under,
    /// Share of the zone over the target band.
    Over,
    /// Share of the zone within the target band.
    InBand,
    /// Treatment time, s.
    Time,
    /// Punctures made.
    Punctures,
    /// Length of the hand's path, mm.
    PathLength,
    /// Punctures in avoid regions.
    AvoidHits,
}

/// What a metric's number counts, for formatting and the CSV's unit column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A share from 0 to 1.
    Fraction,
    /// Punctures per cm².
    PerCm2,
    /// A ratio without unit (the CV).
    Ratio,
    /// Seconds.
    Seconds,
    /// Millimetres.
    Mm,
    /// A whole count.
    Count,
}

impl Unit {
    /// The unit as written in compare.csv and compare.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Fraction => "fraction",
            Unit::PerCm2 => "/cm²",
            Unit::Seconds => "s",
            Unit::Mm => "mm",
            Unit::Ratio | Unit::Count => "",
        }
    }
}

impl Metric {
    /// Every metric of `simulate`, in report order.
    pub const ALL: [Metric; 18] = [
        Metric::Coverage,
        Metric::DensityMean,
        Metric::DensityP5,
        Metric::DensityP50,
        Metric::DensityP95,
        Metric::Cv,
        Metric::Overlap,
        Metric::Hits0,
        Metric::Hits1,
        Metric::Hits2,
        Metric::Hits3Plus,
        Metric::Under,
        Metric::Over,
        Metric::InBand,
        Metric::Time,
        Metric::Punctures,
        Metric::PathLength,
        Metric::AvoidHits,
    ];

    /// Its index in a run's metric rows (its place in [`Metric::ALL`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The key in compare.csv and compare.json.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Coverage => "coverage",
            Metric::DensityMean => "density_mean",
            Metric::DensityP5 => "density_p5",
            Metric::DensityP50 => "density_p50",
            Metric::DensityP95 => "density_p95",
            Metric::Cv => "cv",
            Metric::Overlap => "overlap",
            Metric::Hits0 => "hits_0",
            Metric::Hits1 => "hits_1",
            Metric::Hits2 => "hits_2",
            Metric::Hits3Plus => "hits_3plus",
            Metric::Under => "under",
            Metric::Over => "over",
            Metric::InBand => "in_band",
            Metric::Time => "time_s",
            Metric::Punctures => "punctures",
            Metric::PathLength => "path_mm",
            Metric::AvoidHits => "avoid_hits",
        }
    }

    /// The label in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Coverage => "coverage",
            Metric::DensityMean => "density mean",
            Metric::DensityP5 => "density p5",
            Metric::DensityP50 => "density p50",
            Metric::DensityP95 => "density p95",
            Metric::Cv => "CV",
            Metric::Overlap => "overlap",
            Metric::Hits0 => "hit 0×",
            Metric::Hits1 => "hit 1×",
            Metric::Hits2 => "hit 2×",
            Metric::Hits3Plus => "hit 3+×",
            Metric::Under => "under target",
            Metric::Over => "over target",
            Metric::InBand => "in band",
            Metric::Time => "time",
            Metric::Punctures => "punctures",
            Metric::PathLength => "hand path",
            Metric::AvoidHits => "avoid hits",
        }
    }

    /// What its number counts.
    pub fn unit(self) -> Unit {
        match self {
            Metric::DensityMean | Metric::DensityP5 | Metric::DensityP50 | Metric::DensityP95 => Unit::PerCm2,
            Metric::Cv => Unit::Ratio,
            Metric::Time => Unit::Seconds,
            Metric::PathLength => Unit::Mm,
            Metric::Punctures | Metric::AvoidHits => Unit::Count,
            _ => Unit::Fraction,
        }
    }

    /// How it combines over zones: summed (time, counts), else area-weighted.
    pub fn summed(self) -> bool {
        matches!(self, Metric::Time | Metric::Punctures | Metric::PathLength | Metric::AvoidHits)
    }

    /// Its value for a zone (None where the zone has none, e.g. no target).
    pub fn of(self, z: &ZoneMetrics) -> Option<f64> {
        Some(match self {
            Metric::Coverage => z.coverage_fraction,
            Metric::DensityMean => z.density_per_cm2.mean,
            Metric::DensityP5 => z.density_per_cm2.p5,
            Metric::DensityP50 => z.density_per_cm2.p50,
            Metric::DensityP95 => z.density_per_cm2.p95,
            Metric::Cv => z.density_per_cm2.cv,
            Metric::Overlap => z.overlap_fraction,
            Metric::Hits0 => z.hit_shares[0],
            Metric::Hits1 => z.hit_shares[1],
            Metric::Hits2 => z.hit_shares[2],
            Metric::Hits3Plus => z.hit_shares[3],
            Metric::Under => z.under_fraction?,
            Metric::Over => z.over_fraction?,
            Metric::InBand => 1.0 - z.under_fraction? - z.over_fraction?,
            Metric::Time => z.time_s,
            Metric::Punctures => z.punctures as f64,
            Metric::PathLength => z.path_length_mm,
            Metric::AvoidHits => z.avoid_violations as f64,
        })
    }

    /// The metric of a key.
    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }
}

/// One zone's figures in one run (or all zones' together), one value per
/// metric (NaN where the zone has none, e.g. no target band).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MetricRow(pub [f64; Metric::ALL.len()]);

impl MetricRow {
    /// The row of one zone's figures.
    pub fn of(z: &ZoneMetrics) -> MetricRow {
        MetricRow(Metric::ALL.map(|m| m.of(z).unwrap_or(f64::NAN)))
    }
}

impl std::ops::Index<Metric> for MetricRow {
    type Output = f64;
    fn index(&self, m: Metric) -> &f64 {
        &self.0[m.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_sits_at_its_index_and_has_its_own_key() {
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(m.index(), i, "{m:?}");
            assert_eq!(Metric::from_key(m.key()), Some(*m));
        }
        let mut keys: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), Metric::ALL.len(), "keys are unique");
    }
}
