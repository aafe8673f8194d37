//! Writing results: every file goes to a temporary file in the target folder
//! and is renamed into place, so a reader never sees a half-written file.
//! The temporary file is created exclusively under an unpredictable name
//! (the tempfile crate), so no link planted in the folder is written through;
//! the rename replaces a link at the target itself, never what it points to.

use anyhow::Context;
use std::io::Write as _;
use std::path::Path;

/// The files this run of the command has read (canonical paths): no output
/// may replace one of them.
static INPUTS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Notes that the command reads `path`, so that no output replaces it.
pub fn note_input(path: &Path) {
    if let Ok(p) = std::fs::canonicalize(path) {
        INPUTS.lock().unwrap_or_else(|e| e.into_inner()).push(p);
    }
}

/// An output path that is one of the command's inputs (refused, exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0} is one of this command's inputs: refusing to write over it (give another output)")]
pub struct OverwritesInput(pub std::path::PathBuf);

/// Refuses `path` when it is one of the files the command read.
fn check_not_input(dir: &Path, name: &std::ffi::OsStr, path: &Path) -> anyhow::Result<()> {
    let Ok(dir) = std::fs::canonicalize(dir) else { return Ok(()) };
    let target = dir.join(name);
    if INPUTS.lock().unwrap_or_else(|e| e.into_inner()).contains(&target) {
        return Err(OverwritesInput(path.to_path_buf()).into());
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temp file in the same folder, then
/// rename); refuses a path the command read from.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    check_not_input(dir, name, path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", tmp.path().display()))?;
    // (dropped on an error above: the temporary file is removed)
    tmp.persist(path).with_context(|| format!("cannot move the new {} into place", path.display()))?;
    Ok(())
}

/// Writes a set of named files into `dir` (created if needed). All contents
/// are computed before this is called; each file lands whole or not at all,
/// and none is written when one would replace an input.
pub fn write_all(dir: &Path, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    for (name, _) in files {
        check_not_input(dir, std::ffi::OsStr::new(name), &dir.join(name))?;
    }
    for (name, bytes) in files {
        write_atomic(&dir.join(name), bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_in_the_folder_is_replaced_never_written_through() {
        let root = tempfile::tempdir().unwrap();
        let (out, outside) = (root.path().join("out"), root.path().join("precious.txt"));
        std::fs::create_dir(&out).unwrap();
        std::fs::write(&outside, "keep me").unwrap();
        // A link planted at the target, and at the old predictable temporary name.
        std::os::unix::fs::symlink(&outside, out.join("report.json")).unwrap();
        std::os::unix::fs::symlink(&outside, out.join(format!(".report.json.tmp-{}", std::process::id()))).unwrap();
        write_atomic(&out.join("report.json"), b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
        let meta = std::fs::symlink_metadata(out.join("report.json")).unwrap();
        assert!(meta.file_type().is_file(), "the link itself was replaced by the new file");
        assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "{}");
        // Nothing else is left in the folder but the planted link.
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}
