//! Text for and from people: file bytes decoded as UTF-8 (naming the line
//! and byte where they stop being so), and numbers as text: fixed decimals that never print "-0" (a
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

/// Bytes that are not UTF-8 text: where the first bad byte is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, byte {byte}: not UTF-8 text")]
pub struct NotUtf8 {
    /// 1-based line of the first bad byte.
    pub line: usize,
    /// 1-based byte in that line.
    pub byte: usize,
}

/// The text of a file's bytes (UTF-8; a leading byte-order mark dropped),
/// or where it stops being UTF-8.
pub fn utf8_text(bytes: &[u8]) -> Result<&str, NotUtf8> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let byte = good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        NotUtf8 { line, byte }
    })
}
