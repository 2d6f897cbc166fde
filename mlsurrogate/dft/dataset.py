"""A training set from many structures: names, the per-snapshot folders, the SLURM job array, the summary.
Stage: training data (DFT).

DIR/<name>/            one snapshot (runner.py)
DIR/dataset.json       per snapshot: QE's energies, k-points, grid, wall times; totals (written by collect)
DIR/snapshots.toml     [[train]] tables for `mlsurrogate train` (paths relative to DIR; set [data] root = DIR)
DIR/jobs/make_data.slurm   with --slurm: one array task per structure
"""
import json
import os
import shlex
import sys

from ..errors import InputError
from .runner import SNAPSHOT_JSON

__all__ = ["read_structures", "write_slurm", "collect"]


def read_structures(paths, fmt=None):
    """[(name, ase.Atoms)] from structure files (every frame; names from the file names, unique)."""
    import ase.io
    out = []
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(f"structure file {path} does not exist")
        try:
            frames = ase.io.read(path, index=":", format=fmt)
        except Exception as exc:
            raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
        stem = os.path.splitext(os.path.basename(path))[0]
        for i, atoms in enumerate(frames):
            if not all(atoms.pbc) or atoms.cell.rank != 3:
                raise InputError(f"{path} (frame {i}): needs a periodic cell in all three directions")
            out.append((stem if len(frames) == 1 else f"{stem}_{i:03d}", atoms))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"structure names must be unique (from the file names): {', '.join(dup)}")
    return out


SLURM = """#!/bin/bash
# Written by `mlsurrogate make-data --slurm`: one array task per structure ({n} structures).
# Each task runs pw.x and pp.x with the MPI launcher of [run] mpi in {settings} (on a cluster e.g.
# mpi = "srun -n {{ranks}}"), then converts. After all tasks: the same make-data command with --collect.
#SBATCH --job-name=mlsurrogate-dft
#SBATCH --array=0-{last}
#SBATCH --ntasks={ranks}
#SBATCH --cpus-per-task=1
#SBATCH --time={time}
#SBATCH --output={out}/jobs/slurm-%A_%a.out
set -euo pipefail
export OMP_NUM_THREADS=1
{command} --task "$SLURM_ARRAY_TASK_ID"
"""


def write_slurm(out, settings_path, structure_paths, n, ranks, time_limit, fmt=None, kpoints=None):
    """Write OUT/jobs/make_data.slurm (array 0..n-1). Returns its path."""
    jobs = os.path.join(out, "jobs")
    os.makedirs(jobs, exist_ok=True)
    exe = os.path.join(os.path.dirname(sys.executable), "mlsurrogate")
    cmd = [exe, "make-data", "--settings", os.path.abspath(settings_path), "--out", os.path.abspath(out),
           "--structures", *[os.path.abspath(p) for p in structure_paths]] + (["--format", fmt] if fmt else []) \
        + (["--kpoints", *map(str, kpoints)] if kpoints else [])
    path = os.path.join(jobs, "make_data.slurm")
    with open(path, "w") as f:
        f.write(SLURM.format(n=n, settings=settings_path, last=n - 1, ranks=ranks, time=time_limit,
                             out=os.path.abspath(out), command=" ".join(shlex.quote(c) for c in cmd)))
    os.chmod(path, 0o755)
    return path


def collect(out, names):
    """Write OUT/dataset.json and OUT/snapshots.toml from the finished snapshots; returns the summary.
    InputError naming the snapshots that are not finished."""
    missing = [n for n in names if not os.path.isfile(os.path.join(out, n, SNAPSHOT_JSON))]
    if missing:
        raise InputError(f"{len(missing)} snapshot(s) not finished in {out}: {', '.join(missing[:10])}"
                         f"{' ...' if len(missing) > 10 else ''}")
    rows = {}
    for n in names:
        s = json.load(open(os.path.join(out, n, SNAPSHOT_JSON)))
        rows[n] = {k: s.get(k) for k in ("natoms", "grid", "kpoints", "k_points_irreducible", "bands",
                                         "fermi_energy_eV", "energies_eV", "energies_Ry", "temperature_K",
                                         "energy_grid", "degauss_ldos_ev", "ldos_complete", "wall_s")}
    wall = sum(sum(r["wall_s"].values()) for r in rows.values())
    summary = {"snapshots": rows, "total_wall_s": wall, "n_snapshots": len(rows),
               "units": {"energies_eV": "eV", "wall_s": "s (wall time of pw.x and pp.x, as run)"}}
    with open(os.path.join(out, "dataset.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "snapshots.toml"), "w") as f:
        f.write("# [[train]] tables of the snapshots in this folder (set [data] root to this folder).\n")
        for n in names:
            f.write(f'\n[[train]]\nstructure = "{n}/structure.extxyz"\nldos = "{n}/ldos.npy"\n')
    return summary
