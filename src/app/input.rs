//! Reading the files a command is given: regular files only (a device, a
//! pipe or a folder is refused before it is opened, so nothing hangs), and
//! every size limit enforced while reading (a size of 0 from the file system
//! is not trusted). Each file read is noted, so no output replaces it.

use crate::app::output;
use std::io::Read as _;
use std::path::Path;

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
    let bytes = read_bytes(path, limit)?;
    match crate::core::format::utf8_text(&bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(crate::core::format::NotUtf8 { line, byte }) => {
            Err(ReadError::NotText { path: path.display().to_string(), line, byte })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
