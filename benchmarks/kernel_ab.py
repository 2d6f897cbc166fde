"""Native descriptor kernel alone, this build against another build of src/snap_grid.cpp, in one process.

Be2 snapshot 1 repeated 4x4x4 (128 atoms, the Be model's 72x72x108 grid), --points random grid points,
one thread, float32 and float64 arithmetic. The two kernels run interleaved for --repeat rounds; per
kernel and precision the fastest round counts (CPU time of the process, core-µs per point) with the
kernel's own split (neighbours, U, Z+B; thread wall time). Also the largest difference of the two
kernels' values relative to the largest value (rounding only, when the change is a reordering).

Run: .venv/bin/python benchmarks/kernel_ab.py --ref /work/main/.venv/lib/python3.11/site-packages/mlsurrogate/descriptors/_snapgrid_avx512.cpython-311-x86_64-linux-gnu.so
"""
import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

BE2 = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "Be2"


def load_kernel(path, tag):
    """The kernel module in the compiled file ``path`` under a private package name ``tag``."""
    name = Path(path).name.split(".")[0]          # e.g. _snapgrid_avx512: its PyInit_ name
    spec = importlib.util.spec_from_file_location(f"{tag}.{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="the other build: a _snapgrid_*.so file")
    ap.add_argument("--points", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import ase.io
    from mlsurrogate.descriptors.native_grid import lammps_geometry, native_module
    atoms = ase.io.read(BE2 / "Be_snapshot1.out").repeat((4, 4, 4))
    cell, frac = lammps_geometry(np.asarray(atoms.cell), atoms.get_scaled_positions())
    types = np.zeros(len(atoms), dtype=np.int32)
    grid = np.array([72, 72, 108])
    rng = np.random.default_rng(0)
    pts = np.ascontiguousarray(np.stack([rng.integers(0, g, args.points) for g in grid], axis=1) * (1.0 / grid))
    mods = {"ref": load_kernel(args.ref, "ref_kernel"), "this": native_module()}
    print(f"ref: {args.ref}\nthis: {mods['this'].__file__}\n{len(atoms)} atoms, {args.points} points, 1 thread")
    print(f"{'precision':>9} {'kernel':>6} | {'us/pt':>6} {'neigh':>6} {'U':>6} {'Z+B':>6} | neighbours/pt")
    for single in (True, False):
        best, values = {}, {}
        for _ in range(args.repeat):
            for tag, mod in mods.items():
                k = mod.SnapGrid(10, 0.99363, 0.0, 1, 0, False)
                t0 = time.process_time()
                d, tm = k.compute(cell, frac, types, np.array([0.5]), np.array([1.0]), 4.67637, pts, 1, single,
                                  len(atoms))
                t = time.process_time() - t0
                row = (t, tm["neighbours"], tm["u"], tm["zb"], tm["neighbours_total"])
                if tag not in best or t < best[tag][0]:
                    best[tag] = row
                values[tag] = d
        prec = "float32" if single else "float64"
        for tag, (t, tn, tu, tz, nn) in best.items():
            n = args.points
            print(f"{prec:>9} {tag:>6} | {1e6 * t / n:6.2f} {1e6 * tn / n:6.2f} {1e6 * tu / n:6.2f} {1e6 * tz / n:6.2f} "
                  f"| {nn / n:.1f}")
        ref = values["ref"]
        print(f"{prec:>9} this / ref time {best['this'][0] / best['ref'][0]:.3f}; max |this - ref| / max |ref| "
              f"{np.abs(values['this'] - ref).max() / np.abs(ref).max():.1e}")


if __name__ == "__main__":
    main()
