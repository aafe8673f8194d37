//! Trajectories: where a hand held the cartridge over time (traced in the
//! window, or a motion-tracked pen), read from CSV, and the stamps they make.
//!
//! A trajectory file has a header and one row per sample:
//!
//! ```text
//! time_s,zone,u_mm,v_mm,pressure
//! 0.000,cheek,2.0,1.5,1
//! 0.016,cheek,2.4,1.5,1
//! ```
//!
//! `pressure` is optional (0 = lifted: no stamps, 0 < p <= 1 = on the skin).
//! Times are in seconds and never go back; `u_mm`, `v_mm` are the cartridge
//! centre in the zone's chart. Rows of several zones may interleave.
//!
//! The cartridge follows the samples linearly. A pen stamps at `k / rate_hz`
//! after the first sample, where the hand is at that moment, needles turned
//! along the direction of motion; a roller touches the skin every time its
//! drum has rolled to its next needle, by distance. No hand jitter is added:
//! the trajectory is the hand. A slow hand so gets more stamps per mm (hot
//! spots), a fast one fewer (gaps).

use crate::core::error::{Location, SceneError};
use crate::core::geometry::shape::{Region, Vec2};

/// The columns a trajectory file may have (`pressure` is optional).
pub const COLUMNS: [&str; 5] = ["time_s", "zone", "u_mm", "v_mm", "pressure"];

/// One sample of the hand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TracePoint {
    /// Time of the sample (`time_s`), s; never less than the previous row's.
    pub t_s: f64,
    /// Cartridge centre across the zone's chart (`u_mm`), mm.
    pub u_mm: f64,
    /// Cartridge centre up the zone's chart (`v_mm`), mm.
    pub v_mm: f64,
    /// 0 = lifted, up to 1; 1 when the file has no pressure column.
    pub pressure: f64,
    /// Line of the file the sample came from (for messages).
    pub line: usize,
}

impl TracePoint {
    /// The cartridge centre in the zone's chart, mm.
    pub fn pos_mm(&self) -> Vec2 {
        Vec2::new(self.u_mm, self.v_mm)
    }
    /// Whether the cartridge is on the skin (pressure above 0).
    pub fn down(&self) -> bool {
        self.pressure > 0.0
    }
}

/// A parsed trajectory file: samples with their zone, in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The file's name, as used in messages.
    pub file: String,
    /// Whether the file has a `pressure` column.
    pub has_pressure: bool,
    /// Every sample with its zone name, in file (time) order.
    pub rows: Vec<(String, TracePoint)>,
}

impl Trace {
    /// Parses trajectory CSV. Errors name the file, line, column and field.
    pub fn parse(text: &str, file: &str) -> Result<Trace, SceneError> {
        let err = |line: usize, column: usize, key: &str, message: String| SceneError {
            file: file.to_string(),
            at: Location { line, column },
            key: key.to_string(),
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader.headers().map_err(|e| err(1, 1, "header", e.to_string()))?.clone();
        let accepted = "time_s, zone, u_mm, v_mm and optionally pressure";
        let mut index = [None; 5];
        for (i, name) in header.iter().enumerate() {
            let Some(c) = COLUMNS.iter().position(|c| *c == name) else {
                return Err(err(
                    1,
                    column_of(text, 1, i),
                    "header",
                    format!("unknown column `{name}`; accepted: {accepted}"),
                ));
            };
            if index[c].replace(i).is_some() {
                return Err(err(1, column_of(text, 1, i), "header", format!("column `{name}` is given twice")));
            }
        }
        if let Some(missing) = (0..4).find(|&c| index[c].is_none()) {
            return Err(err(
                1,
                1,
                "header",
                format!(
                    "the header has no `{}` column; a trajectory file has the columns {accepted}",
                    COLUMNS[missing]
                ),
            ));
        }
        let has_pressure = index[4].is_some();
        let mut rows: Vec<(String, TracePoint)> = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(1, |p| p.line() as usize);
                err(line, 1, "row", e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            if record.len() != header.len() {
                return Err(err(
                    line,
                    1,
                    "row",
                    format!(
                        "has {} fields; the header has {} ({})",
                        record.len(),
                        header.len(),
                        header.iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let number = |c: usize, unit: &str| -> Result<f64, SceneError> {
                let i = index[c].expect("a present column");
                let field = &record[i];
                match field.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(x),
                    _ => Err(err(
                        line,
                        column_of(text, line, i),
                        COLUMNS[c],
                        format!("`{field}` (column {}) is not accepted: give a finite number ({unit})", i + 1),
                    )),
                }
            };
            let t_s = number(0, "s")?;
            let u_mm = number(2, "mm")?;
            let v_mm = number(3, "mm")?;
            let pressure = if has_pressure { number(4, "0 = lifted, up to 1")? } else { 1.0 };
            if !(0.0..=1.0).contains(&pressure) {
                let i = index[4].expect("pressure");
                return Err(err(
                    line,
                    column_of(text, line, i),
                    "pressure",
                    format!("{pressure} (column {}) is not accepted: give 0 (lifted) up to 1", i + 1),
                ));
            }
            if t_s < 0.0 {
                let i = index[0].expect("time_s");
                return Err(err(
                    line,
                    column_of(text, line, i),
                    "time_s",
                    format!("{t_s} is not accepted: times are >= 0 s"),
                ));
            }
            if let Some((_, prev)) = rows.last()
                && t_s < prev.t_s
            {
                let i = index[0].expect("time_s");
                return Err(err(
                    line,
                    column_of(text, line, i),
                    "time_s",
                    format!(
                        "{t_s} s is before the previous row's {} s (line {}): rows must be in time order",
                        prev.t_s, prev.line
                    ),
                ));
            }
            let zone = record[index[1].expect("zone")].to_string();
            if zone.is_empty() {
                let i = index[1].expect("zone");
                return Err(err(line, column_of(text, line, i), "zone", "is empty: give the zone's name".into()));
            }
            rows.push((zone, TracePoint { t_s, u_mm, v_mm, pressure, line }));
        }
        if rows.is_empty() {
            return Err(err(1, 1, "rows", "the file has a header but no samples".into()));
        }
        Ok(Trace { file: file.to_string(), has_pressure, rows })
    }

    /// Zone names, in the order first seen.
    pub fn zones(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (z, _) in &self.rows {
            if !names.contains(&z.as_str()) {
                names.push(z);
            }
        }
        names
    }

    /// The samples of one zone, in time order.
    pub fn points_of(&self, zone: &str) -> Vec<TracePoint> {
        self.rows.iter().filter(|(z, _)| z == zone).map(|(_, p)| *p).collect()
    }

    /// The file's text (the same columns; pressure when the trace has it).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(if self.has_pressure {
            "time_s,zone,u_mm,v_mm,pressure\n"
        } else {
            "time_s,zone,u_mm,v_mm\n"
        });
        for (z, p) in &self.rows {
            out += &format!("{:.4},{z},{:.3},{:.3}", p.t_s, p.u_mm, p.v_mm);
            if self.has_pressure {
                out += &format!(",{:.3}", p.pressure);
            }
            out.push('\n');
        }
        out
    }
}

/// 1-based character column where field `index` of line `line` starts
/// (fields split at commas; trajectory files hold no quoted commas).
fn column_of(text: &str, line: usize, index: usize) -> usize {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else { return 1 };
    l.split(',').take(index).map(|f| f.chars().count() + 1).sum::<usize>() + 1
}

/// A sample this close to the outline counts as on it (rounding in files), mm.
pub const ON_ZONE_TOLERANCE_MM: f64 = 0.05;

/// Checks that every sample on the skin lies on the zone's outline (within
/// [`ON_ZONE_TOLERANCE_MM`]); a lifted sample may leave it (the hand moves
/// between zones).
pub fn check_on_zone(points: &[TracePoint], region: &Region, zone: &str, file: &str) -> Result<(), SceneError> {
    let b = region.bounds();
    let e = ON_ZONE_TOLERANCE_MM;
    // Inside, or within e of the outline in some direction: 64 directions
    // around the point find an edge of any orientation closer than
    // e cos(pi / 64) = 0.9988 e (a straight edge at distance d is seen from
    // an arc of 2 acos(d / e)).
    let on = |q: Vec2| {
        region.outline.contains(q)
            || (0..64).any(|k| {
                let a = k as f64 * std::f64::consts::TAU / 64.0;
                region.outline.contains(q + Vec2::new(a.cos(), a.sin()) * e)
            })
    };
    match points.iter().find(|p| p.down() && !on(p.pos_mm())) {
        None => Ok(()),
        Some(p) => Err(SceneError {
            file: file.to_string(),
            at: Location { line: p.line, column: 1 },
            key: "u_mm, v_mm".into(),
            message: format!(
                "the point ({}, {}) mm is off zone `{zone}` (its chart spans u {:.1} to {:.1}, v {:.1} to {:.1} mm): \
                 check the zone and the units, or give pressure 0 where the cartridge is lifted",
                p.u_mm, p.v_mm, b.min_mm.x, b.max_mm.x, b.min_mm.y, b.max_mm.y
            ),
        }),
    }
}

/// Which steps of a path count in its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segments {
    /// Every step, lifted or on the skin.
    All,
    /// Only steps with the cartridge down at both ends.
    Down,
}

/// Length of the path, mm: every step, or only those on the skin.
pub fn path_length_mm(points: &[TracePoint], segments: Segments) -> f64 {
    points
        .windows(2)
        .filter(|w| segments == Segments::All || (w[0].down() && w[1].down()))
        .map(|w| (w[1].pos_mm() - w[0].pos_mm()).norm())
        .sum()
}

/// Time the cartridge is on the skin (both ends of a step down), s.
pub fn down_time_s(points: &[TracePoint]) -> f64 {
    points.windows(2).filter(|w| w[0].down() && w[1].down()).map(|w| w[1].t_s - w[0].t_s).sum()
}

/// Time from the first sample to the last, s.
pub fn duration_s(points: &[TracePoint]) -> f64 {
    match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.t_s - a.t_s,
        _ => 0.0,
    }
}

/// Mean glide speed on the skin, mm/s (0 when the cartridge never moves on it).
pub fn mean_speed_mm_s(points: &[TracePoint]) -> f64 {
    let time: f64 = points.windows(2).filter(|w| w[0].down() && w[1].down()).map(|w| w[1].t_s - w[0].t_s).sum();
    if time > 0.0 { path_length_mm(points, Segments::Down) / time } else { 0.0 }
}

/// One stamp of a pen: when (after the first sample), where, and which way
/// the hand was moving.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceStamp {
    /// Time of the stamp after the first sample, s.
    pub t_s: f64,
    /// Cartridge centre in the zone's chart, mm.
    pub centre_mm: Vec2,
    /// Unit direction the hand was moving in (the needles are turned along it).
    pub heading: Vec2,
}

/// Unit direction of each segment, carried over still segments; the first
/// moving segment's direction before it (+u when the hand never moves).
fn headings(points: &[TracePoint]) -> Vec<Vec2> {
    let dirs: Vec<Option<Vec2>> = points
        .windows(2)
        .map(|w| {
            let d = w[1].pos_mm() - w[0].pos_mm();
            (d.norm() > 1e-9).then(|| d / d.norm())
        })
        .collect();
    let mut last = dirs.iter().flatten().next().copied().unwrap_or(Vec2::new(1.0, 0.0));
    dirs.into_iter()
        .map(|d| {
            if let Some(d) = d {
                last = d;
            }
            last
        })
        .collect()
}

/// The stamps of a pen at `rate_hz` along the samples: at `k / rate_hz` after
/// the first sample, where both ends of the segment are on the skin.
pub fn pen_stamps(points: &[TracePoint], rate_hz: f64) -> Vec<TraceStamp> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return out };
    if points.len() == 1 {
        return out;
    }
    let heads = headings(points);
    let mut i = 0;
    let mut k = 0u64;
    loop {
        let t = first.t_s + k as f64 / rate_hz;
        if t > last.t_s {
            break;
        }
        while i + 2 < points.len() && points[i + 1].t_s < t {
            i += 1;
        }
        let (a, b) = (&points[i], &points[i + 1]);
        if !(a.down() && b.down()) {
            // Lifted: no stamp until the segment ends (skip its ticks at once,
            // so a long pause costs nothing; the clock's phase is kept).
            let next = ((b.t_s - first.t_s) * rate_hz).ceil().max(0.0) as u64;
            k = next.max(k + 1);
            continue;
        }
        k += 1;
        let span = b.t_s - a.t_s;
        let f = if span > 0.0 { ((t - a.t_s) / span).clamp(0.0, 1.0) } else { 1.0 };
        out.push(TraceStamp {
            t_s: t - first.t_s,
            centre_mm: a.pos_mm() + (b.pos_mm() - a.pos_mm()) * f,
            heading: heads[i],
        });
    }
    out
}

/// Where a roller's needles touch along the samples: the drum rolls only
/// where the cartridge is on the skin, touching with needle `k` whenever it
/// has rolled `contact_mm[k]` plus whole turns; `order` lists the needles by
/// `contact_mm`. Returns (time after the first sample, position) per needle
/// contact and the number of distinct contact moments.
pub fn roller_contacts(
    points: &[TracePoint],
    circumference_mm: f64,
    axial_mm: &[f64],
    contact_mm: &[f64],
    order: &[usize],
) -> (Vec<(f64, Vec2)>, u64) {
    let mut out = Vec::new();
    let mut moments = 0;
    let Some(first) = points.first() else { return (out, 0) };
    let heads = headings(points);
    // The segment the contact falls in, and the rolled distance at its start.
    let mut seg = 0;
    let mut seg_start = 0.0;
    let seg_len = |i: usize| {
        let (a, b) = (&points[i], &points[i + 1]);
        if a.down() && b.down() { (b.pos_mm() - a.pos_mm()).norm() } else { 0.0 }
    };
    let total = path_length_mm(points, Segments::Down);
    let mut last_s = f64::NEG_INFINITY;
    'drum: for rev in 0u64.. {
        for &k in order {
            let s = contact_mm[k] + rev as f64 * circumference_mm;
            if s > total {
                break 'drum;
            }
            while seg + 1 < points.len() - 1 && seg_start + seg_len(seg) < s {
                seg_start += seg_len(seg);
                seg += 1;
            }
            let len = seg_len(seg);
            if len <= 0.0 {
                continue;
            }
            let (a, b) = (&points[seg], &points[seg + 1]);
            let f = ((s - seg_start) / len).clamp(0.0, 1.0);
            let h = heads[seg];
            let normal = Vec2::new(-h.y, h.x);
            let t = a.t_s + (b.t_s - a.t_s) * f - first.t_s;
            out.push((t, a.pos_mm() + (b.pos_mm() - a.pos_mm()) * f + normal * axial_mm[k]));
            if s > last_s {
                moments += 1;
                last_s = s;
            }
        }
    }
    (out, moments)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "time_s,zone,u_mm,v_mm\n0,z,0,5\n1,z,10,5\n";

    #[test]
    fn a_trace_parses_and_writes_back() {
        let t = Trace::parse(OK, "a.csv").unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].1.line, 3);
        let again = Trace::parse(&t.to_csv(), "b.csv").unwrap();
        assert_eq!(
            again.rows.iter().map(|r| r.1.pos_mm()).collect::<Vec<_>>(),
            t.rows.iter().map(|r| r.1.pos_mm()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn bad_rows_name_their_line_column_and_field() {
        let e = Trace::parse("time_s,zone,u_mm,v_mm\n0,z,0,5\n1,z,x1,5\n", "a.csv").unwrap_err();
        assert_eq!((e.at.line, e.at.column, e.key.as_str()), (3, 5, "u_mm"), "{e}");
        let e = Trace::parse("time_s,zone,u_mm,v_mm\n2,z,0,5\n1,z,1,5\n", "a.csv").unwrap_err();
        assert_eq!((e.at.line, e.key.as_str()), (3, "time_s"), "{e}");
        assert!(e.message.contains("time order"), "{e}");
        let e = Trace::parse("time_s,zone,u_mm,speed\n", "a.csv").unwrap_err();
        assert!(e.message.contains("unknown column `speed`"), "{e}");
        let e = Trace::parse("time_s,zone,u_mm,v_mm,pressure\n0,z,0,5,2\n", "a.csv").unwrap_err();
        assert_eq!(e.key, "pressure", "{e}");
        let e = Trace::parse("time_s,zone,u_mm,v_mm\n0,z,0\n", "a.csv").unwrap_err();
        assert_eq!((e.at.line, e.key.as_str()), (2, "row"), "{e}");
        let e = Trace::parse("time_s,zone,u_mm,v_mm\n0,z,NaN,1\n", "a.csv").unwrap_err();
        assert_eq!(e.key, "u_mm", "{e}");
    }

    #[test]
    fn a_pen_stamps_at_its_rate_where_the_hand_is() {
        let t = Trace::parse(OK, "a.csv").unwrap();
        let pts = t.points_of("z");
        let s = pen_stamps(&pts, 100.0);
        assert_eq!(s.len(), 101, "0 s to 1 s at 100 Hz");
        assert!((s[50].centre_mm - Vec2::new(5.0, 5.0)).norm() < 1e-9);
        assert!((s[50].heading - Vec2::new(1.0, 0.0)).norm() < 1e-12);
        // Lifted half-way: no stamps there.
        let lifted =
            Trace::parse("time_s,zone,u_mm,v_mm,pressure\n0,z,0,5,1\n0.5,z,5,5,1\n0.6,z,6,5,0\n1,z,10,5,1\n", "a.csv")
                .unwrap();
        let s = pen_stamps(&lifted.points_of("z"), 100.0);
        assert_eq!(s.len(), 51, "stamps only up to the lift");
    }

    #[test]
    fn a_roller_touches_by_distance_not_time() {
        let slow = Trace::parse("time_s,zone,u_mm,v_mm\n0,z,0,5\n10,z,40,5\n", "a.csv").unwrap();
        let fast = Trace::parse("time_s,zone,u_mm,v_mm\n0,z,0,5\n1,z,40,5\n", "a.csv").unwrap();
        let (a, ma) = roller_contacts(&slow.points_of("z"), 20.0, &[0.0], &[0.0], &[0]);
        let (b, mb) = roller_contacts(&fast.points_of("z"), 20.0, &[0.0], &[0.0], &[0]);
        assert_eq!((a.len(), ma), (3, 3), "contacts at 0, 20 and 40 mm");
        assert_eq!(b.len(), 3);
        assert_eq!(mb, 3);
        assert!((a[1].1 - Vec2::new(20.0, 5.0)).norm() < 1e-9 && (a[1].0 - 5.0).abs() < 1e-9);
    }
}
