//! Whether a socket is the caller's daemon, checked before anything is sent: a password must
//! never go to whatever listens at a path another user could have taken first (the
//! `/tmp/cognitod-<uid>` fallback when there is no `XDG_RUNTIME_DIR`).
//!
//! - Every directory above the socket belongs to the caller or root and cannot be written by
//!   others (a world-writable one only with the sticky bit, as `/tmp`, and never the socket's
//!   own directory), so no one else can have put the socket there or swapped a directory.
//! - The socket belongs to the caller or root, or to anyone when its directory is root's
//!   (root, or systemd for root, chose who serves it: the system-wide service account). Its
//!   own mode only says who may connect, which is the server's business.
//! - The process at the other end (`SO_PEERCRED`, the one that called `listen`) is the caller,
//!   root (systemd's socket activation), or the socket's owner when its directory is root's.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::ClientError;

/// The peers a socket that passed [`check_path`] may be served by, besides the caller and root.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    service_uid: Option<u32>,
}

/// Checks the socket at `socket` and the directories above it.
pub fn check_path(socket: &Path) -> Result<Expected, ClientError> {
    let caller = rustix::process::getuid().as_raw();
    let untrusted = |reason: String| ClientError::Untrusted {
        path: socket.to_path_buf(),
        reason,
    };
    // A symbolic link on the way that another user made could point anywhere (a shared
    // daemon's socket among them); root's and the caller's are theirs to make. Checked first,
    // so a link that points nowhere yet is refused too.
    for ancestor in socket.ancestors().skip(1) {
        if ancestor.as_os_str().is_empty() {
            continue;
        }
        if let Ok(link) = std::fs::symlink_metadata(ancestor)
            && link.file_type().is_symlink()
            && link.uid() != caller
            && link.uid() != 0
        {
            return Err(untrusted(format!(
                "{} is a symbolic link of uid {}, not yours (uid {caller}) or root's",
                ancestor.display(),
                link.uid()
            )));
        }
    }
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = match std::fs::canonicalize(dir) {
        Ok(dir) => dir,
        // No directory, no daemon: connecting says so (not running), sending nothing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Expected { service_uid: None });
        }
        Err(e) => return Err(untrusted(format!("its directory cannot be resolved ({e})"))),
    };
    let dir_owner = check_directories(&dir, caller).map_err(untrusted)?;
    let meta = match std::fs::symlink_metadata(socket) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Expected { service_uid: None });
        }
        Err(e) => return Err(untrusted(format!("it cannot be examined ({e})"))),
    };

    if !meta.file_type().is_socket() {
        return Err(untrusted("it is not a socket".into()));
    }
    let root_chose = dir_owner == 0;
    if meta.uid() != caller && meta.uid() != 0 && !root_chose {
        return Err(untrusted(format!(
            "the socket belongs to uid {}, not to you (uid {caller}) or root",
            meta.uid()
        )));
    }
    Ok(Expected {
        service_uid: root_chose.then_some(meta.uid()),
    })
}

/// Checks `dir` and every directory above it; the owner of `dir`.
fn check_directories(dir: &Path, caller: u32) -> Result<u32, String> {
    let mut owner_of_dir = None;
    for (depth, ancestor) in dir.ancestors().enumerate() {
        let meta = std::fs::metadata(ancestor)
            .map_err(|e| format!("{} cannot be read ({e})", ancestor.display()))?;
        let (uid, mode) = (meta.uid(), meta.mode());
        if uid != caller && uid != 0 {
            return Err(format!(
                "{} belongs to uid {uid}, not to you (uid {caller}) or root",
                ancestor.display()
            ));
        }
        let writable_by_others = mode & 0o022 != 0;
        let sticky = mode & 0o1000 != 0;
        if writable_by_others && (depth == 0 || !sticky) {
            return Err(format!(
                "others may write to {} (mode {:o})",
                ancestor.display(),
                mode & 0o7777
            ));
        }
        owner_of_dir.get_or_insert(uid);
    }
    owner_of_dir.ok_or_else(|| "it has no directory".to_owned())
}

/// Checks who serves the connection `fd` (from `SO_PEERCRED`).
pub fn check_peer(
    fd: impl rustix::fd::AsFd,
    socket: &Path,
    expected: Expected,
) -> Result<(), ClientError> {
    let caller = rustix::process::getuid().as_raw();
    let peer = rustix::net::sockopt::socket_peercred(fd)
        .map_err(|e| ClientError::Untrusted {
            path: socket.to_path_buf(),
            reason: format!("the server's credentials cannot be read ({e})"),
        })?
        .uid
        .as_raw();
    if peer == caller || peer == 0 || expected.service_uid == Some(peer) {
        return Ok(());
    }
    Err(ClientError::Untrusted {
        path: socket.to_path_buf(),
        reason: format!("it is served by uid {peer}, not by you (uid {caller}), root or its owner"),
    })
}

/// The message's fix, for [`ClientError::Untrusted`].
pub fn advice(path: &Path) -> String {
    let fallback = PathBuf::from(format!(
        "/tmp/cognitod-{}",
        rustix::process::getuid().as_raw()
    ));
    if path.starts_with(&fallback) {
        format!(
            "Another user may have set a trap at {}: remove it, or set XDG_RUNTIME_DIR (or --socket) to a directory of your own.",
            fallback.display()
        )
    } else {
        "Check the socket's path (--socket, COGNITOD_SOCKET) and who owns it.".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn open_directories_are_refused_and_sticky_parents_allowed() {
        let caller = rustix::process::getuid().as_raw();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check_directories(&dir, caller).is_ok());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let error = check_directories(&dir, caller).unwrap_err();
        assert!(error.contains("others may write"), "{error}");
        // /tmp itself (1777) is fine above a private directory.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let below = dir.join("e");
        std::fs::create_dir(&below).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check_directories(&below, caller).is_ok());
    }
}
