//! A trainer's criteria file (`score --criteria FILE`): how much each
//! criterion weighs in a zone's score, and where it scores 100 and 0, where
//! the built-in ranges do not suit the lesson.
//!
//! ```toml
//! avoid_tolerance = 0              # punctures in avoid regions still scoring 100
//!
//! [coverage]
//! weight = 2                       # default 1; 0 shows it but leaves it out
//! accepted = [0.85, 1.0]           # scores 100 inside
//! zero_at = [0.5, 1.0]             # scores 0 at and beyond
//!
//! [cv]
//! accepted = [0, "reference * 1.25 + 0.05"]   # bounds may follow the reference
//! ```

use crate::core::error::{SceneError, location};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// Every criterion `score` knows, by key, with its unit (shares are clamped
/// to 0..1, ratios and counts are not).
pub const CRITERIA: &[(&str, &str)] = &[
    ("coverage", "share"),
    ("under", "share"),
    ("over", "share"),
    ("in_band", "share"),
    ("cv", ""),
    ("speed", "ratio"),
    ("speed_spread", ""),
    ("lane_spacing", "ratio"),
    ("lane_regularity", ""),
    ("directions", "share"),
    ("avoid", "count"),
    ("time", "ratio"),
];

/// The largest weight a criteria file may give (weights are relative; a
/// larger one could overflow the weighted mean).
pub const MAX_WEIGHT: f64 = 1e6;

/// Whether TOML text is a criteria file rather than a scene: every key at
/// its top is `avoid_tolerance` or a criterion's name.
pub fn is_criteria_file(text: &str) -> bool {
    // By its shape, so a misspelt criterion is still read as a criteria file
    // (and named as one): avoid_tolerance, and tables of weight, accepted and
    // zero_at only (a scene's tables hold other keys).
    toml::from_str::<toml::Table>(text).is_ok_and(|t| {
        !t.is_empty()
            && t.iter().all(|(k, v)| {
                k == "avoid_tolerance"
                    || CRITERIA.iter().any(|c| c.0 == k)
                    || v.as_table().is_some_and(|t| {
                        !t.is_empty() && t.keys().all(|k| matches!(k.as_str(), "weight" | "accepted" | "zero_at"))
                    })
            })
    })
}

/// One end of a range: a figure, or one that follows the reference's
/// figure for the zone: `reference * scale + offset`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Bound {
    /// This figure.
    Fixed(f64),
    /// `reference * scale + offset`.
    Reference {
        /// Times the reference's figure.
        scale: f64,
        /// Then plus this.
        offset: f64,
    },
}

impl Bound {
    /// The figure for a zone whose reference figure is `reference` (`None`
    /// when the criterion has none there).
    pub fn resolve(&self, reference: Option<f64>) -> Option<f64> {
        match *self {
            Bound::Fixed(v) => Some(v),
            Bound::Reference { scale, offset } => reference.map(|r| r * scale + offset),
        }
    }

    /// Parses `reference`, `reference + 0.05`, `reference - 0.2`,
    /// `reference * 1.25 + 0.05` (spaces optional).
    fn parse(text: &str) -> Option<Bound> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let rest = t.strip_prefix("reference")?;
        let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
        let (scale, rest) = match rest.strip_prefix('*') {
            Some(r) => {
                // The scale ends at a sign that is not its own or its exponent's.
                let b = r.as_bytes();
                let end = (1..b.len())
                    .find(|&i| matches!(b[i], b'+' | b'-') && !matches!(b[i - 1], b'e' | b'E'))
                    .unwrap_or(r.len());
                (number(&r[..end])?, &r[end..])
            }
            None => (1.0, rest),
        };
        let offset = if rest.is_empty() {
            0.0
        } else if let Some(r) = rest.strip_prefix('+') {
            number(r)?
        } else {
            -number(rest.strip_prefix('-')?)?
        };
        Some(Bound::Reference { scale, offset })
    }
}

/// What a criteria file sets for one criterion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CriterionSetting {
    /// Its weight in the zone's score (1 by default; 0: shown, not counted).
    pub weight: f64,
    /// Scores 100 inside, in place of the built-in range.
    pub accepted: Option<[Bound; 2]>,
    /// Scores 0 at and beyond, in place of the built-in points.
    pub zero_at: Option<[Bound; 2]>,
}

impl Default for CriterionSetting {
    fn default() -> Self {
        CriterionSetting { weight: 1.0, accepted: None, zero_at: None }
    }
}

/// A trainer's criteria: per criterion key, what the file set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Criteria {
    /// Only the criteria the file names.
    pub set: BTreeMap<String, CriterionSetting>,
    /// `avoid_tolerance`, when the file gives it.
    pub avoid_tolerance: Option<f64>,
}

impl Criteria {
    /// The setting of criterion `key` (the default where the file is silent).
    pub fn get(&self, key: &str) -> CriterionSetting {
        self.set.get(key).copied().unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawBound {
    Number(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetting {
    weight: Option<Spanned<f64>>,
    accepted: Option<Spanned<[RawBound; 2]>>,
    zero_at: Option<Spanned<[RawBound; 2]>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    avoid_tolerance: Option<Spanned<f64>>,
    coverage: Option<RawSetting>,
    under: Option<RawSetting>,
    over: Option<RawSetting>,
    in_band: Option<RawSetting>,
    cv: Option<RawSetting>,
    speed: Option<RawSetting>,
    speed_spread: Option<RawSetting>,
    lane_spacing: Option<RawSetting>,
    lane_regularity: Option<RawSetting>,
    directions: Option<RawSetting>,
    avoid: Option<RawSetting>,
    time: Option<RawSetting>,
}

impl Criteria {
    /// Parses and checks a criteria file; `file` names it in messages.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Criteria, SceneError> {
        let err = |span: std::ops::Range<usize>, key: String, message: String| SceneError {
            file: file.to_string(),
            at: location(text, span.start),
            key,
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let known = CRITERIA.iter().map(|c| c.0).collect::<Vec<_>>().join(", ");
            let message = e.message().trim().to_string();
            let message = if message.starts_with("unknown field") {
                format!(
                    "{message}: a criteria file holds avoid_tolerance and tables named for criteria ({known}), \
                     each of weight, accepted and zero_at"
                )
            } else {
                message
            };
            err(e.span().unwrap_or(0..0), "criteria".into(), message)
        })?;
        let mut out = Criteria::default();
        if let Some(t) = &raw.avoid_tolerance {
            let v = *t.get_ref();
            if !(v.is_finite() && v >= 0.0) {
                return Err(err(
                    t.span(),
                    "avoid_tolerance".into(),
                    format!("{v} is not accepted: give a number of punctures >= 0"),
                ));
            }
            out.avoid_tolerance = Some(v);
        }
        let settings = [
            &raw.coverage,
            &raw.under,
            &raw.over,
            &raw.in_band,
            &raw.cv,
            &raw.speed,
            &raw.speed_spread,
            &raw.lane_spacing,
            &raw.lane_regularity,
            &raw.directions,
            &raw.avoid,
            &raw.time,
        ];
        for (&(name, _), r) in CRITERIA.iter().zip(settings) {
            let Some(r) = r else { continue };
            let mut set = CriterionSetting::default();
            if let Some(w) = &r.weight {
                let v = *w.get_ref();
                if !(v.is_finite() && (0.0..=MAX_WEIGHT).contains(&v)) {
                    return Err(err(
                        w.span(),
                        format!("{name}.weight"),
                        format!(
                            "{v} is not accepted: give a number from 0 to {MAX_WEIGHT} (1 is the default; 0 shows the criterion but leaves it out of the score)"
                        ),
                    ));
                }
                set.weight = v;
            }
            let range = |field: &str, v: &Option<Spanned<[RawBound; 2]>>| -> Result<Option<[Bound; 2]>, SceneError> {
                let Some(v) = v else { return Ok(None) };
                let mut out = [Bound::Fixed(0.0); 2];
                for (o, b) in out.iter_mut().zip(v.get_ref()) {
                    *o = match b {
                        RawBound::Number(x) if x.is_finite() => Bound::Fixed(*x),
                        RawBound::Text(t) if Bound::parse(t).is_some() => Bound::parse(t).expect("parsed"),
                        other => {
                            let shown = match other {
                                RawBound::Number(x) => x.to_string(),
                                RawBound::Text(t) => format!("{t:?}"),
                            };
                            return Err(err(
                                v.span(),
                                format!("{name}.{field}"),
                                format!(
                                    "{shown} is not accepted: give [low, high], each a number or \"reference\", \"reference + x\", \"reference - x\" or \"reference * a + b\""
                                ),
                            ));
                        }
                    };
                }
                // A share's figures lie in 0..1: so do its bounds.
                let share = CRITERIA.iter().any(|c| c.0 == name && c.1 == "share");
                if let Some(x) = out.iter().find_map(|b| match b {
                    Bound::Fixed(x) if share && !(0.0..=1.0).contains(x) => Some(*x),
                    _ => None,
                }) {
                    return Err(err(
                        v.span(),
                        format!("{name}.{field}"),
                        format!("{x} is not accepted: {name} is a share, so give bounds from 0 to 1"),
                    ));
                }
                if let [Bound::Fixed(a), Bound::Fixed(b)] = out
                    && a > b
                {
                    return Err(err(
                        v.span(),
                        format!("{name}.{field}"),
                        format!("[{a}, {b}] is not accepted: give the low end first"),
                    ));
                }
                Ok(Some(out))
            };
            set.accepted = range("accepted", &r.accepted)?;
            set.zero_at = range("zero_at", &r.zero_at)?;
            out.set.insert(name.to_string(), set);
        }
        if let (Some(t), Some(a)) = (&raw.avoid_tolerance, out.set.get("avoid"))
            && (a.accepted.is_some() || a.zero_at.is_some())
        {
            return Err(err(
                t.span(),
                "avoid_tolerance".into(),
                "and [avoid] accepted / zero_at both set the avoid criterion's range: give one".into(),
            ));
        }
        if CRITERIA.iter().all(|c| out.get(c.0).weight == 0.0) {
            return Err(err(0..0, "weight".into(), "every criterion weighs 0: give at least one a weight > 0".into()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_reference_as_written() {
        let r = |t: &str| Bound::parse(t).and_then(|b| b.resolve(Some(0.4)));
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-12);
        assert!(close(r("reference"), 0.4));
        assert!(close(r("reference + 0.05"), 0.45));
        assert!(close(r("reference-0.2"), 0.2));
        assert!(close(r("reference * 1.25 + 0.05"), 0.55));
        assert!(close(r("reference * 2.5 - 0.3"), 0.7));
        assert!(close(r("reference*0.5"), 0.2));
        assert!(close(r("reference * 1e-1 + 1e-2"), 0.05));
        for bad in
            ["referance", "reference +", "reference * ", "reference + x", "0.4", "reference + inf", "reference ** 2"]
        {
            assert_eq!(Bound::parse(bad), None, "{bad}");
        }
        // No reference in the zone: a following bound has no figure.
        assert_eq!(Bound::parse("reference").unwrap().resolve(None), None);
    }

    #[test]
    fn a_file_sets_only_what_it_names() {
        let c = Criteria::from_toml_str(
            "avoid_tolerance = 4\n[speed]\nweight = 0\n[time]\naccepted = [0.5, 2]\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.avoid_tolerance, Some(4.0));
        assert_eq!(c.get("speed").weight, 0.0);
        assert_eq!(c.get("time").accepted, Some([Bound::Fixed(0.5), Bound::Fixed(2.0)]));
        assert_eq!(c.get("coverage"), CriterionSetting::default());
        let every_zero: String = CRITERIA.iter().map(|(k, _)| format!("[{k}]\nweight = 0\n")).collect();
        let e = Criteria::from_toml_str(&every_zero, "c.toml").unwrap_err();
        assert!(e.message.contains("every criterion weighs 0"), "{e}");
    }
}
