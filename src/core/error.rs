//! The input layer's errors: `SceneError`, what is wrong with a scene,
//! strategies file, trajectory or mesh, and where (file, line, column,
//! dotted key); and `ResolveError`, why a file a scene names could not be had.

/// A place in a scene file (1-based line and column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// Line, counted from 1.
    pub line: usize,
    /// Column in characters, counted from 1.
    pub column: usize,
}

/// A scene that cannot be used, and where and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}", line = at.line, column = at.column)]
pub struct SceneError {
    /// The file the error is in (a path or a label, as given to the parser).
    pub file: String,
    /// Line and column of the offending value.
    pub at: Location,
    /// Dotted path of the offending key, e.g. `zones[1].passes[0].lane_spacing_mm`.
    pub key: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

/// 1-based line and column of a byte offset.
pub fn location(text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Location { line, column }
}

/// Why a file a scene names (a mesh, a trajectory) could not be had: the
/// answer of the resolver the caller gives the scene parser.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file as the caller looked for it.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The file is larger than files of its kind may be.
    #[error("{path} is {mib:.0} MiB; mesh files over {limit_mib} MiB are refused (decimate it or cut out the zone)")]
    TooLarge {
        /// The file as the caller looked for it.
        path: String,
        /// Its size, MiB.
        mib: f64,
        /// The most accepted, MiB.
        limit_mib: u64,
    },
    /// This caller reads no files (a scene parsed from text alone).
    #[error("cannot read `{0}` here: mesh files are read by the command-line tool")]
    NoFiles(String),
}
