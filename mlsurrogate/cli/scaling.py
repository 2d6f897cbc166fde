"""Strong and weak scaling studies of `predict`: run here or write SLURM jobs, then report efficiency.

Examples (run the harness itself as one process; it launches each `predict` with mpirun or srun):
  mlsurrogate scaling --model M --structure F --ranks 1 2 4 8 --series both --out scal
  mlsurrogate scaling --model M --structure F --ranks 48 96 192 --slurm --cores-per-node 48 --out scal
  mlsurrogate scaling --report scal          # after the jobs ran: table, scaling.png, scaling.json
Strong: the same cell on every rank count. Weak: the cell repeated ranks/ranks[0] times (fixed work per
rank). Efficiency per stage relative to the smallest run of the series; memory is the largest rank's peak.
Flags after `--` go to every `predict` (e.g. `-- --no-energy --grid 36 36 54`; --grid is scaled with
the weak repeat).
"""
import json
import os

__all__ = ["add_arguments", "run"]


def add_arguments(p):
    p.add_argument("--model", help="model file, as for predict")
    p.add_argument("--structure", help="structure file of the (strong) cell / the weak series' unit")
    p.add_argument("--ranks", type=int, nargs="+", metavar="P", help="rank counts, e.g. 1 2 4 8")
    p.add_argument("--series", choices=["strong", "weak", "both"], default="both")
    p.add_argument("--grid", type=int, nargs=3, metavar=("NX", "NY", "NZ"),
                   help="grid of the input cell (default: the model's spacing); weak runs scale it")
    p.add_argument("--out", metavar="DIR", help="study directory (one folder per run)")
    p.add_argument("--slurm", action="store_true", help="write SLURM scripts under DIR/jobs instead of running")
    p.add_argument("--cores-per-node", type=int, default=48, help="with --slurm: cores per node (nodes per job)")
    p.add_argument("--threads-per-rank", type=int, default=1, help="with --slurm: cores per rank")
    p.add_argument("--time", default="02:00:00", help="with --slurm: time limit per job")
    p.add_argument("--report", metavar="DIR", help="only collect DIR/*-P*/results.json and report")
    p.add_argument("predict_args", nargs="*", help="after --: extra predict flags")


def _report(comm, folder):
    from ..studies.scaling import collect, plot_report, report_lines
    results = collect(folder)
    print("\n".join(report_lines(results)))
    plot_report(results, os.path.join(folder, "scaling.png"))
    with open(os.path.join(folder, "scaling.json"), "w") as f:
        json.dump({s: [{k: r.get(k) for k in ("ranks", "natoms", "grid", "timings_s", "peak_rss_bytes_max_rank",
                                             "fermi_energy_eV", "band_energy_eV", "total_energy_eV")}
                       for r in runs] for s, runs in results.items()}, f, indent=2)
    print(f"plot {os.path.join(folder, 'scaling.png')}, data {os.path.join(folder, 'scaling.json')}")


def run(args, comm):
    from ..errors import InputError
    from ..structure.read import read_structure
    from ..studies import scaling
    if comm.size != 1:
        raise InputError("scaling runs as one process (it launches the MPI runs itself): run it without mpirun")
    if args.report:
        _report(comm, args.report)
        return 0
    missing = [f"--{n}" for n in ("model", "structure", "ranks", "out") if not getattr(args, n)]
    if missing:
        raise InputError(f"scaling needs {', '.join(missing)} (or --report DIR)")
    atoms = read_structure(comm, args.structure)
    runs = scaling.plan_series(args.ranks, args.series, atoms.cell.array)
    os.makedirs(args.out, exist_ok=True)
    scaling.write_structures(atoms, runs, args.out)
    model = os.path.abspath(args.model)
    if args.slurm:
        paths = scaling.write_slurm(runs, args.out, model, args.grid, args.predict_args, args.cores_per_node,
                                    args.threads_per_rank, args.time)
        print(f"wrote {len(paths)} job scripts; submit with {os.path.join(args.out, 'jobs', 'submit_all.sh')}, "
              f"then: mlsurrogate scaling --report {args.out}")
        return 0
    scaling.run_here(runs, args.out, model, args.grid, args.predict_args)
    _report(comm, args.out)
    return 0
