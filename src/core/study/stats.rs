//! Small-sample statistics for Monte-Carlo comparisons: the mean of a metric
//! over seeds with a Student-t confidence interval, and paired differences
//! (two strategies run on the same seeds).

use serde::Serialize;

/// Two-sided Student-t quantile t(1 - alpha/2, df) for 95 % intervals,
/// df = 1..=30 (from the standard table).
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// The standard normal quantile (Acklam's rational approximation, relative
/// error under 1.2e-9), for p in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Student-t quantile t(p, df) for p in [0.5, 1): exact table values for the
/// 95 % two-sided case with df <= 30, otherwise the Cornish-Fisher expansion
/// around the normal quantile (error under 1e-3 for df >= 3 at p <= 0.995).
pub fn t_quantile(p: f64, df: usize) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    if (p - 0.975).abs() < 1e-12 && df <= 30 {
        return T975[df - 1];
    }
    let z = normal_quantile(p);
    let n = df as f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * n)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * n.powi(3))
}

/// A metric over seeds: its mean and a two-sided confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Number of values (seeds).
    pub n: usize,
    /// Mean of the values (NaN when there are none).
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator).
    pub sd: f64,
    /// Half-width of the interval: t(1 - (1 - level)/2, n - 1) sd / sqrt(n).
    pub half_width: f64,
    /// Confidence level of the interval (e.g. 0.95).
    pub level: f64,
}

impl Estimate {
    /// The estimate of `values` at confidence `level` (e.g. 0.95). One value
    /// gives an infinite interval; none gives NaN.
    pub fn of(values: &[f64], level: f64) -> Estimate {
        let n = values.len();
        let mean = if n == 0 { f64::NAN } else { values.iter().sum::<f64>() / n as f64 };
        let sd = if n < 2 {
            f64::NAN
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        let half_width = if n < 2 {
            f64::INFINITY
        } else if sd == 0.0 {
            0.0
        } else {
            t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * sd / (n as f64).sqrt()
        };
        Estimate { n, mean, sd, half_width, level }
    }

    /// Lower end of the interval (`mean - half_width`).
    pub fn lo(&self) -> f64 {
        self.mean - self.half_width
    }

    /// Upper end of the interval (`mean + half_width`).
    pub fn hi(&self) -> f64 {
        self.mean + self.half_width
    }

    /// The one-sided upper bound at confidence `level`: the mean is below it
    /// with that confidence.
    pub fn upper_bound(&self, level: f64) -> f64 {
        if self.n < 2 {
            return f64::INFINITY;
        }
        if self.sd == 0.0 {
            return self.mean;
        }
        self.mean + t_quantile(level, self.n - 1) * self.sd / (self.n as f64).sqrt()
    }

    /// Whether `x` lies in the interval (ends included).
    pub fn contains(&self, x: f64) -> bool {
        self.lo() <= x && x <= self.hi()
    }
}

/// The paired difference a - b over the same seeds (the i-th values of both
/// come from seed i), at confidence `level`. Pairing removes the variation the
/// seeds share, so differences show with fewer seeds than two separate
/// intervals would need.
pub fn paired_difference(a: &[f64], b: &[f64], level: f64) -> Estimate {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    Estimate::of(&d, level)
}

/// Whether two strategies' paired values differ at `level`: the interval of
/// the paired difference excludes zero.
pub fn distinguishable(a: &[f64], b: &[f64], level: f64) -> bool {
    let d = paired_difference(a, b, level);
    d.n >= 2 && !d.contains(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_the_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090232).abs() < 1e-6);
        assert_eq!(t_quantile(0.975, 19), 2.093);
        // Beyond the table: t(0.975, 40) = 2.021, t(0.975, 120) = 1.980, t(0.95, 9) = 1.833, t(0.9, 4) = 1.533.
        for (p, df, t) in [(0.975, 40, 2.021), (0.975, 120, 1.980), (0.95, 9, 1.833), (0.9, 4, 1.533)] {
            assert!((t_quantile(p, df) - t).abs() < 2e-3, "t({p}, {df}) = {} not {t}", t_quantile(p, df));
        }
    }

    #[test]
    fn an_estimate_has_the_textbook_interval() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
        assert_eq!(e.mean, 3.0);
        assert!((e.sd - 2.5f64.sqrt()).abs() < 1e-12);
        assert!((e.half_width - 2.776 * 2.5f64.sqrt() / 5f64.sqrt()).abs() < 1e-9);
        assert!(e.contains(3.0) && !e.contains(5.0));
        assert!(Estimate::of(&[2.0], 0.95).half_width.is_infinite());
    }

    #[test]
    fn a_strategy_against_itself_is_not_distinguishable_and_a_shift_is() {
        let a = [0.70, 0.72, 0.69, 0.71, 0.73, 0.70];
        assert!(!distinguishable(&a, &a, 0.95));
        let shifted: Vec<f64> = a.iter().map(|x| x + 0.01).collect();
        assert!(distinguishable(&shifted, &a, 0.95), "a constant paired shift is found");
        // Unpaired, the same shift hides in the seed-to-seed spread.
        let (ea, eb) = (Estimate::of(&a, 0.95), Estimate::of(&shifted, 0.95));
        assert!(ea.hi() > eb.lo());
    }
}
