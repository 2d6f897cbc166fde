"""Cube write throughput: every rank formats and writes its x slab at once vs gathering the grid on rank 0
and writing it with ASE's ``ase.io.cube.write_cube`` (what a script would do without this writer).

    .venv/bin/mpirun -n 2 .venv/bin/python benchmarks/write_cube.py [--grid 96 96 288] [--repeats 2] [--dir /tmp]

Both get the same density blocks (the descriptor stage's brick decomposition) in electrons/Å³-scaled
random values; fastest of ``--repeats``, interleaved; each file is read back with ASE once and checked
that it has the grid's shape. Printed: seconds and M values/s for both and their ratio (same job, same disk).
Memory is not compared here (one process runs both); the gather holds the whole grid on rank 0, the
parallel writer one x slab per rank plus at most 2^20 formatted values.
"""
import argparse
import os
import time

import numpy as np


def write_gathered_ase(comm, path, block, decomp, atoms):
    """Baseline: gather the blocks on rank 0, assemble the grid, ``ase.io.cube.write_cube``."""
    from ase.io.cube import write_cube
    from mlsurrogate.units import ANGSTROM3_PER_BOHR3
    parts = comm.gather((decomp.local_slice, block), root=0)
    if comm.rank == 0:
        whole = np.empty(decomp.global_shape)
        for sl, b in parts:
            whole[sl] = b
        with open(path, "w") as f:
            write_cube(f, atoms, whole * ANGSTROM3_PER_BOHR3)
    comm.Barrier()


def main():
    from ase import Atoms
    from ase.io.cube import read_cube_data
    from mpi4py import MPI
    from mlsurrogate.decomposition.grid import GridDecomposition
    from mlsurrogate.output.cube import write_density_cube
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, nargs=3, default=[96, 96, 288])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--dir", default="/tmp")
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    cell = np.diag([12.05, 10.44, 38.08])
    atoms = Atoms("Be4", scaled_positions=np.random.default_rng(0).random((4, 3)), cell=cell, pbc=True)
    decomp = GridDecomposition.create(comm, tuple(args.grid), cell, 4.68)
    block = np.random.default_rng(comm.rank).random(decomp.local_shape) * 0.3
    points = decomp.global_size
    path = comm.bcast(os.path.join(args.dir, f"mls-cube-bench-{os.getpid()}.cube"), root=0)
    best = {"parallel": np.inf, "gather+ASE": np.inf}
    for r in range(args.repeats):
        for name, writer in (("parallel", write_density_cube), ("gather+ASE", write_gathered_ase)):
            comm.Barrier()
            t0 = time.perf_counter()
            writer(comm, path, block, decomp, atoms)
            comm.Barrier()
            best[name] = min(best[name], time.perf_counter() - t0)
            if r == 0 and comm.rank == 0:
                data, _ = read_cube_data(path)
                assert data.shape == tuple(args.grid)
            comm.Barrier()
            if comm.rank == 0:
                os.remove(path)
    if comm.rank == 0:
        print(f"grid {'x'.join(map(str, args.grid))} ({points / 1e6:.1f} M points), {comm.size} ranks, brick "
              f"{'x'.join(map(str, decomp.proc_grid))}, fastest of {args.repeats}")
        for name, t in best.items():
            print(f"  {name:10s} {t:7.2f} s  {points / t / 1e6:6.2f} M values/s")
        print(f"  parallel / gather+ASE: {best['gather+ASE'] / best['parallel']:.2f}x faster")


if __name__ == "__main__":
    main()
