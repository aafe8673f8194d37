//! Reading the files a command is given: regular files only (a device, a
//! pipe or a folder is refused before it is opened, so nothing hangs), and
//! every size limit enforced while reading (a size of 0 from the file system
//! is not trusted). Each file read is noted, so no output replaces it.

use crate::app::output;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Largest mesh or trajectory file read, bytes: a 2-million-triangle OBJ is
/// about 150 MB.
pub const MAX_MESH_FILE_BYTES: u64 = 256 << 20;

/// Largest scene, strategies or JSON file read, bytes.
pub const MAX_TEXT_FILE_BYTES: u64 = 64 << 20;

/// Why an input file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a regular file.
    #[error("{path} is not a regular file ({kind}): give a file")]
    NotAFile {
        /// The path as given.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// Larger than the limit (found while reading).
    #[error("{path} is over {limit_mib} MiB; files of this kind over that are refused")]
    TooLarge {
        /// The path as given.
        path: String,
        /// The limit, MiB.
        limit_mib: u64,
    },
    /// Not UTF-8 text.
    #[error("{path}: line {line}, byte {byte}: not UTF-8 text")]
    NotText {
        /// The path as given.
        path: String,
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based byte in that line.
        byte: usize,
    },
    /// The system refused.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The path as given.
        path: String,
        /// What the system said.
        error: std::io::Error,
    },
}

/// The bytes of the regular file `path`, at most `limit` of them.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let shown = path.display().to_string();
    let io = |error| ReadError::Io { path: shown.clone(), error };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a folder" } else { "a device, a pipe or a socket" };
        return Err(ReadError::NotAFile { path: shown, kind });
    }
    output::note_input(path);
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(io)?.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { path: shown, limit_mib: limit >> 20 });
    }
    Ok(bytes)
}

/// The text of the regular file `path` (UTF-8; a leading byte-order mark is
/// dropped), at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    as_text(path, read_bytes(path, limit)?)
}

fn as_text(path: &Path, bytes: Vec<u8>) -> Result<String, ReadError> {
    match crate::core::format::utf8_text(&bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(crate::core::format::NotUtf8 { line, byte }) => {
            Err(ReadError::NotText { path: path.display().to_string(), line, byte })
        }
    }
}

/// Where the input files of a load come from: the file system (all the
/// command line reads), files given by their content (a scene given as
/// text), and, when recording, a copy of every file read, so that the same
/// load can be replayed elsewhere from those copies alone: the Python
/// package sends them with the runs of a sweep to a cluster's workers, which
/// need not see the files.
#[derive(Debug, Default)]
pub struct Files {
    /// Files by the path they are asked for: given, or kept when recording.
    known: Mutex<BTreeMap<String, Arc<Vec<u8>>>>,
    /// Whether paths not known are read from the file system.
    disk: bool,
    /// Whether files read from the file system are kept.
    record: bool,
}

impl Files {
    /// The file system, as the command line reads it.
    pub fn disk() -> Files {
        Files { disk: true, ..Default::default() }
    }

    /// The file system, keeping a copy of every file read ([`Files::contents`]).
    pub fn recording() -> Files {
        Files { disk: true, record: true, ..Default::default() }
    }

    /// Only these files (path -> content): a recorded load replayed.
    pub fn only(files: BTreeMap<String, Arc<Vec<u8>>>) -> Files {
        Files { known: Mutex::new(files), ..Default::default() }
    }

    /// Also the file `path` with this content (read as if it were there).
    pub fn with(self, path: &Path, content: Vec<u8>) -> Files {
        self.lock().insert(key(path), Arc::new(content));
        self
    }

    /// Whether paths not given are read from the file system.
    pub fn reads_disk(&self) -> bool {
        self.disk
    }

    /// Every file read or given so far, by path.
    pub fn contents(&self) -> BTreeMap<String, Arc<Vec<u8>>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Vec<u8>>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes of `path`, at most `limit` of them (see [`read_bytes`]).
    pub fn read_bytes(&self, path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
        if let Some(bytes) = self.lock().get(&key(path)) {
            if bytes.len() as u64 > limit {
                return Err(ReadError::TooLarge { path: path.display().to_string(), limit_mib: limit >> 20 });
            }
            return Ok(bytes.to_vec());
        }
        if !self.disk {
            return Err(ReadError::Io {
                path: path.display().to_string(),
                error: std::io::Error::new(std::io::ErrorKind::NotFound, "not among the files sent with the runs"),
            });
        }
        let bytes = read_bytes(path, limit)?;
        if self.record {
            self.lock().insert(key(path), Arc::new(bytes.clone()));
        }
        Ok(bytes)
    }

    /// The text of `path` (see [`read_text`]).
    pub fn read_text(&self, path: &Path, limit: u64) -> Result<String, ReadError> {
        as_text(path, self.read_bytes(path, limit)?)
    }
}

/// A path as a key of [`Files`]: as given, not resolved (a replay asks for
/// the same paths the recording did).
fn key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_load_replays_from_its_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.toml"), dir.path().join("b.csv"));
        std::fs::write(&a, "name = \"a\"\n").unwrap();
        std::fs::write(&b, "1,2\n").unwrap();
        let given = dir.path().join("given.toml");
        let rec = Files::recording().with(&given, b"x = 1\n".to_vec());
        assert_eq!(rec.read_text(&a, 1 << 20).unwrap(), "name = \"a\"\n");
        assert_eq!(rec.read_bytes(&b, 1 << 20).unwrap(), b"1,2\n");
        assert_eq!(rec.read_text(&given, 1 << 20).unwrap(), "x = 1\n", "given, not read from disk");
        let kept = rec.contents();
        assert_eq!(kept.len(), 3);
        // Not recording: nothing kept but what was given.
        let plain = Files::disk();
        plain.read_bytes(&a, 1 << 20).unwrap();
        assert!(plain.contents().is_empty());
        // The files gone from disk, the replay still reads them, and nothing else.
        drop(dir);
        let only = Files::only(kept);
        assert!(!only.reads_disk());
        assert_eq!(only.read_text(&a, 1 << 20).unwrap(), "name = \"a\"\n");
        assert_eq!(only.read_bytes(&b, 1 << 20).unwrap(), b"1,2\n");
        let e = only.read_bytes(Path::new("/etc/hostname"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("not among the files sent with the runs"), "{e}");
        // Limits hold for given files too.
        assert!(matches!(only.read_bytes(&b, 2).unwrap_err(), ReadError::TooLarge { .. }));
    }

    #[test]
    fn only_regular_files_are_read_and_limits_hold_while_reading() {
        let dir = tempfile::tempdir().unwrap();
        // /dev/zero reports a size of 0 and never ends: refused unopened.
        let e = read_bytes(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(e, ReadError::NotAFile { .. }), "{e}");
        // A named pipe with no writer would block an open forever.
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(read_bytes(&fifo, 1 << 20).unwrap_err(), ReadError::NotAFile { .. }));
        assert!(matches!(read_bytes(dir.path(), 1 << 20).unwrap_err(), ReadError::NotAFile { kind: "a folder", .. }));
        // The limit is counted in what is read, not in what the size says.
        let big = dir.path().join("big.txt");
        std::fs::write(&big, vec![b'x'; 3000]).unwrap();
        assert!(matches!(read_bytes(&big, 2999).unwrap_err(), ReadError::TooLarge { .. }));
        assert_eq!(read_bytes(&big, 3000).unwrap().len(), 3000);
        // Text: a byte-order mark is dropped; bad UTF-8 names its line and byte.
        let t = dir.path().join("t.toml");
        std::fs::write(&t, b"\xef\xbb\xbfa = 1\nb = \"\xff\"\n").unwrap();
        match read_text(&t, 1 << 20).unwrap_err() {
            ReadError::NotText { line, byte, .. } => assert_eq!((line, byte), (2, 6)),
            e => panic!("{e}"),
        }
        std::fs::write(&t, b"\xef\xbb\xbfa = 1\n").unwrap();
        assert_eq!(read_text(&t, 1 << 20).unwrap(), "a = 1\n");
    }
}
