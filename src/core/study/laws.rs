//! The analytic laws the engine must match (../shared/DESIGN.md), and the sampling
//! spread to expect around them. Tests compare the engine with these; the
//! tuning and comparison tools use them as references.

use std::f64::consts::PI;

/// Boolean model: share of area within `r_mm` of at least one point of a
/// Poisson process of intensity `lambda_per_mm2`: 1 - exp(-lambda pi r^2).
pub fn boolean_coverage(lambda_per_mm2: f64, r_mm: f64) -> f64 {
    1.0 - (-lambda_per_mm2 * PI * r_mm * r_mm).exp()
}

/// Poisson shares of area covered by exactly 0, 1, 2 and 3+ disks of radius `r_mm`.
pub fn poisson_hit_shares(lambda_per_mm2: f64, r_mm: f64) -> [f64; 4] {
    let mu = lambda_per_mm2 * PI * r_mm * r_mm;
    let p0 = (-mu).exp();
    let p1 = mu * p0;
    let p2 = mu * mu / 2.0 * p0;
    [p0, p1, p2, 1.0 - p0 - p1 - p2]
}

/// Share of points (arriving one by one, uniformly) that land within `d_mm`
/// of an earlier point when `lambda_per_mm2` have arrived in all:
/// 1 - (1 - e^-m) / m with m = lambda pi d^2.
pub fn poisson_overlap(lambda_per_mm2: f64, d_mm: f64) -> f64 {
    overlap_of_mean_neighbours(lambda_per_mm2 * PI * d_mm * d_mm)
}

/// 1 - (1 - e^-m) / m, accurate for small m too.
fn overlap_of_mean_neighbours(m: f64) -> f64 {
    if m < 1e-4 { m / 2.0 - m * m / 6.0 + m * m * m / 24.0 } else { 1.0 + (-m).exp_m1() / m }
}

/// Mean density of one lane pass of a pen, punctures per mm2:
/// needles x rate / (speed x lane spacing).
pub fn lattice_density_per_mm2(needles: usize, rate_hz: f64, speed_mm_s: f64, lane_spacing_mm: f64) -> f64 {
    needles as f64 * rate_hz / (speed_mm_s * lane_spacing_mm)
}

/// Area of the intersection of two disks of radius `r` whose centres are `h` apart.
pub fn lens_area(r: f64, h: f64) -> f64 {
    if h >= 2.0 * r {
        return 0.0;
    }
    2.0 * r * r * (h / (2.0 * r)).acos() - h / 2.0 * (4.0 * r * r - h * h).sqrt()
}

/// Standard deviation of the covered share of a window of area `area_mm2`
/// under the Boolean model (exact covariance of the coverage indicator,
/// integrated numerically; edge effects of the window neglected):
/// Var = (1/A) * integral over |h| < 2r of q^2 (exp(lambda * lens(h)) - 1) dh,
/// q = exp(-lambda pi r^2).
pub fn boolean_coverage_sd(lambda_per_mm2: f64, r_mm: f64, area_mm2: f64) -> f64 {
    let q = (-lambda_per_mm2 * PI * r_mm * r_mm).exp();
    let steps = 2000;
    let dh = 2.0 * r_mm / steps as f64;
    let integral: f64 = (0..steps)
        .map(|i| {
            let h = (i as f64 + 0.5) * dh;
            2.0 * PI * h * q * q * ((lambda_per_mm2 * lens_area(r_mm, h)).exp() - 1.0) * dh
        })
        .sum();
    (integral / area_mm2).sqrt()
}

/// Standard deviation of the share of a window of area `area_mm2` hit by
/// exactly `k` needle disks (k = 3 meaning 3 or more) under the Boolean model
/// (exact covariance of the indicator, integrated numerically; edge effects
/// neglected). Two points h apart see disks through the lens of area a(h):
/// their counts are U + V and U + W, U ~ Poisson(λ a), V, W ~ Poisson(λ (πr² − a))
/// independent, so P(both k) = Σ_j P(U = j) P(V = k − j)²; then
/// Var = (1/A) ∫_{|h| < 2r} (P(both k) − p_k²) dh.
pub fn poisson_hit_share_sd(lambda_per_mm2: f64, r_mm: f64, area_mm2: f64, k: usize) -> f64 {
    let disk = PI * r_mm * r_mm;
    let pois = |mean: f64, j: usize| (-mean).exp() * mean.powi(j as i32) / (1..=j).map(|i| i as f64).product::<f64>();
    // P(count = j) for j < 3 and P(count >= 3).
    let class =
        |mean: f64, j: usize| if j < 3 { pois(mean, j) } else { 1.0 - (0..3).map(|i| pois(mean, i)).sum::<f64>() };
    let p_k = class(lambda_per_mm2 * disk, k);
    // P(U + V in class k and U + W in class k), summing U over what matters.
    let both = |a: f64| -> f64 {
        let (mu, mv) = (lambda_per_mm2 * a, lambda_per_mm2 * (disk - a));
        if k < 3 {
            (0..=k).map(|j| pois(mu, j) * pois(mv, k - j).powi(2)).sum()
        } else {
            // U >= 3 puts both in 3+; else each needs V >= 3 - U.
            let tail = |u: usize| 1.0 - (0..3 - u).map(|i| pois(mv, i)).sum::<f64>();
            (1.0 - (0..3).map(|j| pois(mu, j)).sum::<f64>())
                + (0..3).map(|u| pois(mu, u) * tail(u).powi(2)).sum::<f64>()
        }
    };
    let steps = 2000;
    let dh = 2.0 * r_mm / steps as f64;
    let integral: f64 = (0..steps)
        .map(|i| {
            let h = (i as f64 + 0.5) * dh;
            2.0 * PI * h * (both(lens_area(r_mm, h)) - p_k * p_k) * dh
        })
        .sum();
    (integral.max(0.0) / area_mm2).sqrt()
}

/// Area of a disk of radius `rho` whose centre lies `t` inside a straight edge
/// (the part beyond the edge cut off).
pub fn disk_area_inside_edge(rho: f64, t: f64) -> f64 {
    if t >= rho {
        return PI * rho * rho;
    }
    let segment = rho * rho * (t / rho).acos() - t * (rho * rho - t * t).sqrt();
    PI * rho * rho - segment
}

/// Mean over a `width` x `height` rectangle of `f(a(x))`, where `a(x)` is the
/// area of the disk of radius `rho` around x that lies inside the rectangle:
/// the interior value plus the correction of the strip within `rho` of the
/// perimeter (corners, of relative size rho^2 / area, neglected).
pub fn rect_mean_of_disk_law(f: impl Fn(f64) -> f64, rho: f64, width: f64, height: f64) -> f64 {
    mean_of_disk_law(f, rho, 2.0 * (width + height), width * height)
}

/// As [`rect_mean_of_disk_law`] for any region with a boundary of length
/// `perimeter` enclosing `area` whose boundary is straight on the scale of
/// `rho` (corners and curvature neglected: terms of order rho^2 / area).
pub fn mean_of_disk_law(f: impl Fn(f64) -> f64, rho: f64, perimeter: f64, area: f64) -> f64 {
    let interior = f(PI * rho * rho);
    let steps = 4000;
    let dt = rho / steps as f64;
    let strip: f64 = (0..steps).map(|i| (f(disk_area_inside_edge(rho, (i as f64 + 0.5) * dt)) - interior) * dt).sum();
    interior + perimeter / area * strip
}

/// Expected coverage of `n` needle disks of radius `r` centred uniformly at
/// random in a `width` x `height` rectangle (Boolean law with edge correction).
pub fn boolean_coverage_in_rect(n: f64, r: f64, width: f64, height: f64) -> f64 {
    let lambda = n / (width * height);
    rect_mean_of_disk_law(|a| 1.0 - (-lambda * a).exp(), r, width, height)
}

/// Expected Poisson hit shares (0, 1, 2, 3+) in a rectangle, edge-corrected.
pub fn poisson_hit_shares_in_rect(n: f64, r: f64, width: f64, height: f64) -> [f64; 4] {
    let lambda = n / (width * height);
    let share = |k: usize| {
        rect_mean_of_disk_law(
            |a| {
                let mu = lambda * a;
                let p = [(-mu).exp(), mu * (-mu).exp(), mu * mu / 2.0 * (-mu).exp()];
                if k < 3 { p[k] } else { 1.0 - p[0] - p[1] - p[2] }
            },
            r,
            width,
            height,
        )
    };
    [share(0), share(1), share(2), share(3)]
}

/// Expected overlap fraction of `n` points arriving uniformly at random in a
/// rectangle, with overlap distance `d` (Poisson law, edge-corrected).
pub fn poisson_overlap_in_rect(n: f64, d: f64, width: f64, height: f64) -> f64 {
    let lambda = n / (width * height);
    rect_mean_of_disk_law(|a| overlap_of_mean_neighbours(lambda * a), d, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_shares_sum_to_one_and_match_coverage() {
        let s = poisson_hit_shares(3.0, 0.2);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((1.0 - s[0] - boolean_coverage(3.0, 0.2)).abs() < 1e-12);
    }

    #[test]
    fn lens_area_is_a_full_disk_at_zero_distance() {
        assert!((lens_area(1.0, 0.0) - PI).abs() < 1e-12);
        assert_eq!(lens_area(1.0, 2.0), 0.0);
    }

    #[test]
    fn edge_correction_vanishes_for_a_huge_rectangle_and_lowers_coverage_for_a_small_one() {
        let n_per_mm2 = 10.0;
        let big = boolean_coverage_in_rect(n_per_mm2 * 1e8, 0.125, 1e4, 1e4);
        assert!((big - boolean_coverage(n_per_mm2, 0.125)).abs() < 1e-4);
        let small = boolean_coverage_in_rect(n_per_mm2 * 100.0, 0.125, 10.0, 10.0);
        assert!(small < boolean_coverage(n_per_mm2, 0.125));
    }

    #[test]
    fn overlap_law_is_small_for_sparse_points() {
        assert!((poisson_overlap(1e-6, 0.25) - 1e-6 * PI * 0.0625 / 2.0).abs() < 1e-14);
        let m = 0.3f64;
        assert!((poisson_overlap(m / (PI * 0.0625), 0.25) - (1.0 - (1.0 - (-m).exp()) / m)).abs() < 1e-14);
    }

    #[test]
    fn the_share_hit_by_no_disk_has_the_coverage_sd_and_all_shares_are_smaller_than_one() {
        let (lambda, r, area) = (14.0, 0.125, 1e4);
        let c = boolean_coverage_sd(lambda, r, area);
        let s0 = poisson_hit_share_sd(lambda, r, area, 0);
        assert!((s0 / c - 1.0).abs() < 1e-6, "{s0} vs {c}: 1 - covered is the share hit by none");
        for k in 0..4 {
            let s = poisson_hit_share_sd(lambda, r, area, k);
            assert!(s > 0.0 && s < c * 2.0, "share {k}: sd {s}");
        }
        // Far more area, a proportionally smaller variance.
        let s_big = poisson_hit_share_sd(lambda, r, 4.0 * area, 2);
        assert!((s_big * 2.0 / poisson_hit_share_sd(lambda, r, area, 2) - 1.0).abs() < 1e-9);
    }
}
