"""Energy-stage scaling: Hartree + XC (with core charge) + Ewald for Be supercells, cost per atom.

    mpirun -n 2 .venv/bin/python benchmarks/energy.py [--repeats 1 2 4 8 16 20] [--check]

Each supercell n x n x n of Be2 snapshot 0 (2 n³ atoms) gets the DFT density of the primitive cell tiled on
its grid (18n x 18n x 27n, built block by block: no rank holds the whole grid). Timings are the slowest
rank's; "per atom" is normalised to the baseline size of the same job (--baseline, default the 128-atom
cell), so machine noise between jobs cancels. The energies per atom must not change with size (printed).
"""
import argparse
from pathlib import Path
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"


def tiled_block(density, sl):
    """This rank's block of the density tiled ``reps`` times (index modulo the primitive grid)."""
    idx = [np.arange(s.start, s.stop) % n for s, n in zip(sl, density.shape)]
    return density[np.ix_(*idx)]


def run_size(comm, n, prim_atoms, density, pseudos):
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    from mlsurrogate.energy.setup import energy_inputs
    from mlsurrogate.energy.terms import energy_terms
    from mlsurrogate.parallel import peak_rss_bytes
    atoms = prim_atoms.repeat((n, n, n))
    inputs = energy_inputs(atoms, pseudos)
    shape = tuple(n * s for s in density.shape)
    comm.Barrier()
    t0 = time.perf_counter()
    pw = PlaneWaveGrid(comm, shape, inputs.cell_bohr, 160.0)
    block = tiled_block(density, pw.real_slice)
    timings = {}
    t1 = time.perf_counter()
    res = energy_terms(pw, inputs, block, timings=timings)
    t2 = time.perf_counter()
    timings = {k: comm.allreduce(v, op=_max()) for k, v in timings.items()}
    wall = comm.allreduce(t2 - t1, op=_max())
    setup = comm.allreduce(t1 - t0, op=_max())
    rss = comm.allreduce(peak_rss_bytes(), op=_max())
    return dict(n=n, atoms=len(atoms), points=int(np.prod(shape)), wall=wall, setup=setup, parts=timings,
                per_atom={k: res[k] / len(atoms) for k in ("hartree", "xc", "ewald")}, rss=rss)


def _max():
    from mpi4py import MPI
    return MPI.MAX


def main():
    from mpi4py import MPI
    import ase.io
    from mlsurrogate.energy.upf import read_upf
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, nargs="+", default=[1, 2, 4, 8, 16, 20])
    p.add_argument("--baseline", type=int, default=4, help="repeat factor whose cost per atom is 1.00")
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    prim = ase.io.read(BE2 / "Be_snapshot0.out")
    density = np.load(BE2 / "densities" / "Be_snapshot0.dens_bohr3.npy")[..., 0]
    pseudos = {"Be": read_upf(str(BE2 / "Be.pbe-n-rrkjus_psl.1.0.0.UPF"))}
    rows = []
    if comm.rank == 0:
        print(f"energy stage on {comm.size} rank(s); times are the slowest rank's, seconds")
        print(f"{'atoms':>7} {'grid points':>12} | {'gauss':>7} {'hartree':>7} {'xc':>7} {'ewald':>7} {'total':>8}"
              f" | {'us/atom':>9} {'ratio':>6} | {'MiB/rank':>8} | E_H, E_xc, E_Ewald per atom (Ry)", flush=True)
    for n in args.repeats:
        r = run_size(comm, n, prim, density, pseudos)
        rows.append(r)
        if comm.rank == 0:
            base = next((b for b in rows if b["n"] == args.baseline), None)
            us = r["wall"] / r["atoms"] * 1e6
            ratio = us / (base["wall"] / base["atoms"] * 1e6) if base else float("nan")
            t = r["parts"]
            e = r["per_atom"]
            print(f"{r['atoms']:>7} {r['points']:>12} | {t.get('gaussians', 0):7.2f} {t.get('hartree', 0):7.2f} "
                  f"{t.get('xc', 0):7.2f} {t.get('ewald', 0):7.2f} {r['wall']:8.2f} | {us:9.1f} {ratio:6.2f} | "
                  f"{r['rss'] / 2**20:8.0f} | {e['hartree']:.10f} {e['xc']:.10f} {e['ewald']:.10f}", flush=True)
    if comm.rank == 0:
        base = next((b for b in rows if b["n"] == args.baseline), None)
        if base is not None:
            big = [r for r in rows if r["atoms"] >= base["atoms"]]
            ratios = [(r["wall"] / r["atoms"]) / (base["wall"] / base["atoms"]) for r in big]
            print(f"cost per atom from {base['atoms']} to {big[-1]['atoms']} atoms: {min(ratios):.2f}-"
                  f"{max(ratios):.2f} x the {base['atoms']}-atom cell")


if __name__ == "__main__":
    main()
