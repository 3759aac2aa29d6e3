#!/usr/bin/env bash
# Build NOAA-OWP ngen WITH MPI (plus its partitionGenerator utility) by reusing the serial recipe
# ../shared/ngen/build.sh unchanged: same source tarball, same stages, same venv layout.
#
# Usage: tools/build_ngen_mpi.sh [TARGET]      default TARGET: ~/.cache/dmg_bmi/ngen-mpi
#   TARGET/build/ngen                 the MPI-enabled binary
#   TARGET/build/partitionGenerator   writes ngen's partition JSON
#   TARGET/venv                       the venv build.sh makes (numpy 1.26.4, bmipy, pyyaml)
# See docs/ngen_mpi.md for how to partition and run on N ranks.
#
# How MPI gets switched on: build.sh hard-codes -DNGEN_WITH_MPI=OFF and has no hook for extra cmake
# flags, but ngen's CMakeLists calls `deprecated_option(OLD MPI_ACTIVE NEW NGEN_WITH_MPI INCLUDE_ENV)`:
# an environment variable MPI_ACTIVE=ON sets a normal CMake variable NGEN_WITH_MPI=ON that shadows
# the cache entry OFF (CMakeCache.txt still says OFF; configure.log's summary says ON). This script
# checks the result (configure summary and `ldd` showing libmpi) and fails if MPI did not get in.
#
# Environment (all optional):
#   BUILD_SH   the serial recipe          default: <repo>/../shared/ngen/build.sh
#   PYTHON     interpreter for the venv and the libpython ngen links. Default: the one whose
#              libpython the serial ../shared/ngen/ngen links (so both binaries embed the same
#              Python), else python3.
#   JOBS       parallel compile jobs      default: 2 (the build runs under `nice -n 19`)
#   APT        1 = apt-get install openmpi-bin libopenmpi-dev when missing   default: 1 if root
#   plus everything build.sh reads (NGEN_SRC_TAR, NUMPY_SPEC, BOOST_MIN, ...).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TARGET=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/dmg_bmi/ngen-mpi}
BUILD_SH=${BUILD_SH:-$REPO/../shared/ngen/build.sh}
JOBS=${JOBS:-2}
APT=${APT:-$([ "$(id -u)" = 0 ] && echo 1 || echo 0)}
log() { echo "[build_ngen_mpi] $*"; }

[ -f "$BUILD_SH" ] || { echo "build recipe not found: $BUILD_SH (set BUILD_SH)" >&2; exit 1; }
case "$TARGET" in "$REPO"|"$REPO"/*) echo "TARGET must be outside the repository: $TARGET" >&2; exit 1;; esac

# 1. Open MPI (Debian bookworm: 4.1.4). build.sh installs the rest (g++, cmake, boost 1.81, udunits, ...).
if [ "$APT" = 1 ]; then
  missing=$(for p in openmpi-bin libopenmpi-dev; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    log "apt-get install $missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi
command -v mpicxx >/dev/null && command -v mpirun >/dev/null \
  || { echo "MPI not found: install openmpi-bin libopenmpi-dev (Debian) or run as root with APT=1" >&2; exit 1; }

# 2. The same Python as the serial binary
if [ -z "${PYTHON:-}" ]; then
  serial="$(dirname "$BUILD_SH")/ngen"
  libpy=$( [ -x "$serial" ] && ldd "$serial" 2>/dev/null | awk '/libpython3/ {print $3; exit}' || true)
  ver=$(basename "${libpy:-}" | sed -n 's/^libpython\(3\.[0-9]*\)\.so.*/\1/p')
  cand="$(dirname "$(dirname "${libpy:-/x/x}")")/bin/python$ver"
  if [ -n "$ver" ] && [ -x "$cand" ]; then PYTHON=$cand; else PYTHON=python3; fi
fi
export PYTHON JOBS
log "python: $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"

# 3. build.sh with MPI on (see header), whole build at the lowest priority
export MPI_ACTIVE=ON
log "running $BUILD_SH $TARGET with MPI_ACTIVE=ON, JOBS=$JOBS"
nice -n 19 bash "$BUILD_SH" "$TARGET"

grep -q 'NGEN_WITH_MPI: ON' "$TARGET/configure.log" \
  || { echo "configure did not switch MPI on (see $TARGET/configure.log); delete $TARGET/build and retry" >&2; exit 1; }
LDD=$(ldd "$TARGET/build/ngen")
grep -q libmpi <<< "$LDD" \
  || { echo "$TARGET/build/ngen does not link libmpi: it is a serial build; delete $TARGET/build and retry" >&2; exit 1; }

# 4. partitionGenerator (not built by build.sh, which builds the ngen target only)
if [ ! -x "$TARGET/build/partitionGenerator" ]; then
  log "build partitionGenerator"
  nice -n 19 cmake --build "$TARGET/build" --target partitionGenerator -j "$JOBS" >> "$TARGET/build.log" 2>&1 \
    || { grep -m5 -E 'error|Error' "$TARGET/build.log" >&2; exit 1; }
fi

log "libpython: $(awk '/libpython/ {print $3}' <<< "$LDD")"
log "libmpi:    $(awk '/libmpi\.so/ {print $3; exit}' <<< "$LDD")"
log "done: $TARGET/build/ngen, $TARGET/build/partitionGenerator"
