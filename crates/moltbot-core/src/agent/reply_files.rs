//! The files a `command` agent names in its answer (`"files": [..]`), taken from its turn
//! folder and nowhere else.
//!
//! An entry starting with `http://` or `https://` is a URL, posted as is. Any other entry is a
//! path (relative paths are relative to the turn folder); it is accepted only when, after
//! canonicalising (`.` and `..` resolved on the path as written, then symlinks followed), it
//! is a regular file inside the turn folder with no other hard link. Anything else (the config file, the store, a symlink or a
//! hard link in the folder pointing out of it, a folder, a FIFO, a missing file) is refused
//! **without being read**: a warning names the path
//! and the reply gets a one-line notice. A prompt-injected agent therefore cannot post a file
//! the gateway can read but the agent was not given.
//!
//! Accepted files are read right away, before the turn folder is removed, and travel with the
//! reply (the outbox stores their bytes), so a crash between "answered" and "sent" still posts
//! them once, on whichever replica takes the message over.

use std::path::{Path, PathBuf};

use super::{LocalFile, ReplyFile};

/// Most files one reply may carry; further entries are refused with a notice.
pub const MAX_REPLY_FILES: usize = 10;

/// Largest local file read for a reply: Webex's per-file limit (100 MB, read as MiB, the larger
/// reading). A channel may refuse smaller sizes before the reply is recorded
/// ([`Channel::max_upload_bytes`](crate::gateway::Channel::max_upload_bytes)).
pub const MAX_REPLY_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// What [`capture`] made of the `files` entries: the files to post, in order, and one notice
/// line per entry refused.
#[derive(Debug, Default)]
pub struct Captured {
    /// The files to post.
    pub files: Vec<ReplyFile>,
    /// Short notices for the reply, one per refused entry (no full path: just its base name).
    pub notices: Vec<String>,
}

/// Resolves the `files` entries of an answer against the turn `folder` (see the module
/// documentation); never fails: every problem is a refusal with a log line and a notice.
pub async fn capture(agent: &str, folder: &Path, entries: &[String]) -> Captured {
    let mut captured = Captured::default();
    let root = match tokio::fs::canonicalize(folder).await {
        Ok(root) => Some(root),
        Err(err) => {
            tracing::warn!(agent, folder = %folder.display(), error = %err, "the turn folder cannot be resolved; no local file of this answer is posted");
            None
        }
    };
    for (index, entry) in entries.iter().enumerate() {
        let entry = entry.trim();
        if index >= MAX_REPLY_FILES {
            tracing::warn!(agent, path = %entry, limit = MAX_REPLY_FILES, "reply file refused: too many files in one answer");
            captured.notices.push(format!(
                "(Not attached: {}: at most {MAX_REPLY_FILES} files per answer.)",
                display_name(entry)
            ));
            continue;
        }
        if is_url(entry) {
            captured.files.push(ReplyFile::Url(entry.to_string()));
            continue;
        }
        let result = match &root {
            Some(root) => read_inside(root, entry).await,
            None => Err(Refusal::Unresolvable),
        };
        match result {
            Ok(file) => captured.files.push(ReplyFile::Local(file)),
            Err(refusal) => {
                tracing::warn!(agent, path = %entry, reason = refusal.reason(), "reply file refused; it is not read or posted");
                captured.notices.push(format!(
                    "(Not attached: {}: {}.)",
                    display_name(entry),
                    refusal.reason()
                ));
            }
        }
    }
    captured
}

/// Whether a `files` entry is a URL to post as is.
fn is_url(entry: &str) -> bool {
    let lower = entry.get(..8).unwrap_or(entry).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The base name of an entry, for the reply's notice (at most 80 characters).
fn display_name(entry: &str) -> String {
    let base = entry
        .rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(entry);
    let name: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '`')
        .take(80)
        .collect();
    if name.is_empty() {
        "a file".to_string()
    } else {
        format!("`{name}`")
    }
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Unresolvable,
    Missing,
    Outside,
    HardLinked,
    NotAFile,
    TooLarge,
    Changed,
    Unreadable,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Unresolvable => "the turn folder cannot be resolved",
            Refusal::Missing => "no such file",
            Refusal::Outside => "files can only come from this turn's folder",
            Refusal::HardLinked => "it has other hard links",
            Refusal::NotAFile => "not a regular file",
            Refusal::TooLarge => "larger than 100 MB",
            Refusal::Changed => "the file changed while it was read",
            Refusal::Unreadable => "the file could not be read",
        }
    }
}

/// The canonical form of `entry` (relative to `root`) if it lies inside `root`. `.` and `..`
/// are resolved on the path as written first (`sub/../a.txt` is `a.txt`, whether `sub` exists
/// or not), then symlinks are followed; only the result is checked, so a `..` cannot lead out.
async fn resolve_inside(root: &Path, entry: &str) -> Result<PathBuf, Refusal> {
    let path = lexically_normal(&root.join(entry));
    let canonical = tokio::fs::canonicalize(&path)
        .await
        .map_err(|_| Refusal::Missing)?;
    if canonical.starts_with(root) && canonical != root {
        Ok(canonical)
    } else {
        Err(Refusal::Outside)
    }
}

/// `path` with its `.` components dropped and each `..` removing the component before it (at
/// the root it stays at the root), without touching the file system.
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other.as_os_str()),
        }
    }
    normal
}

/// Reads `entry` if it is a regular file inside `root` with no other hard link (a hard link
/// in the folder to a file elsewhere would otherwise pass for a file of the folder). It is
/// opened without following a symlink and without blocking (a FIFO cannot hold the turn up);
/// the check is made again after the file is opened and must name the same file (device and
/// inode), so swapping a path for a symlink between the check and the read is refused too.
async fn read_inside(root: &Path, entry: &str) -> Result<LocalFile, Refusal> {
    let canonical = resolve_inside(root, entry).await?;
    let before = tokio::fs::metadata(&canonical)
        .await
        .map_err(|_| Refusal::Missing)?;
    if !before.is_file() {
        return Err(Refusal::NotAFile);
    }
    let opened = open_no_follow(&canonical)
        .await
        .map_err(|_| Refusal::Unreadable)?;
    let meta = opened.metadata().await.map_err(|_| Refusal::Unreadable)?;
    if !meta.is_file() {
        return Err(Refusal::NotAFile);
    }
    if has_other_links(&meta) {
        return Err(Refusal::HardLinked);
    }
    if meta.len() > MAX_REPLY_FILE_BYTES {
        return Err(Refusal::TooLarge);
    }
    let again = resolve_inside(root, entry).await?;
    let now = tokio::fs::metadata(&again)
        .await
        .map_err(|_| Refusal::Changed)?;
    if !same_file(&meta, &now) {
        return Err(Refusal::Changed);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    use tokio::io::AsyncReadExt;
    opened
        .take(MAX_REPLY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|_| Refusal::Unreadable)?;
    if bytes.len() as u64 > MAX_REPLY_FILE_BYTES {
        return Err(Refusal::TooLarge);
    }
    let name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let content_type = mime_guess::from_path(&name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string();
    Ok(LocalFile::new(name, content_type, bytes))
}

/// Opens `path` for reading; on Unix with `O_NOFOLLOW | O_NONBLOCK`.
async fn open_no_follow(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    options.open(path).await
}

#[cfg(unix)]
fn has_other_links(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.nlink() > 1
}

#[cfg(not(unix))]
fn has_other_links(_meta: &std::fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(captured: &Captured) -> Vec<String> {
        captured
            .files
            .iter()
            .map(|f| f.name().to_string())
            .collect()
    }

    #[tokio::test]
    async fn only_files_inside_the_folder_are_read() {
        let folder = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("moltbot.json");
        std::fs::write(&secret, "{botToken: 'x'}").unwrap();
        std::fs::write(folder.path().join("a.txt"), "A").unwrap();
        std::fs::create_dir(folder.path().join("sub")).unwrap();
        std::fs::write(folder.path().join("sub/b.csv"), "B").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&secret, folder.path().join("link.json")).unwrap();
        std::fs::hard_link(&secret, folder.path().join("hard.json")).unwrap();
        let entries: Vec<String> = vec![
            "a.txt".into(),
            folder.path().join("sub/b.csv").display().to_string(),
            secret.display().to_string(),
            "../no-such-moltbot-file".into(),
            "link.json".into(),
            "hard.json".into(),
            "sub".into(),
            "missing.txt".into(),
            "https://example.com/r.pdf?x=1".into(),
        ];
        let captured = capture("t", folder.path(), &entries).await;
        assert_eq!(names(&captured), ["a.txt", "b.csv", "r.pdf"]);
        match &captured.files[0] {
            ReplyFile::Local(f) => {
                assert_eq!(f.content_type, "text/plain");
                assert_eq!(&f.bytes[..], b"A");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            captured.notices,
            [
                "(Not attached: `moltbot.json`: files can only come from this turn's folder.)",
                "(Not attached: `no-such-moltbot-file`: no such file.)",
                "(Not attached: `link.json`: files can only come from this turn's folder.)",
                "(Not attached: `hard.json`: it has other hard links.)",
                "(Not attached: `sub`: not a regular file.)",
                "(Not attached: `missing.txt`: no such file.)",
            ]
        );
    }

    #[tokio::test]
    async fn dot_dot_is_resolved_as_written_and_cannot_lead_out() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("a.txt"), "A").unwrap();
        std::fs::create_dir(folder.path().join("real")).unwrap();
        let outside_name = folder
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let entries: Vec<String> = vec![
            "sub/../a.txt".into(),
            "./real/../a.txt".into(),
            format!("../{outside_name}/a.txt"),
            "../../../../../../../../etc/passwd".into(),
        ];
        let captured = capture("t", folder.path(), &entries).await;
        assert_eq!(names(&captured), ["a.txt", "a.txt", "a.txt"]);
        assert_eq!(
            captured.notices,
            ["(Not attached: `passwd`: files can only come from this turn's folder.)"]
        );
        assert_eq!(
            lexically_normal(Path::new("/r/sub/../x/./y")),
            Path::new("/r/x/y")
        );
        assert_eq!(lexically_normal(Path::new("/../a")), Path::new("/a"));
    }

    #[tokio::test]
    async fn at_most_ten_files() {
        let folder = tempfile::tempdir().unwrap();
        let entries: Vec<String> = (0..12).map(|i| format!("https://e.com/{i}")).collect();
        let captured = capture("t", folder.path(), &entries).await;
        assert_eq!(captured.files.len(), MAX_REPLY_FILES);
        assert_eq!(captured.notices.len(), 2);
    }
}
