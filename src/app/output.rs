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

/// The file in an output folder that lists what the last run of needlemap
/// wrote there (name, length and modification time of each), so that the
/// next run removes exactly those of its files it does not write again.
pub const MANIFEST: &str = ".needlemap-manifest.json";
/// The commit record of a run's files: once it is in place the new set is
/// decided, and whoever finds it (this run, or the next needlemap that opens
/// the folder after a kill) finishes moving the set in.
const JOURNAL: &str = ".needlemap-journal.json";
/// Staging folders (one per run, random suffix) inside the output folder.
const STAGE_PREFIX: &str = ".needlemap-stage-";
/// The largest manifest or journal read (a planted huge file is ignored).
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// One file needlemap wrote, as it was when written: a file whose length or
/// time has changed since was changed by someone else and is left alone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Written {
    /// The file's name in the folder.
    pub name: String,
    /// Its length when written.
    pub bytes: u64,
    /// Its modification time when written (ns since 1970).
    pub modified_ns: u128,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Manifest {
    files: Vec<Written>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Journal {
    /// The staging folder's name (inside the output folder).
    stage: String,
    /// The new set, to move from the staging folder into the output folder.
    files: Vec<String>,
    /// Files of the last run this one does not write again.
    remove: Vec<Written>,
    /// Files of the last run kept as they are (`Mode::Add`).
    keep: Vec<Written>,
}

/// Whether a set of files replaces what the last run wrote into the folder
/// (a run owns its folder) or joins it (`report` adding its page to a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The set replaces the last run's files.
    Replace,
    /// The set joins the last run's files.
    Add,
}

/// A plain file name: no path separator, not hidden, not `.`/`..`, no
/// control character. Names read back from a manifest or journal must be
/// such names, so a planted record can never reach outside the folder.
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// A staging folder's name: the prefix and the random part, nothing else.
fn stage_name(name: &str) -> bool {
    name.strip_prefix(STAGE_PREFIX).is_some_and(plain_name)
}

fn stamp(path: &Path, name: &str) -> std::io::Result<Written> {
    let meta = std::fs::symlink_metadata(path)?;
    let modified_ns = meta.modified()?.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    Ok(Written { name: name.to_string(), bytes: meta.len(), modified_ns })
}

/// Reads a small JSON record of the folder (manifest or journal): `None` when
/// it is missing, not a regular file, too big or not well formed.
fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() || meta.len() > MAX_RECORD_BYTES {
        return None;
    }
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::open(path).ok()?, MAX_RECORD_BYTES),
        &mut text,
    )
    .ok()?;
    serde_json::from_str(&text).ok()
}

/// What the last run of needlemap wrote into `dir` (empty when it wrote
/// nothing there, or the folder's manifest is missing or damaged).
pub fn manifest(dir: &Path) -> Vec<Written> {
    let mut files = read_record::<Manifest>(&dir.join(MANIFEST)).unwrap_or_default().files;
    files.retain(|w| plain_name(&w.name));
    files
}

thread_local! {
    /// Folders whose lock this thread holds through a [`FolderLock`].
    static HELD: std::cell::RefCell<Vec<std::path::PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn held_key(dir: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Holds the folder's lock (an advisory lock on the folder itself) while a
/// set of files is moved in: two runs into one folder take turns. `None`
/// when this thread already holds it (a [`FolderLock`]).
fn lock(dir: &Path) -> anyhow::Result<Option<std::fs::File>> {
    let key = held_key(dir);
    if HELD.with(|h| h.borrow().contains(&key)) {
        return Ok(None);
    }
    let handle =
        std::fs::File::open(dir).with_context(|| format!("cannot open the output folder {}", dir.display()))?;
    handle.lock().with_context(|| format!("cannot lock the output folder {}", dir.display()))?;
    Ok(Some(handle))
}

/// The folder's lock held across several steps (`report` reads a run and
/// adds its page to it: no run may commit in between).
pub struct FolderLock {
    _file: Option<std::fs::File>,
    key: std::path::PathBuf,
}

/// Takes the folder's lock until the returned guard is dropped; the
/// writes of this thread into the folder meanwhile do not wait for it.
pub fn hold(dir: &Path) -> anyhow::Result<FolderLock> {
    let file = lock(dir)?;
    let key = held_key(dir);
    HELD.with(|h| h.borrow_mut().push(key.clone()));
    Ok(FolderLock { _file: file, key })
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().position(|k| *k == self.key) {
                h.remove(i);
            }
        });
    }
}

/// Finishes a set whose journal is in place (after a kill, the next run does
/// it), then removes staging folders no journal names. Call under the lock.
fn recover(dir: &Path) -> anyhow::Result<()> {
    let real_dir = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.file_type().is_dir());
    match read_record::<Journal>(&dir.join(JOURNAL)) {
        // A journal naming a real staging folder (never a link to one).
        Some(journal) if stage_name(&journal.stage) && real_dir(&journal.stage) => {
            if apply(dir, &journal, usize::MAX).is_err() {
                // What cannot be finished (a folder now where a file goes)
                // must not wedge the folder: the journal is dropped.
                std::fs::remove_file(dir.join(JOURNAL)).ok();
            }
        }
        // A damaged or planted journal decides nothing: the old set stands.
        _ => _ = std::fs::remove_file(dir.join(JOURNAL)),
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let is_stage = name.to_str().is_some_and(stage_name);
        if is_stage && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path()).ok();
        }
    }
    Ok(())
}

/// Moves a committed set into place: each staged file renamed in (one
/// already moved is skipped), the last run's left-over files removed, the
/// new manifest written, then the journal and the staging folder removed.
/// Each step can be repeated, so a kill at any point is finished by the
/// next `recover`. `steps` stops early (tests of a kill mid-way).
fn apply(dir: &Path, journal: &Journal, steps: usize) -> anyhow::Result<()> {
    let stage = dir.join(&journal.stage);
    let mut done = 0;
    let mut step = || {
        done += 1;
        done <= steps
    };
    for name in journal.files.iter().filter(|n| plain_name(n)) {
        if !step() {
            return Ok(());
        }
        let from = stage.join(name);
        if std::fs::symlink_metadata(&from).is_ok() {
            std::fs::rename(&from, dir.join(name))
                .with_context(|| format!("cannot move the new {} into place", dir.join(name).display()))?;
        }
    }
    for old in journal.remove.iter().filter(|w| plain_name(&w.name)) {
        if !step() {
            return Ok(());
        }
        let path = dir.join(&old.name);
        // Only a file still as needlemap wrote it; a link is removed itself.
        if stamp(&path, &old.name).is_ok_and(|now| now == *old) {
            std::fs::remove_file(&path).ok();
        }
    }
    if !step() {
        return Ok(());
    }
    let mut files = journal.keep.clone();
    for name in journal.files.iter().filter(|n| plain_name(n)) {
        files.retain(|w| &w.name != name);
        // Only a file that is there, as a file (one removed since is not
        // recorded, so nothing of the user's is adopted in its place).
        if let Ok(w) = stamp(&dir.join(name), name)
            && std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.file_type().is_file())
        {
            files.push(w);
        }
    }
    let record = serde_json::to_vec_pretty(&Manifest { files })?;
    write_atomic(&dir.join(MANIFEST), &record)?;
    std::fs::remove_file(dir.join(JOURNAL)).ok();
    std::fs::remove_dir_all(&stage).ok();
    Ok(())
}

/// Writes a set of named files into `dir` (created if needed) as one change:
/// all are written into a fresh staging folder inside `dir`, a journal
/// commits the set, and the files are renamed into place. With
/// `Mode::Replace` the files the last run wrote and this one does not are
/// removed (never a file needlemap did not write, nor one changed since).
/// A kill before the journal leaves the old set; after it, the new set
/// (finished by the next needlemap into the folder). None is written when
/// one would replace an input.
pub fn write_set(dir: &Path, files: &[(&str, Vec<u8>)], mode: Mode) -> anyhow::Result<()> {
    write_set_steps(dir, files, mode, usize::MAX)
}

fn write_set_steps(dir: &Path, files: &[(&str, Vec<u8>)], mode: Mode, steps: usize) -> anyhow::Result<()> {
    for (name, _) in files {
        anyhow::ensure!(plain_name(name), "{name:?} is not a plain file name");
        check_not_input(dir, std::ffi::OsStr::new(name), &dir.join(name))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    let _lock = lock(dir)?;
    recover(dir)?;
    let stage = tempfile::Builder::new()
        .prefix(STAGE_PREFIX)
        .tempdir_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    for (name, bytes) in files {
        let path = stage.path().join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    let names: Vec<String> = files.iter().map(|f| f.0.to_string()).collect();
    let (keep, remove): (Vec<Written>, Vec<Written>) =
        manifest(dir).into_iter().filter(|w| !names.contains(&w.name)).partition(|_| mode == Mode::Add);
    let stage_name = stage.path().file_name().unwrap_or_default().to_string_lossy().into_owned();
    let journal = Journal { stage: stage_name, files: names, remove, keep };
    // The commit: from here on the new set is decided.
    write_atomic(&dir.join(JOURNAL), &serde_json::to_vec_pretty(&journal)?)?;
    let _ = stage.keep();
    apply(dir, &journal, steps)
}

/// Writes a run's files into `dir`, which the run owns: see [`write_set`].
pub fn write_all(dir: &Path, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    write_set(dir, files, Mode::Replace)
}

/// Finishes a set left committed but not moved in by a killed run, so a
/// reader of the folder sees one whole set (a no-op on a folder needlemap
/// has not written, or cannot write).
pub fn settle(dir: &Path) {
    if std::fs::symlink_metadata(dir.join(JOURNAL)).is_ok()
        && let Ok(_lock) = lock(dir)
    {
        recover(dir).ok();
    }
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

    fn visible(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default()))
            .collect();
        v.sort();
        v
    }

    fn set(names: &[&str], tag: &str) -> Vec<(&'static str, Vec<u8>)> {
        names.iter().map(|n| (&*n.to_string().leak(), format!("{tag} {n}").into_bytes())).collect()
    }

    fn expect(files: &[(&str, Vec<u8>)], foreign: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = files.iter().map(|(n, b)| (n.to_string(), b.clone())).collect();
        v.extend(foreign.iter().map(|(n, b)| (n.to_string(), b.as_bytes().to_vec())));
        v.sort();
        v
    }

    #[test]
    fn a_run_replaces_the_last_runs_files_and_leaves_everything_else() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let first = set(&["report.json", "atlas.png", "hits.png", "zones.csv"], "first");
        write_all(&out, &first).unwrap();
        // The user's own file, and a file of the first run the user has since changed.
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        std::fs::write(out.join("hits.png"), "edited by hand").unwrap();
        let second = set(&["report.json", "zones.csv"], "second");
        write_all(&out, &second).unwrap();
        let foreign = [("notes.txt", "mine"), ("hits.png", "edited by hand")];
        assert_eq!(visible(&out), expect(&second, &foreign), "atlas.png went with the first run");
        let names: Vec<String> = manifest(&out).into_iter().map(|w| w.name).collect();
        assert_eq!(names, ["report.json", "zones.csv"]);
        // A page added to the run joins its set; the next run removes it.
        write_set(&out, &set(&["report.html"], "page"), Mode::Add).unwrap();
        assert_eq!(manifest(&out).len(), 3);
        write_all(&out, &second).unwrap();
        assert_eq!(visible(&out), expect(&second, &foreign));
        // Nothing left over of the machinery: the manifest only.
        let hidden: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert_eq!(hidden, [MANIFEST]);
    }

    #[test]
    fn a_kill_at_any_step_leaves_the_old_set_or_the_new_one() {
        let old = set(&["report.json", "atlas.png", "density.png"], "old");
        let new = set(&["report.json", "density.png", "bands.png"], "new");
        let steps_in_all = new.len() + old.len() + 1;
        for steps in 0..=steps_in_all {
            let root = tempfile::tempdir().unwrap();
            let out = root.path().join("out");
            write_all(&out, &old).unwrap();
            std::fs::write(out.join("notes.txt"), "mine").unwrap();
            // Killed after `steps` steps of moving the committed set in: the
            // journal is there, and whoever opens the folder next finishes it.
            write_set_steps(&out, &new, Mode::Replace, steps).unwrap();
            settle(&out);
            assert_eq!(visible(&out), expect(&new, &[("notes.txt", "mine")]), "killed after {steps} steps");
            assert!(!out.join(JOURNAL).exists());
        }
        // Killed while writing the staging folder, before the commit: the
        // old set stands, and the next run clears the half-written stage.
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        write_all(&out, &old).unwrap();
        let stage = out.join(format!("{STAGE_PREFIX}killed"));
        std::fs::create_dir(&stage).unwrap();
        std::fs::write(stage.join("report.json"), "half").unwrap();
        settle(&out);
        assert_eq!(visible(&out), expect(&old, &[]));
        write_all(&out, &new).unwrap();
        assert_eq!(visible(&out), expect(&new, &[]));
        assert!(!stage.exists(), "the dead stage is cleared");
    }

    #[test]
    fn a_planted_manifest_or_journal_cannot_remove_anything_outside_the_runs_files() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let precious = root.path().join("precious.txt");
        std::fs::write(&precious, "keep me").unwrap();
        std::fs::write(out.join("mine.txt"), "mine").unwrap();
        std::os::unix::fs::symlink(&precious, out.join("link.png")).unwrap();
        let len = std::fs::metadata(&precious).unwrap().len();
        let planted = |name: &str, bytes: u64| Written { name: name.into(), bytes, modified_ns: 0 };
        // Names reaching out of the folder, a hidden name, a file whose stamp
        // does not match, and a link (removed itself at most, never its target).
        let files = vec![
            planted("../precious.txt", len),
            planted(".hidden", 0),
            planted("mine.txt", 4),
            stamp(&out.join("link.png"), "link.png").unwrap(),
        ];
        std::fs::write(out.join(MANIFEST), serde_json::to_vec(&Manifest { files }).unwrap()).unwrap();
        let journal = Journal {
            stage: "../".into(),
            files: vec!["../precious.txt".into()],
            remove: vec![planted("../precious.txt", len)],
            keep: vec![],
        };
        std::fs::write(out.join(JOURNAL), serde_json::to_vec(&journal).unwrap()).unwrap();
        write_all(&out, &set(&["report.json"], "run")).unwrap();
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(out.join("mine.txt")).unwrap(), "mine", "its stamp did not match");
        assert!(std::fs::symlink_metadata(out.join("link.png")).is_err(), "the link itself went");
        assert!(!out.join(JOURNAL).exists(), "the planted journal decided nothing and is gone");
    }

    #[test]
    fn a_set_that_cannot_be_finished_or_a_linked_stage_never_wedges_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let outside = root.path().join("elsewhere");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("report.json"), "keep me").unwrap();
        write_all(&out, &set(&["report.json", "zones.csv"], "old")).unwrap();
        // A journal whose stage is a link to a folder outside: dropped unread.
        let stage = format!("{STAGE_PREFIX}linked");
        std::os::unix::fs::symlink(&outside, out.join(&stage)).unwrap();
        let journal = Journal { stage, files: vec!["report.json".into()], remove: vec![], keep: vec![] };
        std::fs::write(out.join(JOURNAL), serde_json::to_vec(&journal).unwrap()).unwrap();
        write_all(&out, &set(&["report.json"], "new")).unwrap();
        assert_eq!(std::fs::read_to_string(outside.join("report.json")).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "new report.json");
        // Killed after the commit, then a folder put where a file goes: the
        // next run is not stopped by the set it cannot finish.
        write_set_steps(&out, &set(&["report.json", "atlas.png"], "third"), Mode::Replace, 0).unwrap();
        std::fs::create_dir(out.join("atlas.png")).unwrap();
        std::fs::write(out.join("atlas.png").join("mine"), "x").unwrap();
        write_all(&out, &set(&["report.json"], "fourth")).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "fourth report.json");
        assert!(out.join("atlas.png/mine").exists(), "the user's folder is left alone");
        assert!(!out.join(JOURNAL).exists());
    }

    #[test]
    fn a_held_folder_takes_this_threads_writes_and_makes_other_runs_wait() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        write_all(&out, &set(&["report.json"], "run")).unwrap();
        let held = hold(&out).unwrap();
        // This thread's page joins the set at once (no deadlock on itself).
        write_set(&out, &set(&["report.html"], "page"), Mode::Add).unwrap();
        let other = {
            let out = out.clone();
            std::thread::spawn(move || write_all(&out, &set(&["report.json"], "later")).unwrap())
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "run report.json", "it waited");
        assert!(out.join("report.html").exists());
        drop(held);
        other.join().unwrap();
        assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "later report.json");
        assert!(!out.join("report.html").exists(), "the page went with its run");
    }
}
