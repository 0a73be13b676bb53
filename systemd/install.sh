#!/usr/bin/env bash
# Installs cognitod and cognitoctl with their systemd units: cognitod.socket/.service and the
# templates cognitod@.socket/.service, whose instance is a profile (cognitod@staging.socket).
#   systemd/install.sh --user     for yourself: ~/.local/bin, ~/.config/systemd/user
#   systemd/install.sh --system   for a service account: /usr/local/bin, /etc/systemd/system,
#                                 user and group `cognitod`, /etc/cognitod (run as root)
# Builds the release binaries first unless COGNITOD_BIN_DIR points at built ones.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
--user | --system) ;;
*)
    echo "usage: systemd/install.sh --user | --system" >&2
    exit 2
    ;;
esac

bin_dir=${COGNITOD_BIN_DIR:-}
if [ -z "$bin_dir" ]; then
    cargo build --release --bins
    bin_dir=target/release
fi

if [ "$mode" = --user ]; then
    dest=${HOME}/.local/bin
    units=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user
    config=${XDG_CONFIG_HOME:-$HOME/.config}/cognitod
    install -d -m 0755 "$dest" "$units"
    # profiles/ holds each profile's config (and, under systemd 252, its StateDirectory=).
    install -d -m 0700 "$config" "$config/profiles"
    install -m 0755 "$bin_dir/cognitod" "$bin_dir/cognitoctl" "$dest/"
    install -m 0644 systemd/user/cognitod.service systemd/user/cognitod.socket \
        systemd/user/cognitod@.service systemd/user/cognitod@.socket "$units/"
    echo "Installed cognitod and cognitoctl in $dest and the units in $units."
    if [ ! -e "$config/config.toml" ]; then
        echo "Write $config/config.toml (see the README's Configuration section), then:"
    fi
    echo "  systemctl --user daemon-reload"
    echo "  systemctl --user enable --now cognitod.socket"
    echo "  cognitoctl login"
    echo "A profile (here staging) has its own config, socket, state and daemon:"
    echo "  \$EDITOR $config/profiles/staging.toml"
    echo "  systemctl --user enable --now cognitod@staging.socket"
    echo "  cognitoctl --profile staging login"
else
    if [ "$(id -u)" != 0 ]; then
        echo "systemd/install.sh --system must run as root" >&2
        exit 2
    fi
    getent group cognitod >/dev/null || groupadd --system cognitod
    getent passwd cognitod >/dev/null ||
        useradd --system --gid cognitod --home-dir /var/lib/cognitod --shell /usr/sbin/nologin cognitod
    install -m 0755 "$bin_dir/cognitod" "$bin_dir/cognitoctl" /usr/local/bin/
    install -m 0644 systemd/system/cognitod.service systemd/system/cognitod.socket \
        systemd/system/cognitod@.service systemd/system/cognitod@.socket /etc/systemd/system/
    install -d -m 0750 -o root -g cognitod /etc/cognitod /etc/cognitod/profiles
    # The parents of each profile's StateDirectory= (cognitod/profiles/NAME): systemd would
    # make missing ones root's, 0755, if a profile started before cognitod.service ever did.
    install -d -m 0700 -o cognitod -g cognitod /var/lib/cognitod /var/lib/cognitod/profiles
    echo "Installed cognitod and cognitoctl in /usr/local/bin and the units in /etc/systemd/system."
    if [ ! -e /etc/cognitod/config.toml ]; then
        echo "Write /etc/cognitod/config.toml (group cognitod, mode 0640) with [daemon] socket ="
        echo "\"/run/cognitod/socket\" and allowed_uids = [the uids that may use it], then:"
    fi
    echo "  systemctl daemon-reload"
    echo "  systemctl enable --now cognitod.socket"
    echo "  usermod -aG cognitod USER   # for each user in allowed_uids"
    echo "A profile (here staging) has its own config, socket, state and daemon:"
    echo "  install -m 0640 -g cognitod staging.toml /etc/cognitod/profiles/staging.toml"
    echo "    # [daemon] socket = \"/run/cognitod/profiles/staging/socket\", allowed_uids = [...]"
    echo "  systemctl enable --now cognitod@staging.socket"
    echo "  COGNITOD_SOCKET=/run/cognitod/profiles/staging/socket cognitoctl status"
fi
