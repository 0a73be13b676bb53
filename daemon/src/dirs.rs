//! Private directories: the socket's and the state's. Created 0700 when missing; an existing
//! one is checked, not assumed (owned by the daemon's uid, no group or other access, not a
//! symbolic link).

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why a directory cannot hold the daemon's private files; names the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    #[error("cannot create {}: {source}\nFix: create it (mode 700) or set {key} to a path the daemon can create", path.display())]
    Create {
        path: PathBuf,
        key: &'static str,
        source: io::Error,
    },
    #[error("{} {problem}\nFix: {fix}", path.display())]
    Unsafe {
        path: PathBuf,
        problem: String,
        fix: String,
    },
}

/// Makes sure `dir` exists and only `uid` can use it. `key` is the config key that sets it,
/// for the message.
pub fn ensure_private_dir(dir: &Path, uid: u32, key: &'static str) -> Result<(), PrivateDirError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PrivateDirError::Create {
            path: dir.to_path_buf(),
            key,
            source,
        })?;
    check_private_dir(dir, uid, key)
}

/// Checks that the existing directory `dir` is one only `uid` can use (as
/// [`ensure_private_dir`] does, without creating it).
pub fn check_private_dir(dir: &Path, uid: u32, key: &'static str) -> Result<(), PrivateDirError> {
    let unsafe_dir = |problem: String, fix: String| PrivateDirError::Unsafe {
        path: dir.to_path_buf(),
        problem,
        fix,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|source| PrivateDirError::Create {
        path: dir.to_path_buf(),
        key,
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            "is a symbolic link".into(),
            format!("set {key} to the real directory, or replace the link with a directory"),
        ));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir(
            "is not a directory".into(),
            format!("remove it, or set {key} to another path"),
        ));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(
            format!(
                "is owned by uid {}, not by this daemon's uid {uid}",
                meta.uid()
            ),
            format!("chown {uid} {}", dir.display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(unsafe_dir(
            format!(
                "has mode {:o}: other users could reach what is inside",
                meta.mode() & 0o777
            ),
            format!("chmod 700 {}", dir.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn uid() -> u32 {
        rustix::process::getuid().as_raw()
    }

    #[test]
    fn creates_missing_directories_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir, uid(), "[daemon] state_dir").unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn refuses_open_foreign_and_linked_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = ensure_private_dir(&open, uid(), "k").unwrap_err();
        assert!(err.to_string().contains("chmod 700"), "{err}");

        let err = ensure_private_dir(tmp.path(), uid() + 1, "k").unwrap_err();
        assert!(err.to_string().contains("owned by uid"), "{err}");

        let private = tmp.path().join("private");
        ensure_private_dir(&private, uid(), "k").unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        let err = ensure_private_dir(&link, uid(), "k").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}
