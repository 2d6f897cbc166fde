"""Strong and weak scaling series of ``predict``: run them here, or write SLURM jobs, then report.

A *strong* series runs one cell on P = ranks[0], ranks[1], ... ranks; a *weak* series runs the cell repeated
P / ranks[0] times (the repeat split over the three axes as evenly as the cell's shape allows), so atoms
and grid points per rank stay fixed. Each run is an ordinary ``predict`` into ``DIR/<series>-P<ranks>/``;
the report reads their results.json files only, so runs made on a cluster are collected the same way.

Parallel efficiency of a stage, relative to the first run of its series (t = wall seconds of the stage,
the slowest rank's): strong E = t_1 P_1 / (t_P P); weak E = t_1 / t_P. Memory is the peak of the largest
rank (bytes in results.json, MiB in the report).
"""
from dataclasses import dataclass
import json
import math
import os
from pathlib import Path
import shlex
import subprocess
import sys

import numpy as np

from ..errors import InputError

__all__ = ["SeriesRun", "plan_series", "weak_repeat", "write_structures", "run_here", "write_slurm", "collect",
           "report_lines", "plot_report", "STAGES"]

STAGES = ("descriptors", "inference", "postprocess", "energy", "write", "total")


@dataclass(frozen=True)
class SeriesRun:
    series: str          # "strong" or "weak"
    ranks: int
    repeat: tuple        # repeat of the input cell
    name: str            # folder name under the study directory

    @property
    def structure(self):
        return f"{self.name}/structure.extxyz"


def weak_repeat(cell, factor):
    """Integer repeat (r1, r2, r3), r1 r2 r3 = factor, making the repeated cell as compact as possible."""
    from ..decomposition.grid import factorisations
    lengths = np.linalg.norm(np.asarray(cell, dtype=float), axis=1)
    return min(factorisations(factor), key=lambda r: ((lengths * r).max() / (lengths * r).min(), r[::-1]))


def plan_series(ranks, series, cell):
    """The runs of the requested series ("strong", "weak" or "both") for the rank counts ``ranks``."""
    ranks = sorted(set(int(r) for r in ranks))
    if not ranks or ranks[0] < 1:
        raise InputError("--ranks must be positive integers")
    runs = []
    if series in ("strong", "both"):
        runs += [SeriesRun("strong", p, (1, 1, 1), f"strong-P{p}") for p in ranks]
    if series in ("weak", "both"):
        for p in ranks:
            if p % ranks[0]:
                raise InputError(f"weak scaling needs rank counts that are multiples of the first ({ranks[0]}); "
                                 f"got {p}")
            runs.append(SeriesRun("weak", p, weak_repeat(cell, p // ranks[0]), f"weak-P{p}"))
    return runs


def _grid_args(base_grid, repeat):
    if base_grid is None:
        return []
    return ["--grid", *[str(g * r) for g, r in zip(base_grid, repeat)]]


def write_structures(atoms, runs, out):
    """Write each run's structure (the input repeated) into its folder. Local (call on one process)."""
    for run in runs:
        folder = Path(out) / run.name
        folder.mkdir(parents=True, exist_ok=True)
        atoms.repeat(run.repeat).write(folder / "structure.extxyz", parallel=False)


def predict_command(run, out, model, base_grid, predict_args, launcher):
    """argv of one run's ``predict`` (``launcher`` is e.g. ['mpirun', '-n', '4'] or ['srun'])."""
    folder = Path(out) / run.name
    exe = str(Path(sys.executable).with_name("mlsurrogate"))
    return [*launcher, exe, "predict", "--model", str(model), "--structure", str(folder / "structure.extxyz"),
            "--out", str(folder), "--overwrite", *_grid_args(base_grid, run.repeat), *predict_args]


def run_here(runs, out, model, base_grid, predict_args, log=print):
    """Run every series run on this machine, one after the other (oversubscribing if needed)."""
    mpirun = str(Path(sys.executable).with_name("mpirun"))
    for run in runs:
        cmd = predict_command(run, out, model, base_grid, predict_args, [mpirun, "-n", str(run.ranks)])
        log(f"{run.name}: {shlex.join(cmd)}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        (Path(out) / run.name / "predict.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise InputError(f"{run.name} failed (exit {proc.returncode}): "
                             f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")


SLURM_TEMPLATE = """#!/bin/bash
# {name}: {series} scaling run, {ranks} MPI rank(s). Written by `mlsurrogate scaling --slurm`.
#SBATCH --job-name=mls-{name}
#SBATCH --nodes={nodes}
#SBATCH --ntasks={ranks}
#SBATCH --cpus-per-task={threads}
#SBATCH --time={time}
#SBATCH --output={out}/{name}/slurm-%j.out
#SBATCH --signal=B:TERM@120
set -euo pipefail
export OMP_NUM_THREADS={threads}
srun --cpu-bind=cores {command}
"""


def write_slurm(runs, out, model, base_grid, predict_args, cores_per_node, threads, time_limit):
    """One batch script per run plus ``submit_all.sh``; returns the script paths. Local."""
    paths = []
    for run in runs:
        nodes = max(1, math.ceil(run.ranks * threads / cores_per_node))
        cmd = predict_command(run, out, model, base_grid, predict_args, [])
        path = Path(out) / "jobs" / f"{run.name}.slurm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SLURM_TEMPLATE.format(name=run.name, series=run.series, ranks=run.ranks, nodes=nodes,
                                              threads=threads, time=time_limit, out=os.path.abspath(out),
                                              command=shlex.join(cmd)))
        paths.append(path)
    submit = Path(out) / "jobs" / "submit_all.sh"
    submit.write_text("#!/bin/bash\nset -e\ncd \"$(dirname \"$0\")\"\n" +
                      "".join(f"sbatch {p.name}\n" for p in paths))
    submit.chmod(0o755)
    return paths


def collect(out):
    """{series: [results dicts sorted by ranks]} from ``out/<series>-P*/results.json``. Local."""
    found = {}
    for path in sorted(Path(out).glob("*-P*/results.json")):
        series = path.parent.name.split("-P")[0]
        found.setdefault(series, []).append(json.loads(path.read_text()))
    if not found:
        raise InputError(f"no finished runs (*-P*/results.json) in {out}")
    return {s: sorted(runs, key=lambda r: r["ranks"]) for s, runs in found.items()}


def efficiency(series, base, run, stage):
    """Parallel efficiency of ``stage`` in ``run`` relative to ``base`` (None if not timed)."""
    t0, t = base["timings_s"].get(stage), run["timings_s"].get(stage)
    if not t0 or not t:
        return None
    if series == "strong":
        return t0 * base["ranks"] / (t * run["ranks"])
    return t0 / t


def report_lines(results):
    """Table lines: per series and rank count, seconds and efficiency per stage, memory, and how far the
    physics moved between runs (strong: same cell; weak: per atom)."""
    lines = []
    for series, runs in results.items():
        base = runs[0]
        lines.append(f"{series} scaling (efficiency vs {base['ranks']} rank(s)):")
        lines.append(f"  {'ranks':>5} {'atoms':>8} {'points':>11} | " +
                     " ".join(f"{s[:7]:>15}" for s in STAGES) + " | MiB/rank")
        for run in runs:
            cells = []
            for stage in STAGES:
                t, e = run["timings_s"].get(stage), efficiency(series, base, run, stage)
                cells.append(f"{t:7.2f}s {e:5.0%}" if t is not None and e is not None else f"{'-':>15}")
            points = int(np.prod(run["grid"]))
            lines.append(f"  {run['ranks']:>5} {run['natoms']:>8} {points:>11} | " + " ".join(cells) +
                         f" | {run['peak_rss_bytes_max_rank'] / 2**20:8.0f}")
        keys = ["fermi_energy_eV", "band_energy_per_atom_eV", "total_energy_per_atom_eV"]
        for key in keys:
            values = [r[key] for r in runs if r.get(key) is not None]
            if len(values) > 1:
                lines.append(f"  {key}: spread over the series {max(values) - min(values):.3g} "
                             f"(values {min(values):.10g} .. {max(values):.10g})")
    return lines


def plot_report(results, path):
    """Efficiency per stage against ranks, one panel per series, and memory per rank. Local."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(5 * (len(results) + 1), 4))
    for ax, (series, runs) in zip(axes, results.items()):
        ranks = [r["ranks"] for r in runs]
        for stage in STAGES:
            eff = [efficiency(series, runs[0], r, stage) for r in runs]
            if all(e is not None for e in eff):
                ax.plot(ranks, eff, "o-", label=stage)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("MPI ranks")
        ax.set_ylabel("parallel efficiency")
        ax.set_title(f"{series} scaling")
        ax.axhline(1.0, color="k", lw=0.5)
        ax.legend(fontsize=8)
    ax = axes[-1]
    for series, runs in results.items():
        ax.plot([r["ranks"] for r in runs], [r["peak_rss_bytes_max_rank"] / 2**20 for r in runs], "o-",
                label=series)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel("peak memory per rank (MiB)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
