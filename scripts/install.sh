#!/usr/bin/env bash
# Installs everything v2m needs on a Debian 12 machine with Python 3.11:
# system packages (when missing and we may install them), a virtual
# environment in .venv, and the pinned Python dependencies (CPU torch).
# Idempotent: a second run with nothing changed takes a few seconds.
#
#   V2M_PYTHON      interpreter for the venv        (default: python3)
#   V2M_VENV        where the venv lives             (default: ./.venv)
#   V2M_EXTRAS      pip extras, comma-separated      (default: dev; "" for none;
#                   "gpu" swaps in faiss-gpu and onnxruntime-gpu)
#   V2M_SKIP_APT=1  never call apt-get
#
# Off these machines, `pip install torch==X` on Linux takes a CUDA build of
# several GB; export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
# before running this script to get the CPU build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${V2M_VENV:-$root/.venv}
extras=${V2M_EXTRAS-dev}
python=${V2M_PYTHON:-python3}

system_packages=(ffmpeg build-essential)
# The test suite starts real PostgreSQL and Redis servers, validates the compose
# file, and analyses real recordings (the Wesnoth soundtrack, CC BY-SA / GPL).
# The page's tests drive Debian's Chromium (through Playwright, which downloads nothing).
# bench_vocals renders voices with espeak-ng.
[[ ",$extras," == *",dev,"* ]] && system_packages+=(postgresql redis-server docker-compose espeak-ng wesnoth-music singularity-music hyperrogue-music warzone2100-music drascula-music planetblupi-music-ogg asc-music nexuiz-music chromium)

install_system_packages() {
    local missing=()
    for pkg in "${system_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "${V2M_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null; then
        echo "install: missing system packages: ${missing[*]} (install them yourself)" >&2
        return 0
    fi
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    echo "install: apt-get install ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# Everything that decides what pip installs; a change re-runs pip.
fingerprint() {
    cat pyproject.toml requirements/lock.txt scripts/install.sh | sha256sum | cut -d' ' -f1
    echo "$extras"
}

install_python_packages() {
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    local stamp=$venv/.v2m-installed
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(fingerprint)" ]; then
        return 0
    fi
    local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check
               -c requirements/lock.txt)
    # madmom 0.16.1 compiles Cython extensions against the installed NumPy and
    # needs pkg_resources (setuptools<81): build it without isolation.
    "${pip[@]}" "setuptools<81" wheel Cython numpy
    "${pip[@]}" --no-build-isolation madmom==0.16.1
    "${pip[@]}" -e ".${extras:+[$extras]}"
    # msaf pins enum34 (breaks Python 3) and musicnn pins tensorflow and
    # numpy<1.17: their real needs are in pyproject.toml.
    "${pip[@]}" --no-deps msaf==0.1.80 musicnn==0.1.0
    if [[ ",$extras," == *",gpu,"* ]]; then
        # Same modules, CUDA builds: the CPU wheels must go or they shadow them.
        "$venv/bin/python" -m pip uninstall -q -y faiss-cpu onnxruntime
        "${pip[@]}" --force-reinstall --no-deps faiss-gpu onnxruntime-gpu
    fi
    # Numba caches its compiled kernels on disk. Processes compiling the same
    # kernel at once can corrupt an entry, so compile everything here, alone.
    find "$venv" ml -name '*.nbi' -delete -o -name '*.nbc' -delete
    "$venv/bin/python" -m ml.warmup
    fingerprint > "$stamp"
}

install_system_packages
install_python_packages
echo "install: ready ($venv)"
