"""Build the Be training/test structures and run `mlsurrogate make-data` on them (QE; slow, not CI).

Cells (a = 2.25982586776780, c = 3.56987856087494 Å, the reference data's lattice; 1 x 1 in-plane, one
atom per close-packed layer; `mlsurrogate/structure/hcp.py`):
  train: perfect and I2-faulted 8-layer cells (ideal); the same with z-rattled layers (std 0.06 Å along c,
         keeps the in-plane symmetry); one perfect 8-layer cell with full 3D rattling (std 0.06 Å per
         component, ~room temperature for Be: Debye-Waller B = 8π²<u_x²> ≈ 0.28 Å²); the perfect 12-layer
         cell (ideal).
  test:  one 3D-rattled 8-layer perfect cell (a snapshot never trained on), the I2 12-layer cell, perfect
         and I2 16-layer cells (a cell size never trained on).
  extra: a 3D-rattled I2 8-layer cell (computed last; not used by models/be.mlsm).
k-points: 18 x 18 in-plane (k-converged fault energy, benchmarks/results/stacking_fault_dft), 2 along c for
8 and 12 layers, 1 for 16 layers. Writes DATA/structures/*.extxyz, DATA/<name>/ (make-data),
DATA/timing.json (QE wall time per cell, as run: 2 MPI ranks on a shared 2-core machine).

Usage: .venv/bin/python scripts/be_dataset.py [--data DIR] [--only NAME ...]
DIR defaults to ~/.cache/mlsurrogate/be (outside the repository; models/be_train.toml reads it there).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)
from mlsurrogate.structure.hcp import build_hcp  # noqa: E402

A, C = 2.25982586776780, 3.56987856087494
STD = 0.06
# name: (nz, fault, rattle kind, seed, k-points, split); in the order they are computed
CELLS = {
    "perfect_8": (4, None, None, 0, (18, 18, 2), "train"),
    "i2_8": (4, "I2", None, 0, (18, 18, 2), "train"),
    "perfect_8_z1": (4, None, "z", 1, (18, 18, 2), "train"),
    "i2_8_z2": (4, "I2", "z", 2, (18, 18, 2), "train"),
    "perfect_8_r3": (4, None, "xyz", 3, (18, 18, 2), "train"),
    "perfect_12": (6, None, None, 0, (18, 18, 2), "train"),
    "i2_12": (6, "I2", None, 0, (18, 18, 2), "test"),
    "perfect_8_r5": (4, None, "xyz", 5, (18, 18, 2), "test"),
    "perfect_16": (8, None, None, 0, (18, 18, 1), "test"),
    "i2_16": (8, "I2", None, 0, (18, 18, 1), "test"),
    "i2_8_r4": (4, "I2", "xyz", 4, (18, 18, 2), "extra"),
}


def build(nz, fault, rattle, seed):
    atoms = build_hcp("Be", A, C, (1, 1, nz), fault).atoms
    rng = np.random.default_rng(seed)
    if rattle == "z":
        atoms.positions[:, 2] += rng.normal(0.0, STD, len(atoms))
    elif rattle == "xyz":
        atoms.positions += rng.normal(0.0, STD, (len(atoms), 3))
    return atoms


def main():
    import ase.io
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.expanduser("~/.cache/mlsurrogate/be"),
                   help="data folder (models/be_train.toml reads ~/.cache/mlsurrogate/be: edit its root if moved)")
    p.add_argument("--only", nargs="+", help="cell names (default: all, in order)")
    p.add_argument("--settings", default=os.path.join(ROOT, "data", "be_dft.toml"))
    args = p.parse_args()
    os.makedirs(os.path.join(args.data, "structures"), exist_ok=True)
    timing_path = os.path.join(args.data, "timing.json")
    timing = json.load(open(timing_path)) if os.path.exists(timing_path) else {}
    exe = os.path.join(os.path.dirname(sys.executable), "mlsurrogate")
    for name in args.only or list(CELLS):
        nz, fault, rattle, seed, k, split = CELLS[name]
        path = os.path.join(args.data, "structures", f"{name}.extxyz")
        ase.io.write(path, build(nz, fault, rattle, seed))
        t0 = time.time()
        subprocess.run([exe, "make-data", "--settings", args.settings, "--structures", path, "--out", args.data,
                        "--kpoints", *map(str, k), "--task", "0"], check=True)
        snap = json.load(open(os.path.join(args.data, name, "snapshot.json")))
        timing[name] = {"qe_wall_s": sum(snap["wall_s"].values()), "qe_wall_s_by_step": snap["wall_s"],
                        "this_call_s": time.time() - t0, "split": split, "natoms": 2 * nz, "kpoints": list(k),
                        "k_points_irreducible": snap["k_points_irreducible"], "bands": snap["bands"]}
        with open(timing_path, "w") as f:
            json.dump(timing, f, indent=1)
        print(f"{name}: QE {timing[name]['qe_wall_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
