#!/usr/bin/env bash
# Installs and starts what a job needs on a Debian 12 host, and nothing more:
#   scripts/provision.sh pipeline   the example's pipeline: a Docker engine with buildx,
#                                   a registry on 127.0.0.1:5000, gcc, debootstrap, oras, cosign,
#                                   the checkout's own venv (.venv)
#   scripts/provision.sh [tests]    the test suite too: compose, MariaDB, Caddy,
#                                   supervisor, QEMU and the cross gcc for arm64, sshd,
#                                   Chromium
# What already runs is used as it is: an engine that answers, a registry on :5000.
# Without root it installs nothing system-wide: it names what is missing and the
# command that installs it. Idempotent: a rerun on a provisioned machine takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
CACHE=$AXION_CACHE
PROFILE=${1:-tests}
PYTHON=${AXION_PYTHON:-python3}
REGISTRY_ADDR=127.0.0.1:5000
TRIXIE_MIRROR=${AXION_TRIXIE_MIRROR:-http://deb.debian.org/debian}
if [[ $EUID -eq 0 ]]; then
    REGISTRY_DIR=/var/lib/axion-registry
    PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
    BIN_DIR=/usr/local/bin
    LOG_DIR=/var/log
else
    REGISTRY_DIR=$CACHE/registry
    PLUGIN_DIR=$HOME/.docker/cli-plugins
    BIN_DIR=$CACHE/bin
    LOG_DIR=$CACHE/log
fi

# what the example's pipeline uses (the engine and the registry: only when none answers)
PIPELINE_PACKAGES=(gcc libc6-dev ccache debootstrap curl ca-certificates
    debian-archive-keyring xz-utils)
# what the tests use besides; arm64 compiles with the cross gcc and its libc (only a
# recommendation of gcc-aarch64-linux-gnu), the rest of arm64 runs under QEMU
TEST_PACKAGES=(docker.io docker-registry mariadb-server libmariadb-dev pkg-config
    caddy supervisor qemu-user-static binfmt-support gcc-aarch64-linux-gnu
    libc6-dev-arm64-cross openssh-server chromium fonts-dejavu-core)

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

engine_answers() { docker info >/dev/null 2>&1; }

# What the Python that makes the venv lacks: Debian's python3 has no ensurepip without
# python3-venv, and no Python.h (the host compile, mysqlclient) without python3-dev.
python_packages() {
    "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || echo python3-venv
    "$PYTHON" -c 'import os, sys, sysconfig
sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        >/dev/null 2>&1 || echo python3-dev
}

# The apt packages this profile needs on this machine.
wanted_packages() {
    local pkgs=("${PIPELINE_PACKAGES[@]}")
    mapfile -t -O "${#pkgs[@]}" pkgs < <(python_packages)
    if [[ $PROFILE == tests ]]; then
        pkgs+=("${TEST_PACKAGES[@]}")
    else
        engine_answers || pkgs+=(docker.io)
        registry_ready || command -v docker-registry >/dev/null || pkgs+=(docker-registry)
    fi
    printf '%s\n' "${pkgs[@]}"
}

install_packages() {
    local start missing=() pkg
    start=$(now)
    for pkg in $(wanted_packages); do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if ((${#missing[@]})) && [[ $EUID -ne 0 ]]; then
        die "missing packages: ${missing[*]}; install them with" \
            "'sudo apt-get install -y --no-install-recommends ${missing[*]}'" \
            "(or run 'sudo ./run provision $PROFILE' once)"
    fi
    if ((${#missing[@]})); then
        echo "provision: installing ${missing[*]}"
        local log=$LOG_DIR/axion-provision-apt.log
        { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
            >"$log" 2>&1 9>&- || { tail -n 20 "$log" >&2; die "apt-get failed; see $log"; }
    fi
    done_step "apt packages" "$start"
}

start_docker() {
    local start
    start=$(now)
    if engine_answers; then
        done_step "docker engine (running)" "$start"
        return
    fi
    [[ $EUID -eq 0 ]] || die "no Docker engine answers at ${DOCKER_HOST:-the default socket}:" \
        "start one (sudo ./run provision $PROFILE), or point DOCKER_HOST at one you may use"
    setsid dockerd >>"$LOG_DIR/axion-dockerd.log" 2>&1 </dev/null 9>&- &
    wait_for 60 docker info || die "dockerd did not answer; see $LOG_DIR/axion-dockerd.log"
    done_step "docker engine" "$start"
}

# Downloads trixie's .debs of the packages named (once, into the cache) through a private
# apt state, so the system's sources stay untouched.
trixie_debs() {
    local dir=$CACHE/cli-plugins pkg wanted=()
    local debs=$dir/debs
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$debs"
    for pkg in "$@"; do
        compgen -G "$debs/${pkg}_*.deb" >/dev/null || wanted+=("$pkg")
    done
    ((${#wanted[@]})) || return 0
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $TRIXIE_MIRROR trixie main" \
        >"$dir/sources.list"
    local opts=(-oDir::State::Lists="$dir/lists" -oDir::Cache="$dir/cache"
        -oDir::Etc::SourceList="$dir/sources.list" -oDir::Etc::SourceParts=/dev/null
        -oDebug::NoLocking=1 -oAPT::Sandbox::User="$(id -un)")
    apt-get "${opts[@]}" update -qq
    (cd "$debs" && apt-get "${opts[@]}" download "${wanted[@]}")
}

# Install files (paths inside the package) of one of trixie's packages into `dest`, 0755.
install_trixie_files() {
    local package=$1 dest=$2 tmp file
    shift 2
    trixie_debs "$package"
    tmp=$(mktemp -d)
    dpkg -x "$(compgen -G "$CACHE/cli-plugins/debs/${package}_*.deb" | head -n 1)" "$tmp"
    install -d "$dest"
    for file in "$@"; do
        install -m 0755 "$tmp/$file" "$dest/"
    done
    rm -rf "$tmp"
}

# buildx and compose v2 are not packaged for bookworm; trixie's builds work.
install_docker_plugins() {
    local start deb tmp debs=$CACHE/cli-plugins/debs
    start=$(now)
    if docker buildx version >/dev/null 2>&1 \
        && { [[ $PROFILE == pipeline ]] || docker compose version >/dev/null 2>&1; }; then
        done_step "buildx + compose plugins" "$start"
        return
    fi
    trixie_debs docker-buildx docker-compose
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

# The oras CLI writes compiled modules to the registry cache; trixie's static build runs
# on bookworm. Root: /usr/local/bin; a user: the cache's bin/ (where axion looks too).
install_oras() {
    local start
    start=$(now)
    if ! command -v oras >/dev/null && [[ ! -x $BIN_DIR/oras ]]; then
        install_trixie_files oras "$BIN_DIR" usr/bin/oras
    fi
    done_step "oras (registry cache)" "$start"
}

# Reproducible images need BuildKit 0.13's rewrite-timestamp and the containerd image
# store: trixie's dockerd 26.1.5 runs on bookworm (it links only bookworm's libraries).
# For the tests: a second engine of that version beside the system one, never replacing it.
install_newer_engine() {
    local start dest=$CACHE/engine-26
    start=$(now)
    if [[ ! -x $dest/bin/dockerd ]]; then
        # its docker-init is a link to another package's tini: the system engine's serves
        install_trixie_files docker.io "$dest/bin" usr/sbin/dockerd usr/sbin/docker-proxy
        "$dest/bin/dockerd" --version >/dev/null || die "$dest/bin/dockerd does not run"
    fi
    done_step "dockerd 26 (reproducible builds, tests)" "$start"
}

# cosign signs pushed images and attaches their SBOM and provenance; trixie's static
# build runs on bookworm the same way as oras. Signing uses a key pair, no Rekor/Fulcio.
install_cosign() {
    local start
    start=$(now)
    if ! command -v cosign >/dev/null && [[ ! -x $BIN_DIR/cosign ]]; then
        install_trixie_files cosign "$BIN_DIR" usr/bin/cosign
    fi
    done_step "cosign (signatures)" "$start"
}

# The registry's HTTP status, 000 when nothing answers; with Python, not curl: on a new
# machine this runs before curl is installed.
registry_status() {
    "$PYTHON" - "http://$REGISTRY_ADDR/v2/" <<'EOF' 2>/dev/null || echo 000
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as error:
    print(error.code)
EOF
}

registry_ready() { [[ $(registry_status) == 200 ]]; }

start_registry() {
    local start config=$REGISTRY_DIR/config.yml
    start=$(now)
    if registry_ready; then
        done_step "registry $REGISTRY_ADDR (running)" "$start"
        return
    fi
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
    # the Debian package's own service (with auth) may hold the port
    [[ $(registry_status) == 000 ]] || service docker-registry stop >/dev/null 2>&1 || true
    setsid docker-registry serve "$config" >>"$LOG_DIR/axion-registry.log" 2>&1 </dev/null 9>&- &
    wait_for 30 registry_ready \
        || die "registry did not answer on $REGISTRY_ADDR; see $LOG_DIR/axion-registry.log"
    done_step "registry $REGISTRY_ADDR" "$start"
}

# The tests' account on 127.0.0.1:3306, as tests/records uses it.
test_database_answers() {
    mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u axion -paxion axion_test -e 'SELECT 1' \
        >/dev/null 2>&1
}

start_mariadb() {
    local start
    start=$(now)
    # a server that already serves the tests' account is used as it is (one on the same
    # loopback but another root filesystem, whose socket is not ours, too)
    if test_database_answers; then
        done_step "mariadb (running)" "$start"
        return
    fi
    if ! mariadb-admin ping >/dev/null 2>&1; then
        service mariadb start >"$LOG_DIR/axion-mariadb-start.log" 2>&1 9>&- || true
        wait_for 30 mariadb-admin ping \
            || die "MariaDB did not start; see $LOG_DIR/axion-mariadb-start.log"
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

# A venv is whole when its python runs and has pip: `python3 -m venv` without ensurepip
# leaves a venv with neither pip nor a way to get one.
venv_python_ok() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1
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

# The checkout's venv: the tool for the pipeline; for the tests, their tools and the
# MariaDB driver.
# Its stamp holds the pyproject hash and the extras installed (a tests venv serves both).
install_venv() {
    local start stamp want extras
    start=$(now)
    if ! venv_python_ok; then
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" || { rm -rf "$VENV"; die "'$PYTHON -m venv $VENV' failed"; }
    fi
    stamp=$VENV/.axion-pyproject.sha256
    extras=""
    [[ $PROFILE == tests ]] && extras="[test,mysql]"
    want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
    if [[ ! -f $stamp || $(cut -d' ' -f1 "$stamp") != "$want" ]] \
        || { [[ -n $extras ]] && ! grep -qF " $extras" "$stamp"; }; then
        echo "provision: installing Python dependencies${extras:+ $extras} into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e "$ROOT$extras"
        echo "$want ${extras:-[]}" >"$stamp"
    elif [[ $(editable_target) != "$ROOT" ]]; then
        "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
    fi
    done_step "python venv" "$start"
}

main() {
    [[ $PROFILE == pipeline || $PROFILE == tests ]] \
        || die "unknown profile '$PROFILE' (use: pipeline or tests)"
    mkdir -p "$CACHE" "$LOG_DIR"
    # one provisioning at a time: parallel test runs share the daemons and pip's cache
    exec 9>"$CACHE/provision.lock"
    flock 9
    install_packages
    start_docker
    install_docker_plugins
    install_oras
    install_cosign
    start_registry
    if [[ $PROFILE == tests ]]; then
        start_mariadb
        enable_binfmt
        install_newer_engine
    fi
    install_venv
    done_step "total ($PROFILE)" "$T0"
}

main "$@"
