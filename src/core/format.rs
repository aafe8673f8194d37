//! Numbers as text for people: fixed decimals that never print "-0" (a
//! share of 1 − under − over can come out as −1e-17, which `{:.1}` prints
//! as "-0.0").

/// `x` with `decimals` decimals; values that round to zero print as zero.
pub fn fixed(x: f64, decimals: usize) -> String {
    let half_step = 0.5 * 10f64.powi(-(decimals as i32));
    let x = if x.abs() < half_step { 0.0 } else { x };
    format!("{x:.decimals$}")
}

/// A share (0 to 1) as a percentage with `decimals` decimals: `0.1234` ->
/// "12.3%" at one decimal; never "-0.0%".
pub fn percent(share: f64, decimals: usize) -> String {
    format!("{}%", fixed(share * 100.0, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_negatives_print_as_zero() {
        assert_eq!(percent(-1e-17, 1), "0.0%");
        assert_eq!(percent(-0.0004, 1), "0.0%");
        assert_eq!(percent(-0.0006, 1), "-0.1%");
        assert_eq!(percent(0.1234, 1), "12.3%");
        assert_eq!(percent(0.5, 0), "50%");
        assert_eq!(fixed(-0.4, 0), "0");
        assert_eq!(fixed(-0.0, 2), "0.00");
        assert_eq!(fixed(2.25, 1), format!("{:.1}", 2.25));
    }
}
