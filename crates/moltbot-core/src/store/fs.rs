//! Private files and folders: folders 0700, files 0600 (the state store and the gateway log hold
//! data only the owner may read).
//!
//! Only folders this code creates are given mode 0700: an existing parent such as `/tmp` is left
//! alone. Files are created 0600 and existing ones are tightened to 0600.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of folders moltbot creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files moltbot creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing ancestors with mode 0700 (ancestors that already exist keep
/// their mode).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir_all(parent)?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)),
        // Another process created it in the meantime.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for appending, creating it 0600 if missing and tightening an existing file to
/// 0600.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Sets mode 0600 on `path` if it exists.
pub fn tighten_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
