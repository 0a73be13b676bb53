//! The daemon's Unix socket: a 0700 directory the daemon owns (checked, not assumed), a 0600
//! socket (the umask is set before bind, so there is no window), stale sockets replaced.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use rustix::fs::Mode;

use crate::dirs::{PrivateDirError, ensure_private_dir};

/// Why the socket cannot be served; each names the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("socket path {} has no parent directory", .0.display())]
    NoParent(PathBuf),
    #[error(transparent)]
    Dir(#[from] PrivateDirError),
    #[error(
        "{} exists and is not a socket; refusing to replace it\nFix: remove it, or set [daemon] socket to another path",
        .0.display()
    )]
    NotASocket(PathBuf),
    #[error(
        "another cognitod is already serving {}\nFix: stop it first, or set [daemon] socket to another path",
        .0.display()
    )]
    InUse(PathBuf),
    #[error("cannot bind {}: {source}", path.display())]
    Bind { path: PathBuf, source: io::Error },
}

/// Binds the socket at `path` for the user `uid`, creating its directory 0700 if missing.
pub fn bind(path: &Path, uid: u32) -> Result<tokio::net::UnixListener, SocketError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| SocketError::NoParent(path.to_path_buf()))?;
    ensure_private_dir(dir, uid, "[daemon] socket")?;
    // A profile's socket sits two levels down (`.../cognitod/profiles/P/`, or
    // `/tmp/cognitod-<uid>/profiles/P/`): those levels are the daemon's too, or someone who made
    // them first could swap what is below.
    if dir.parent().and_then(Path::file_name) == Some("profiles".as_ref()) {
        for level in dir.ancestors().skip(1).take(2) {
            crate::dirs::check_private_dir(level, uid, "[daemon] socket")?;
        }
    }
    remove_stale(path)?;

    let previous = rustix::process::umask(Mode::from_raw_mode(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    rustix::process::umask(previous);
    let listener = bound.map_err(|source| SocketError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixListener::from_std(listener))
        .map_err(|source| SocketError::Bind {
            path: path.to_path_buf(),
            source,
        })
}

/// Removes a socket left by a dead daemon. A live daemon's socket, or anything that is not a
/// socket, is left alone and reported.
fn remove_stale(path: &Path) -> Result<(), SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SocketError::Bind {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket(path.to_path_buf()));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(SocketError::InUse(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "replacing a stale socket");
            std::fs::remove_file(path).map_err(|source| SocketError::Bind {
                path: path.to_path_buf(),
                source,
            })
        }
        Err(source) => Err(SocketError::Bind {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes the socket at shutdown, if it is still a socket.
pub fn remove(path: &Path) {
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if is_socket && let Err(error) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), %error, "cannot remove the socket");
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn uid() -> u32 {
        rustix::process::getuid().as_raw()
    }

    #[tokio::test]
    async fn creates_a_private_directory_and_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("run/cognitod/socket");
        let _listener = bind(&path, uid()).unwrap();
        let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let socket_mode = std::fs::symlink_metadata(&path).unwrap().mode();
        assert_eq!(socket_mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn refuses_an_open_directory_a_live_socket_and_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = bind(&dir.join("socket"), uid()).unwrap_err();
        assert!(err.to_string().contains("chmod 700"), "{err}");

        let private = tmp.path().join("private");
        let socket = private.join("socket");
        let live = bind(&socket, uid()).unwrap();
        assert!(matches!(bind(&socket, uid()), Err(SocketError::InUse(_))));
        drop(live);
        // The listener is gone but its file stays: a stale socket, replaced.
        let _again = bind(&socket, uid()).unwrap();

        let file = private.join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            bind(&file, uid()),
            Err(SocketError::NotASocket(_))
        ));
        assert!(file.exists(), "a non-socket is never removed");
    }
}
