//! Writing results: every file goes to a temporary name in the target folder
//! and is renamed into place, so a reader never sees a half-written file.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temp file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let tmp: PathBuf = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result =
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display())).and_then(|_| {
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot move {} into place as {}", tmp.display(), path.display()))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a set of named files into `dir` (created if needed). All contents
/// are computed before this is called; each file lands whole or not at all.
pub fn write_all(dir: &Path, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    for (name, bytes) in files {
        write_atomic(&dir.join(name), bytes)?;
    }
    Ok(())
}
