"""End to end at the model's full grid, with the energy: cost per atom from 128 atoms to the largest cell.

    .venv/bin/python benchmarks/largest_cell.py [--repeats 4,4,4 8,8,8 8,8,16 16,16,32] [--ranks 2]
        [--model models/be2.mlsm] [--runner CMD] [--out DIR] [--extra "--save density"]

Each cell is Be2 snapshot 0 (a thermal snapshot) repeated NX x NY x NZ times, at the grid the model's
spacing gives (18 NX x 18 NY x 27 NZ: 16,16,32 is 16,384 atoms on 288 x 288 x 864 = 71.7 M points). Every
cell runs as one ``mpirun -n RANKS mlsurrogate predict`` (descriptors, network, post-processing, energy)
in this job, one after the other. Printed per cell: wall seconds per stage (the slowest rank's), the CPU
seconds of all ranks (getrusage of the finished mpirun: robust when other jobs share the machine), cost
per atom relative to the first (baseline) cell of the same job in wall and in CPU time, peak memory of the
largest rank, and the total free energy per atom (a tiling: equal at every size).
"""
import argparse
import json
import os
from pathlib import Path
import resource
import shlex
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parents[1]
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
STAGES = ("descriptors", "inference", "postprocess", "energy", "write", "total")


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cell(repeat, args, workdir):
    import ase.io
    atoms = ase.io.read(BE2 / "Be_snapshot0.out").repeat(repeat)
    structure = workdir / f"be_{'x'.join(map(str, repeat))}.extxyz"
    atoms.write(structure)
    out = workdir / f"out_{'x'.join(map(str, repeat))}"
    cmd = [str(ROOT / ".venv/bin/mpirun"), "-n", str(args.ranks), *shlex.split(args.runner), "predict",
           "--model", args.model, "--structure", str(structure), "--pseudo-dir", str(BE2), "--out", str(out),
           "--overwrite", "--no-plot", *shlex.split(args.extra)]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    res = json.loads((out / "results.json").read_text())
    return dict(repeat=repeat, atoms=res["natoms"], points=int(res["grid"][0] * res["grid"][1] * res["grid"][2]),
                grid=res["grid"], stages=res["timings_s"], job_wall=wall, cpu=cpu,
                rss=res["peak_rss_bytes_max_rank"], energy_per_atom=res.get("total_energy_per_atom_eV"),
                fermi=res["fermi_energy_eV"], passes=res["descriptor_passes"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", nargs="+", default=["4,4,4", "8,8,8", "8,8,16", "16,16,32"])
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--model", default=str(ROOT / "models" / "be2.mlsm"))
    p.add_argument("--runner", default=str(ROOT / ".venv/bin/mlsurrogate"),
                   help="command that runs the CLI (default: this checkout's .venv/bin/mlsurrogate)")
    p.add_argument("--extra", default="", help="extra predict flags, one string")
    p.add_argument("--out", default="/tmp/mlsurrogate-largest-cell", help="scratch folder for cells and runs")
    args = p.parse_args()
    workdir = Path(args.out)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  ranks {args.ranks}  model {args.model}  runner {args.runner}")
    print(f"# {'atoms':>6} {'grid':>13} {'points':>10} {'passes':>6} | " +
          " ".join(f"{s[:7]:>8}" for s in STAGES) + " | cpu s (all ranks) | wall/atom cpu/atom vs first | "
          "MiB/rank | F/atom eV | E_F eV", flush=True)
    base = None
    for text in args.repeats:
        r = run_cell(tuple(int(x) for x in text.split(",")), args, workdir)
        wall_atom, cpu_atom = r["stages"]["total"] / r["atoms"], r["cpu"] / r["atoms"]
        base = base or (wall_atom, cpu_atom)
        energy = f"{r['energy_per_atom']:.9f}" if r["energy_per_atom"] is not None else "-"
        print(f"  {r['atoms']:>6} {'x'.join(map(str, r['grid'])):>13} {r['points']:>10} {r['passes']:>6} | " +
              " ".join(f"{r['stages'].get(s, 0.0):8.1f}" for s in STAGES) +
              f" | {r['cpu']:17.1f} | {wall_atom / base[0]:8.2f} {cpu_atom / base[1]:8.2f}          | "
              f"{r['rss'] / 2**20:8.0f} | {energy} | {r['fermi']:.6f}", flush=True)


if __name__ == "__main__":
    main()
