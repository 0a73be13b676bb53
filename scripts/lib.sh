# Shared by scripts/test.sh and scripts/demo.sh: the Python venv with moto, and moto's server.
# Source it from the repository root.

VENV="${COGNITOD_VENV:-$PWD/.venv}"
MOTO_VERSION='moto[server]>=5.2,<5.3'
# Real AWS clients, to check what the daemon hands them.
AWS_CLIENTS='awscli boto3'

log() { printf '==> %s\n' "$*" >&2; }

# Creates the venv and installs moto into it, once.
ensure_moto() {
    if [ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/aws" ]; then
        return
    fi
    log "installing $MOTO_VERSION and $AWS_CLIENTS into $VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        log "python3 -m venv failed; installing python3-venv"
        rm -rf "$VENV"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    fi
    # shellcheck disable=SC2086 # AWS_CLIENTS is a list
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_VERSION" $AWS_CLIENTS
}

# Tools the tests run: systemd-analyze and systemd-socket-activate (package systemd),
# util-linux's script and setpriv, man (man-db, with groff-base) to render the manual pages,
# and zsh and fish to check their completion scripts. Installed when missing (the tests run as
# root in CI).
# A headless browser for the browser sign-in (the tests and the demo drive it over WebDriver).
ensure_browser() {
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        log "installing chromium and chromium-driver"
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
}

ensure_test_tools() {
    ensure_browser
    local missing=()
    command -v systemd-analyze >/dev/null && command -v systemd-socket-activate >/dev/null ||
        missing+=(systemd)
    command -v script >/dev/null || missing+=(bsdutils)
    command -v setpriv >/dev/null || missing+=(util-linux)
    command -v man >/dev/null && command -v groff >/dev/null || missing+=(man-db groff-base)
    # The completion scripts are syntax-checked by the shells that load them.
    command -v zsh >/dev/null || missing+=(zsh)
    command -v fish >/dev/null || missing+=(fish)
    compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || missing+=(faketime)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# A small Debian root for booting a real systemd in a container (systemd-nspawn), so the
# system unit is tested the way systemd runs it; never on this machine's own root. Built once
# into target/ (about 20 s, 210 MiB) and booted read-only with --volatile=overlay. Sets
# COGNITOD_TEST_CONTAINER_ROOT; leaves it unset (the test then says it was skipped) when this
# does not run as root or the root cannot be built.
ensure_container_root() {
    local root="$PWD/target/nspawn/bookworm"
    if [ "$(id -u)" != 0 ]; then
        log "not root: the booted-systemd tests will be skipped"
        return
    fi
    if ! command -v systemd-nspawn >/dev/null || ! command -v mmdebstrap >/dev/null; then
        log "installing systemd-container and mmdebstrap"
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container mmdebstrap >/dev/null
    fi
    if [ ! -x "$root/lib/systemd/systemd" ]; then
        log "building a minimal Debian root for systemd-nspawn in $root"
        rm -rf "$root.tmp" && mkdir -p "$(dirname "$root")"
        if mmdebstrap --quiet --variant=minbase \
            --include=systemd,systemd-sysv,dbus,libpam-systemd,ca-certificates,procps \
            bookworm "$root.tmp" http://deb.debian.org/debian >"$root.log" 2>&1; then
            mv "$root.tmp" "$root"
        else
            tail -20 "$root.log" >&2
            log "the container root could not be built: the booted-systemd tests will be skipped"
            return
        fi
    fi
    export COGNITOD_TEST_CONTAINER_ROOT="$root"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts moto on a free loopback port; sets MOTO_ENDPOINT and MOTO_PID. Logs to $1.
start_moto() {
    local logfile=$1 port
    port=$(free_port)
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
    MOTO_PID=$!
    MOTO_ENDPOINT="http://127.0.0.1:$port"
    for _ in $(seq 1 150); do
        if curl -fsS -o /dev/null "$MOTO_ENDPOINT/moto-api/" 2>/dev/null; then
            log "moto $("$VENV/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p') serving $MOTO_ENDPOINT"
            return
        fi
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then
            cat "$logfile" >&2
            log "moto_server exited"
            return 1
        fi
        sleep 0.2
    done
    log "moto did not answer within 30 s"
    return 1
}

stop_pid() {
    if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
