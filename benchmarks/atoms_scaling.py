"""The atom side of big cells: 2,048 vs 131,072 vs 1,048,576 atoms on one coarse grid, memory and time.

    .venv/bin/python benchmarks/atoms_scaling.py [--atoms 2048 131072 1048576] [--grid 64 64 192] [--ranks 2]
        [--energy-atoms 131072] [--identity-ranks 3] [--runner CMD]

hcp Be cells (lattice of the Be2 reference data, 2 K^2 M atoms, rattled by 0.05 Å) all on the same grid,
so the grid-point work is the same and only the per-atom costs grow. Each size runs as one
``mpirun -n RANKS mlsurrogate predict --no-energy`` in this job; printed: wall seconds per stage, the
job's wall and CPU seconds (all ranks; CPU time is robust when other jobs share the machine), the
largest rank's peak memory, and these against the first (smallest) cell of the same job. Then the energy
stage on the ``--energy-atoms`` cell (``--ecutrho 1.9``: the coarse grid holds that sphere), and the same
cell on ``--identity-ranks`` ranks, whose Fermi level and band energy must equal the RANKS run's.
"""
import argparse
import json
from pathlib import Path
import resource
import shlex
import subprocess
import sys
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
A, C = 2.25982586776780, 3.56987856087494
STAGES = ("descriptors", "inference", "postprocess", "energy", "write", "total")


def hcp_cell(natoms, seed=0):
    """Be hcp with ``natoms`` = 2 K K M atoms (M = 2 K when possible), rattled by 0.05 Å."""
    from ase.build import bulk
    k = round((natoms / 4) ** (1 / 3))
    m = natoms // (2 * k * k)
    if 2 * k * k * m != natoms:
        sys.exit(f"{natoms} atoms is not 2 K^2 M with M = 2 K")
    atoms = bulk("Be", "hcp", a=A, c=C).repeat((k, k, m))
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    return atoms


def run(natoms, ranks, args, workdir, extra=()):
    structure = workdir / f"be_{natoms}.extxyz"
    if not structure.exists():
        hcp_cell(natoms).write(structure)
    out = workdir / f"out_{natoms}_{ranks}_{'energy' if '--ecutrho' in extra else 'noenergy'}"
    cmd = [str(ROOT / ".venv/bin/mpirun"), "-n", str(ranks), *shlex.split(args.runner), "predict",
           "--model", args.model, "--structure", str(structure), "--grid", *map(str, args.grid),
           "--out", str(out), "--overwrite", "--no-plot", *(extra or ["--no-energy"])]
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"failed: {shlex.join(cmd)}\n{proc.stderr[-3000:]}")
    res = json.loads((out / "results.json").read_text())
    res["job_wall_s"] = time.perf_counter() - t0
    res["job_cpu_s"] = cpu
    return res


def _children_cpu():
    """CPU seconds of finished child processes (all ranks): robust when other jobs share the cores."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def line(res, base):
    t = res["timings_s"]
    return (f"  {res['natoms']:>8} {res['ranks']:>3} | " + " ".join(f"{t.get(s, 0.0):8.2f}" for s in STAGES) +
            f" | {res['job_wall_s']:7.1f} {res['job_cpu_s']:7.1f} | {res['peak_rss_bytes_max_rank'] / 2**20:8.0f} | "
            f"{t['total'] / base['timings_s']['total']:5.2f} {res['job_cpu_s'] / base['job_cpu_s']:5.2f} "
            f"{(res['peak_rss_bytes_max_rank'] - base['peak_rss_bytes_max_rank']) / 2**20:+8.0f} | "
            f"{res['fermi_energy_eV']:.10f} {res['band_energy_per_atom_eV']:.10f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[2048, 131072, 1048576])
    p.add_argument("--grid", type=int, nargs=3, default=[64, 64, 192])
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--energy-atoms", type=int, default=131072)
    p.add_argument("--identity-ranks", type=int, default=3)
    p.add_argument("--model", default=str(ROOT / "models" / "be2.mlsm"))
    p.add_argument("--runner", default=str(ROOT / ".venv/bin/mlsurrogate"))
    p.add_argument("--out", default="/tmp/mlsurrogate-atoms-scaling")
    args = p.parse_args()
    workdir = Path(args.out)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} grid {'x'.join(map(str, args.grid))}, model {args.model}")
    print(f"# {'atoms':>8} {'P':>3} | " + " ".join(f"{s[:7]:>8}" for s in STAGES) +
          " | job s, cpu s  | MiB/rank | wall x, cpu x, extra MiB vs first | E_F eV, E_band/atom eV", flush=True)
    base, by_size = None, {}
    for n in args.atoms:
        res = run(n, args.ranks, args, workdir)
        base = base or res
        by_size[n] = res
        print(line(res, base), flush=True)
    if args.identity_ranks:
        n = args.energy_atoms if args.energy_atoms in by_size else args.atoms[0]
        res = run(n, args.identity_ranks, args, workdir)
        print(line(res, base), flush=True)
        ref = by_size.get(n) or run(n, args.ranks, args, workdir)
        print(f"# {n} atoms, {args.ranks} vs {args.identity_ranks} ranks: |dE_F| = "
              f"{abs(res['fermi_energy_eV'] - ref['fermi_energy_eV']):.2e} eV, |dE_band| = "
              f"{abs(res['band_energy_eV'] - ref['band_energy_eV']):.2e} eV", flush=True)
    if args.energy_atoms:
        res = run(args.energy_atoms, args.ranks, args, workdir,
                  extra=["--ecutrho", "1.9", "--pseudo-dir", str(BE2)])
        print(line(res, base) + f" | with energy: F/atom {res['total_energy_per_atom_eV']:.6f} eV", flush=True)


if __name__ == "__main__":
    main()
