"""Density write throughput: every rank writes its block at once vs the ranks taking turns (the old way).

    .venv/bin/mpirun -n 2 .venv/bin/python benchmarks/write_density.py [--grid 288 288 864] [--repeats 3]
        [--dir /tmp]

The 288 x 288 x 864 grid is the 16,384-atom Be cell at the model's spacing (71.7 M points, 573 MB).
Both writers get the same blocks (the descriptor stage's brick decomposition), interleaved, fastest of
``--repeats``; each write ends with the data on disk (fsync) and is checked by reading back samples.
Printed: seconds and GB/s for both, and their ratio (same job, same disk).
"""
import argparse
import os
import time

import numpy as np


def write_by_turns(comm, path, block, decomp, cell):
    """Baseline: rank 0 creates the file, then each rank in turn opens it with h5py and writes its block."""
    import h5py
    if comm.rank > 0:
        comm.recv(source=comm.rank - 1, tag=7)
    with h5py.File(path, "w" if comm.rank == 0 else "r+") as f:
        if comm.rank == 0:
            f.create_dataset("density", shape=decomp.global_shape, dtype="f8")
            f.attrs["cell_A"] = cell
        f["density"][decomp.local_slice] = block
        f.flush()
        os.fsync(f.id.get_vfd_handle())
    if comm.rank < comm.size - 1:
        comm.send(True, dest=comm.rank + 1, tag=7)
    comm.Barrier()


def main():
    from mpi4py import MPI
    import h5py
    from mlsurrogate.decomposition.grid import GridDecomposition
    from mlsurrogate.output.results import write_density_h5
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, nargs=3, default=[288, 288, 864])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", default="/tmp")
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    cell = np.diag([36.16, 31.31, 114.24])
    decomp = GridDecomposition.create(comm, tuple(args.grid), cell, 4.68)
    rng = np.random.default_rng(comm.rank)
    block = rng.random(decomp.local_shape)
    nbytes = 8 * decomp.global_size
    path = os.path.join(args.dir, f"mls-write-bench-{os.getpid() if comm.rank == 0 else 0}.h5")
    path = comm.bcast(path, root=0)
    best = {"parallel": np.inf, "by turns": np.inf}
    for _ in range(args.repeats):
        for name, writer in (("parallel", write_density_h5), ("by turns", write_by_turns)):
            comm.Barrier()
            t0 = time.perf_counter()
            writer(comm, path, block, decomp, cell)
            comm.Barrier()
            best[name] = min(best[name], time.perf_counter() - t0)
            comm.Barrier()
            with h5py.File(path, "r") as f:            # every rank checks a sample of its own block
                i, j, k = (s.start for s in decomp.local_slice)
                assert np.array_equal(f["density"][i, j, k:k + 5], block[0, 0, :5])
            comm.Barrier()
            if comm.rank == 0:
                os.remove(path)
    if comm.rank == 0:
        print(f"grid {'x'.join(map(str, args.grid))} ({nbytes / 1e6:.0f} MB), {comm.size} ranks, brick "
              f"{'x'.join(map(str, decomp.proc_grid))}, fastest of {args.repeats}")
        for name, t in best.items():
            print(f"  {name:9s} {t:7.2f} s  {nbytes / t / 1e9:6.2f} GB/s")
        print(f"  parallel / by turns: {best['by turns'] / best['parallel']:.2f}x faster")


if __name__ == "__main__":
    main()
