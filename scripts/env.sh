# Sourced by ./run and scripts/provision.sh: where the machine's cache and the venv live.
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
VENV=$AXION_CACHE/venv
