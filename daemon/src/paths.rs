//! Where things live: the config file, the socket and the state directory, all derived from
//! the process environment in one place.

use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variables that decide default paths, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub cognitod_config: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
    /// systemd's `$STATE_DIRECTORY` (the first entry when it lists several).
    pub state_directory: Option<PathBuf>,
    /// systemd's `$RUNTIME_DIRECTORY` (the first entry): where the unit lets the daemon write
    /// runtime files such as the container endpoint's token.
    pub runtime_directory: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub uid: u32,
    /// The profile (`--profile`, `$COGNITOD_PROFILE`): its own config, socket and state.
    pub profile: Option<String>,
}

impl Environment {
    /// Reads this process's environment. Empty and relative values count as unset, as the XDG
    /// base directory specification says.
    pub fn from_process() -> Self {
        let var = |name: &str| absolute(std::env::var_os(name));
        // systemd's directory variables: the first of a colon-separated list.
        let first = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| absolute(v.split(':').next().map(OsString::from)))
        };
        Self {
            cognitod_config: std::env::var_os("COGNITOD_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            xdg_state_home: var("XDG_STATE_HOME"),
            state_directory: first("STATE_DIRECTORY"),
            runtime_directory: first("RUNTIME_DIRECTORY"),
            home: var("HOME"),
            uid: rustix::process::getuid().as_raw(),
            profile: None,
        }
    }

    /// Profile `P`'s `$XDG_CONFIG_HOME/cognitod/profiles/P.toml`; without a profile
    /// `$COGNITOD_CONFIG`, else `$XDG_CONFIG_HOME/cognitod/config.toml`
    /// (`~/.config/cognitod/config.toml`; `/etc/cognitod/...` without a home).
    pub fn config_file(&self) -> PathBuf {
        let base = self
            .xdg_config_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".config")))
            .unwrap_or_else(|| PathBuf::from("/etc"))
            .join("cognitod");
        if let Some(profile) = &self.profile {
            return base.join("profiles").join(format!("{profile}.toml"));
        }
        if let Some(path) = &self.cognitod_config {
            return path.clone();
        }
        base.join("config.toml")
    }

    /// `$XDG_RUNTIME_DIR/cognitod/socket`, else `/tmp/cognitod-<uid>/socket`; profile `P`'s
    /// in `.../cognitod/profiles/P/socket`.
    pub fn default_socket(&self) -> PathBuf {
        let runtime_dir = self.xdg_runtime_dir.as_deref();
        match &self.profile {
            Some(profile) => cognitod_proto::profile_socket_path(runtime_dir, self.uid, profile),
            None => cognitod_proto::default_socket_path(runtime_dir, self.uid),
        }
    }

    /// `$STATE_DIRECTORY`, else `$XDG_STATE_HOME/cognitod` (`~/.local/state/cognitod`); profile
    /// `P`'s in `.../cognitod/profiles/P`.
    pub fn default_state_dir(&self) -> PathBuf {
        if let Some(dir) = &self.state_directory {
            return dir.clone();
        }
        let base = self
            .xdg_state_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("/var/lib"))
            .join("cognitod");
        match &self.profile {
            Some(profile) => base.join("profiles").join(profile),
            None => base,
        }
    }
}

fn absolute(value: Option<OsString>) -> Option<PathBuf> {
    value.map(PathBuf::from).filter(|p| p.is_absolute())
}
