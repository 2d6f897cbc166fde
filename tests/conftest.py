"""Shared fixtures: paths to the outside reference data and an mpirun helper.

The reference data is read from ../shared/testdata (never copied into the repository). LAMMPS, MPI
and torch are real dependencies: tests fail, not skip, when they are missing.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
MODEL = BE2 / "Be_model.zip"
SNAP0 = BE2 / "Be_snapshot0.out"      # pw.x output: positions exactly as used for the descriptors
SNAP1 = BE2 / "Be_snapshot1.out"
T_MALA = 299.98637294316444            # K, MALA's convention (README)
BE2_CELL = np.array([[2.25982586776780, 0, 0], [-1.12991293388390, 1.95706569713361, 0],
                     [0, 0, 3.56987856087494]])
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def be2():
    if not BE2.is_dir():
        pytest.fail(f"reference data not found at {BE2}")
    return BE2


def run_cli(args, nprocs=2, timeout=240, check=True):
    """Run ``mpirun -n nprocs mlsurrogate ARGS``; returns the CompletedProcess."""
    cmd = [str(BIN / "mpirun"), "-n", str(nprocs), str(BIN / "mlsurrogate"), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_results(out_dir):
    return json.loads((Path(out_dir) / "results.json").read_text())


@pytest.fixture(scope="session")
def comm():
    from mpi4py import MPI
    return MPI.COMM_SELF
