#!/usr/bin/env bash
# Installs and starts everything the pipeline and its tests need on a Debian 12
# host: Docker engine with buildx and compose, a registry on 127.0.0.1:5000,
# MariaDB, Caddy, supervisor, QEMU for arm64, Chromium, and the Python venv.
# Idempotent: a rerun on a provisioned machine only checks and takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AXION_CACHE:-/var/cache/axion-build}
VENV=$CACHE/venv
PYTHON=${AXION_PYTHON:-python3}
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_DIR=/var/lib/axion-registry
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
TRIXIE_MIRROR=${AXION_TRIXIE_MIRROR:-http://deb.debian.org/debian}

APT_PACKAGES=(
    docker.io docker-registry curl ca-certificates debian-archive-keyring xz-utils
    mariadb-server libmariadb-dev pkg-config gcc libc6-dev
    caddy supervisor qemu-user-static binfmt-support openssh-server
    chromium fonts-dejavu-core ccache debootstrap
)

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1

# Microseconds since the epoch.
now() { echo "${EPOCHREALTIME/./}"; }
T0=$(now)

# Prints one progress line with the seconds since `start`.
done_step() {
    local what=$1 start=$2 tenths
    tenths=$((($(now) - start) / 100000))
    printf 'provision: %-26s %4d.%d s\n' "$what" $((tenths / 10)) $((tenths % 10))
}

warn() { printf 'provision: WARNING: %s\n' "$*" >&2; }
die() { printf 'provision: ERROR: %s\n' "$*" >&2; exit 1; }

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    local seconds=$1; shift
    local i
    for ((i = 0; i < seconds * 4; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    return 1
}

install_packages() {
    local start missing=() pkg
    start=$(now)
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        echo "provision: installing ${missing[*]}"
        local log=/var/log/axion-provision-apt.log
        { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
            >"$log" 2>&1 9>&- || { tail -n 20 "$log" >&2; die "apt-get failed; see $log"; }
    fi
    done_step "apt packages" "$start"
}

start_docker() {
    local start
    start=$(now)
    if ! docker info >/dev/null 2>&1; then
        setsid dockerd >>/var/log/axion-dockerd.log 2>&1 </dev/null 9>&- &
        wait_for 60 docker info \
            || die "dockerd did not answer; see /var/log/axion-dockerd.log"
    fi
    done_step "docker engine" "$start"
}

# buildx and compose v2 are not packaged for bookworm; trixie's builds work, fetched
# through a private apt state so the system's sources stay untouched.
install_docker_plugins() {
    local start dir debs deb tmp
    start=$(now)
    if docker buildx version >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
        done_step "buildx + compose plugins" "$start"
        return
    fi
    dir=$CACHE/cli-plugins
    debs=$dir/debs
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$debs"
    if ! compgen -G "$debs/docker-buildx_*.deb" >/dev/null \
        || ! compgen -G "$debs/docker-compose_*.deb" >/dev/null; then
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $TRIXIE_MIRROR trixie main" \
            >"$dir/sources.list"
        local opts=(-oDir::State::Lists="$dir/lists" -oDir::Cache="$dir/cache"
            -oDir::Etc::SourceList="$dir/sources.list" -oDir::Etc::SourceParts=/dev/null
            -oAPT::Sandbox::User=root)
        apt-get "${opts[@]}" update -qq
        (cd "$debs" && apt-get "${opts[@]}" download docker-buildx docker-compose)
    fi
    tmp=$(mktemp -d)
    for deb in "$debs"/docker-buildx_*.deb "$debs"/docker-compose_*.deb; do
        dpkg -x "$deb" "$tmp"
    done
    install -d "$PLUGIN_DIR"
    install -m 0755 "$tmp"/usr/libexec/docker/cli-plugins/docker-* "$PLUGIN_DIR/"
    rm -rf "$tmp"
    docker buildx version >/dev/null && docker compose version >/dev/null \
        || die "buildx/compose plugins installed in $PLUGIN_DIR but do not run"
    done_step "buildx + compose plugins" "$start"
}

registry_status() {
    curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/" 2>/dev/null || true
}

registry_ready() { [[ $(registry_status) == 200 ]]; }

start_registry() {
    local start config=$REGISTRY_DIR/config.yml
    start=$(now)
    mkdir -p "$REGISTRY_DIR/data"
    cat >"$config.tmp" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
    mv "$config.tmp" "$config"
    if ! registry_ready; then
        # the Debian package's own service (with auth) may hold the port
        [[ $(registry_status) == 000 ]] || service docker-registry stop >/dev/null 2>&1 || true
        setsid docker-registry serve "$config" >>/var/log/axion-registry.log 2>&1 </dev/null 9>&- &
        wait_for 30 registry_ready \
            || die "registry did not answer on $REGISTRY_ADDR; see /var/log/axion-registry.log"
    fi
    done_step "registry $REGISTRY_ADDR" "$start"
}

start_mariadb() {
    local start
    start=$(now)
    if ! mariadb-admin ping >/dev/null 2>&1; then
        service mariadb start >/var/log/axion-mariadb-start.log 2>&1 9>&- || true
        wait_for 30 mariadb-admin ping \
            || die "MariaDB did not start; see /var/log/axion-mariadb-start.log"
    fi
    mariadb -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS axion_test;
CREATE USER IF NOT EXISTS 'axion'@'127.0.0.1' IDENTIFIED BY 'axion';
CREATE USER IF NOT EXISTS 'axion'@'localhost' IDENTIFIED BY 'axion';
ALTER USER 'axion'@'127.0.0.1' IDENTIFIED BY 'axion';
ALTER USER 'axion'@'localhost' IDENTIFIED BY 'axion';
GRANT ALL PRIVILEGES ON axion_test.* TO 'axion'@'127.0.0.1';
GRANT ALL PRIVILEGES ON axion_test.* TO 'axion'@'localhost';
SQL
    done_step "mariadb (axion_test)" "$start"
}

# Emulated arm64 is optional: without it the arm64 tests skip.
enable_binfmt() {
    local start
    start=$(now)
    if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
            || { warn "cannot mount binfmt_misc: arm64 builds and tests are skipped"; return 0; }
    fi
    if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 \
            || warn "cannot enable qemu-aarch64: arm64 builds and tests are skipped"
    fi
    done_step "binfmt (qemu-aarch64)" "$start"
}

venv_python_ok() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1
}

# The directory the editable install of axion-build points at (empty if none).
editable_target() {
    (cd / && "$VENV/bin/python" - <<'EOF' 2>/dev/null) || true
import json, urllib.parse
from importlib.metadata import distribution
url = json.loads(distribution("axion-build").read_text("direct_url.json"))["url"]
print(urllib.parse.unquote(urllib.parse.urlparse(url).path))
EOF
}

install_venv() {
    local start stamp want
    start=$(now)
    venv_python_ok || { rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"; }
    stamp=$VENV/.axion-pyproject.sha256
    want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        echo "provision: installing Python dependencies into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
        echo "$want" >"$stamp"
    elif [[ $(editable_target) != "$ROOT" ]]; then
        "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
    fi
    done_step "python venv" "$start"
}

main() {
    mkdir -p "$CACHE"
    # one provisioning at a time: parallel test runs share the daemons and the venv
    exec 9>"$CACHE/provision.lock"
    flock 9
    install_packages
    start_docker
    install_docker_plugins
    start_registry
    start_mariadb
    enable_binfmt
    install_venv
    done_step "total" "$T0"
}

main "$@"
