"""Descriptor benchmark: LAMMPS `compute sna/grid` against our native kernel, same cells, same job.

Be2 snapshot 1 repeated n x n x n (2, 128, 1024 atoms by default: --sizes 1 4 8), twojmax 10 (the Be2
settings), each run through `mlsurrogate descriptors` on 1 process and on 2 MPI ranks with one
thread per rank (OMP_NUM_THREADS=1). The cost per grid point depends on the neighbours per point, i.e.
on the atom density, not on how many points are computed, so large cells use a coarser grid than the
Be model's 4,374 points per atom (at most --max-points points; the per-point rate is what is
compared). Prints grid points per second per core for both backends and their ratio, checks that
both wrote the same values (column-normwise relative difference), the same for the native float32
mode (`--dtype float32`: float32 arithmetic), and the native float64 kernel's time
breakdown (neighbours, U, Z+B) and flop rate against --peak-gflops (48: one AVX-512 core here), and
the flop count of LAMMPS' algorithm for the same points (full U sums, Z for all j1 >= j2 triples) with
the rate LAMMPS achieves on it.

Run: .venv/bin/python benchmarks/descriptors.py [--sizes 1 4 8 12] [--ranks 1 2] [--max-points 40000]
     [--repeat 2]   (about 5 min with the defaults on this machine)
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
FULL = (18, 18, 27)  # the Be model's grid of the 2-atom cell


def run(structure, grid, ranks, backend, out, dtype="float64"):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(BIN / "mpirun"), "-n", str(ranks), str(BIN / "mlsurrogate"), "-q", "descriptors",
           "--structure", str(structure), "--grid", *map(str, grid), "--descriptors", backend,
           "--max-points-per-pass", "1000000", "--dtype", dtype, "--out", str(out), "--overwrite"]
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads((out / "results.json").read_text())


def fastest(a, b):
    return b if a is None or b["timings_s"]["descriptors"] < a["timings_s"]["descriptors"] else a


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8], help="supercell repeats n (2 n^3 atoms)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--max-points", type=int, default=40000, help="grid points per run at most")
    ap.add_argument("--repeat", type=int, default=2, help="runs per backend and case; the fastest counts "
                    "(the machine may be shared)")
    ap.add_argument("--peak-gflops", type=float, default=48.0, help="FP64 peak of one core, GFLOP/s")
    args = ap.parse_args()
    import ase.io
    tmp = Path(tempfile.mkdtemp(prefix="mls-desc-bench-"))
    prim = ase.io.read(BE2 / "Be_snapshot1.out")
    print(f"{'atoms':>6} {'ranks':>5} {'grid':>12} {'points':>7} | {'LAMMPS pt/s/core':>16} {'native pt/s/core':>16} "
          f"{'ratio':>6} | {'max rel diff':>12} | {'f32 pt/s/core':>13} {'ratio':>5} {'rel diff':>8} | native thread-s: {'neigh':>6} {'U':>6} {'Z+B':>6} "
          f"{'nb/pt':>5} {'MFLOP/pt':>8} {'GFLOP/s':>7} {'%peak':>5} | LAMMPS {'MFLOP/pt':>8} {'GFLOP/s':>7}",
          flush=True)
    for n in args.sizes:
        atoms = prim.repeat((n, n, n))
        structure = tmp / f"be_{len(atoms)}.extxyz"
        ase.io.write(structure, atoms)
        k = 1
        while math.prod(math.ceil(g * n / k) for g in FULL) > args.max_points:
            k += 1
        grid = tuple(math.ceil(g * n / k) for g in FULL)
        points = math.prod(grid)
        for ranks in args.ranks:
            lmp, nat, f32 = None, None, None
            for _ in range(args.repeat):  # interleaved, so all see the same machine load
                lmp = fastest(lmp, run(structure, grid, ranks, "lammps", tmp / "l"))
                nat = fastest(nat, run(structure, grid, ranks, "native", tmp / "n"))
                f32 = fastest(f32, run(structure, grid, ranks, "native", tmp / "f", "float32"))
            a = np.load(tmp / "n" / "descriptors.npy")
            b = np.load(tmp / "l" / "descriptors.npy")
            scale = np.abs(b).reshape(-1, b.shape[-1]).max(axis=0)
            diff = float((np.abs(a - b) / scale).max())
            diff32 = float((np.abs(np.load(tmp / "f" / "descriptors.npy") - b) / scale).max())
            rate_f = points / (f32["timings_s"]["descriptors"] * ranks)
            rate_l = points / (lmp["timings_s"]["descriptors"] * ranks)
            rate_n = points / (nat["timings_s"]["descriptors"] * ranks)
            kern = nat["native_kernel"]
            ts = kern["thread_seconds"]
            gf = kern["gflops_per_core"]
            print(f"{len(atoms):6d} {ranks:5d} {'x'.join(map(str, grid)):>12} {points:7d} | {rate_l:16.0f} "
                  f"{rate_n:16.0f} {rate_n / rate_l:6.2f} | {diff:12.1e} | {rate_f:13.0f} {rate_f / rate_l:5.2f} "
                  f"{diff32:8.1e} | {'':16} "
                  f"{ts['neighbours'] + ts['cell_list']:6.2f} {ts['u']:6.2f} {ts['zb']:6.2f} "
                  f"{kern['neighbours_per_point']:5.1f} {kern['flops_per_point'] / 1e6:8.3f} {gf:7.2f} "
                  f"{100 * gf / args.peak_gflops:5.1f} | {'':6} {kern['lammps_flops_per_point'] / 1e6:8.3f} "
                  f"{kern['lammps_flops_per_point'] * rate_l / 1e9:7.2f}", flush=True)


if __name__ == "__main__":
    main()
