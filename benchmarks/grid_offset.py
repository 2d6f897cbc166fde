"""Egg-box test of a model: F of one cell rigidly translated by sub-grid vectors (physically the same energy).

A network that learnt the LDOS only at the grid points of its training cells gives a different F when the
atoms sit elsewhere between the grid points; the spread is a floor under any energy difference it predicts
(a stacking-fault energy, a rattled cell). The default cell is the perfect 8-layer Be cell of
scripts/be_dataset.py on its QE grid (18 x 18 x 120); shifts are random within one voxel (seeded).

Usage: .venv/bin/python benchmarks/grid_offset.py --model models/be.mlsm [--shifts 8] [--json OUT.json]
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))      # be_model_check.predict


def energy_per_atom(model, atoms, grid, tmp):
    import ase.io
    from be_model_check import predict
    path = os.path.join(tmp, "cell.extxyz")
    ase.io.write(path, atoms)
    return predict(model, path, os.path.join(tmp, "out"), grid)["total_energy_eV"] / len(atoms)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--shifts", type=int, default=8, help="random sub-grid translations besides the original")
    p.add_argument("--json")
    args = p.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    sys.path.insert(0, ROOT)
    from be_dataset import build
    from mlsurrogate.dft.shift import shift_structure
    atoms, grid = build(4, None, None, 0), (18, 18, 120)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        e0 = energy_per_atom(args.model, atoms, grid, tmp)
        d = []
        for _ in range(args.shifts):
            frac = rng.random(3) / np.array(grid)
            d.append(1e3 * (energy_per_atom(args.model, shift_structure(atoms, frac), grid, tmp) - e0))
            print(f"shift {np.round(frac * grid, 3)} voxels: dF {d[-1]:+.3f} meV/atom", flush=True)
    d = np.array(d)
    print(f"{args.model}: dF over {len(d)} shifts: mean {d.mean():+.3f}, max |dF| {np.abs(d).max():.3f} meV/atom")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "grid": grid, "dF_meV_per_atom": d.tolist(), "mean": d.mean(),
                       "max_abs": float(np.abs(d).max())}, f, indent=1)


if __name__ == "__main__":
    main()
