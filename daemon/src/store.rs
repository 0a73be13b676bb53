//! The persisted session: `session.json` in the state directory, mode 0600 in a 0700
//! directory, written atomically (temp file in the same directory, fsync, rename, fsync the
//! directory) so a crash leaves either the old file or the new one.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use cognitod_proto::{Secret, SignInDetails, Timestamp};
use serde::{Deserialize, Serialize};

/// The file's format version.
pub const VERSION: u32 = 1;
const FILE_NAME: &str = "session.json";

/// What is kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    /// The signed-in user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<PersistedUser>,
    /// The guest identity of the identity pool: reused while signed out, offered at sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_identity_id: Option<String>,
    /// A federated identity, if any (instead of a user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<PersistedFederation>,
    /// Remembered devices: this machine as each user's device (kept across sign-outs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<PersistedDevice>,
}

/// A remembered device as stored; its password is a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedDevice {
    pub user_pool_id: String,
    pub username: String,
    pub login_id: String,
    pub device_key: String,
    pub device_group_key: String,
    pub device_password: Secret,
    pub remembered: bool,
    pub name: String,
}

/// A federated identity as stored: the provider's token is kept only while it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedFederation {
    pub provider: String,
    pub token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// The identity pool the identity is in.
    pub identity_pool_id: String,
}

/// A signed-in user's session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedUser {
    pub username: String,
    pub user_id: String,
    pub sign_in_details: SignInDetails,
    pub id_token: Secret,
    pub access_token: Secret,
    pub refresh_token: Secret,
    /// The server's clock minus ours when the tokens arrived, in milliseconds.
    #[serde(default)]
    pub clock_drift_ms: i64,
    /// Set before a refresh that rotates the refresh token is sent, cleared when its answer is
    /// stored: a daemon that starts and finds it set refreshes at once, inside Cognito's
    /// rotation grace period.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh_in_flight: bool,
    /// The user's identity in the identity pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// The remembered device the tokens were issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct File1 {
    version: u32,
    #[serde(flatten)]
    body: Persisted,
}

/// Why the state could not be read or written; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
}

/// What loading found.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No file yet.
    Empty,
    Session(Box<Persisted>),
    /// The file could not be used; it was moved aside to this path.
    MovedAside {
        to: PathBuf,
        why: String,
    },
}

/// Locks `dir` for this daemon (`lock`, 0600, `flock`), so two daemons never share a state
/// directory; the lock lasts as long as the file returned stays open.
pub fn lock(dir: &Path) -> anyhow::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(anyhow::anyhow!(
            "another cognitod uses the state directory {}\nFix: stop it, or give this one a [daemon] state_dir of its own",
            dir.display()
        )),
        Err(error) => Err(anyhow::anyhow!("cannot lock {}: {error}", path.display())),
    }
}

/// The state file of one daemon.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir`, which the caller has checked (owner, mode, not a symlink).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Reads the state. A file that cannot be parsed (or has another version) is renamed
    /// `session.json.corrupt-<unix time>` so that nothing is lost and the daemon can start.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Empty),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return self.move_aside(e.to_string());
            }
            Err(source) => {
                if source.kind() == io::ErrorKind::PermissionDenied || path.is_dir() {
                    return self.move_aside(source.to_string());
                }
                return Err(StoreError::Read { path, source });
            }
        };
        match serde_json::from_slice::<File1>(&bytes) {
            Ok(file) if file.version == VERSION => Ok(Loaded::Session(Box::new(file.body))),
            Ok(file) => self.move_aside(format!("unknown version {}", file.version)),
            Err(e) => self.move_aside(format!(
                "not a session file (line {}, column {})",
                e.line(),
                e.column()
            )),
        }
    }

    fn move_aside(&self, why: String) -> Result<Loaded, StoreError> {
        let to = self.set_aside("corrupt")?;
        Ok(Loaded::MovedAside { to, why })
    }

    /// Renames the state file `session.json.<kind>-<unix time>`, keeping what it holds out of
    /// the way; the new name.
    pub fn set_aside(&self, kind: &str) -> Result<PathBuf, StoreError> {
        let path = self.path();
        let to = self
            .dir
            .join(format!("{FILE_NAME}.{kind}-{}", Timestamp::now().unix()));
        std::fs::rename(&path, &to).map_err(|source| StoreError::Write { path, source })?;
        Ok(to)
    }

    /// Removes the files [`Store::set_aside`] left (at sign-out: they may hold tokens).
    pub fn remove_set_aside(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let prefix = format!("{FILE_NAME}.");
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Replaces the state with `state`, durably.
    pub fn save(&self, state: &Persisted) -> Result<(), StoreError> {
        let path = self.path();
        let write_error = |source| StoreError::Write {
            path: path.clone(),
            source,
        };
        let file = File1 {
            version: VERSION,
            body: state.clone(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| write_error(io::Error::other(e)))?;
        bytes.push(b'\n');
        // tempfile creates the file 0600, in the same directory so the rename is atomic.
        let mut temp = tempfile::Builder::new()
            .prefix(".session.json.")
            .tempfile_in(&self.dir)
            .map_err(write_error)?;
        let written = temp
            .write_all(&bytes)
            .and_then(|()| temp.as_file().sync_all());
        zeroize::Zeroize::zeroize(&mut bytes);
        written.map_err(write_error)?;
        temp.persist(&path).map_err(|e| write_error(e.error))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use cognitod_proto::AuthFlowType;

    use super::*;

    fn user() -> PersistedUser {
        PersistedUser {
            username: "alice".into(),
            user_id: "sub-1".into(),
            sign_in_details: SignInDetails {
                login_id: "alice".into(),
                auth_flow_type: AuthFlowType::UserSrpAuth,
                provider: None,
            },
            id_token: Secret::new("id.jwt"),
            access_token: Secret::new("access.jwt"),
            refresh_token: Secret::new("refresh"),
            clock_drift_ms: 1000,
            refresh_in_flight: true,
            identity_id: Some("us-east-1:id".into()),
            device_key: None,
        }
    }

    #[test]
    fn saves_atomically_with_mode_0600_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.load().unwrap(), Loaded::Empty);
        let state = Persisted {
            user: Some(user()),
            guest_identity_id: Some("us-east-1:guest".into()),
            federation: None,
            devices: Vec::new(),
        };
        store.save(&state).unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(store.load().unwrap(), Loaded::Session(Box::new(state)));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");

        store.save(&Persisted::default()).unwrap();
        assert_eq!(store.load().unwrap(), Loaded::Session(Box::default()));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files stay behind");
    }

    #[test]
    fn a_corrupt_or_newer_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for content in [
            "{\"version\": 1, \"user\": 7}",
            "{\"version\": 2}",
            "\u{0}garbage",
        ] {
            std::fs::write(store.path(), content).unwrap();
            match store.load().unwrap() {
                Loaded::MovedAside { to, .. } => {
                    assert!(to.to_string_lossy().contains("session.json.corrupt-"));
                    assert_eq!(std::fs::read_to_string(&to).unwrap(), content);
                }
                other => panic!("{content:?} gave {other:?}"),
            }
            assert!(!store.path().exists());
        }
    }

    #[test]
    fn a_full_disk_is_an_error_that_names_the_file() {
        let store = Store::new(Path::new("/proc/self"));
        let err = store.save(&Persisted::default()).unwrap_err();
        assert!(err.to_string().contains("/proc/self/session.json"), "{err}");
    }
}
