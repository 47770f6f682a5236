# Sourced by ./run and scripts/provision.sh (ROOT: the checkout): where the machine's cache
# and this checkout's venv live.
# AXION_CACHE wins; else /var/cache/axion-build for root (or where it is writable); else
# the user's own cache, so a user who is not root needs no system folder.
if [[ -z ${AXION_CACHE:-} ]]; then
    if [[ $EUID -eq 0 || -w /var/cache/axion-build ]]; then
        AXION_CACHE=/var/cache/axion-build
    else
        AXION_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/axion-build
    fi
fi
export AXION_CACHE
# Each checkout runs on a venv of its own, so deleting any clone leaves the others whole;
# pip's download and wheel cache is the machine's, so a second clone's venv installs fast.
VENV=$ROOT/.venv
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$AXION_CACHE/pip}
