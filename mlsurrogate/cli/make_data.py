"""Training data from DFT: write, run and convert Quantum ESPRESSO (pw.x scf, pp.x LDOS and density).

Example: mlsurrogate make-data --settings dft.toml --structures cells/*.extxyz --out DATA
Runs as one process (no mpirun); pw.x and pp.x are started under MPI as [run] mpi says. Each structure
gives DIR/<name>/ with ldos.npy (1/(eV Å^3)), density.npy (1/Å^3), structure.extxyz and snapshot.json
(QE's energies); DIR/dataset.json and DIR/snapshots.toml ([[train]] tables) sum up. Finished snapshots are
kept, so an interrupted run continues where it stopped. --slurm writes a job array instead of running.
"""
import logging
import os
import time

__all__ = ["add_arguments", "run"]

log = logging.getLogger("mlsurrogate")


def add_arguments(p):
    p.add_argument("--settings", required=True, help="DFT settings (TOML; see README 'Training data from DFT')")
    p.add_argument("--structures", nargs="+", required=True, help="structure files (every frame is a snapshot)")
    p.add_argument("--format", default=None, help="ASE format name if the extension is ambiguous")
    p.add_argument("--out", required=True, metavar="DIR", help="data folder (keep it outside the repository)")
    p.add_argument("--kpoints", type=int, nargs=3, metavar=("N1", "N2", "N3"),
                   help="k-point mesh for these structures (replaces [qe] kpoints / kpoint_spacing_inv_A)")
    p.add_argument("--write-only", action="store_true", help="write the QE inputs, run nothing")
    p.add_argument("--task", type=int, metavar="I", help="only structure I (0-based; SLURM array task)")
    p.add_argument("--collect", action="store_true", help="only write dataset.json and snapshots.toml")
    p.add_argument("--slurm", action="store_true", help="write DIR/jobs/make_data.slurm (a job array) and stop")
    p.add_argument("--time", default="04:00:00", help="SLURM time limit per task (with --slurm)")


def run(args, comm):
    from ..dft import qe_inputs
    from ..dft.dataset import collect, read_structures, write_slurm
    from ..dft.runner import make_snapshot, snapshot_valences
    from ..dft.settings import load_settings
    from ..errors import InputError
    from ..parallel import agree
    agree(comm, comm.size == 1, InputError, "make-data runs as one process (pw.x and pp.x get MPI from "
          "[run] mpi); start it without mpirun")
    settings = load_settings(args.settings)
    if args.kpoints is not None:
        if min(args.kpoints) < 1:
            raise InputError(f"--kpoints {args.kpoints}: three positive integers")
        settings = settings.with_kpoints(tuple(args.kpoints))
    structures = read_structures(args.structures, args.format)
    names = [n for n, _ in structures]
    if args.task is not None and not 0 <= args.task < len(structures):
        raise InputError(f"--task {args.task}: there are {len(structures)} structures (0..{len(structures) - 1})")
    os.makedirs(args.out, exist_ok=True)
    if args.slurm:
        path = write_slurm(args.out, args.settings, args.structures, len(structures), settings.run.ranks,
                           args.time, args.format, args.kpoints)
        print(f"wrote {path}: sbatch it, then rerun this command with --collect", flush=True)
        return 0
    if args.collect:
        s = collect(args.out, names)
        print(f"{s['n_snapshots']} snapshots, {s['total_wall_s']:.0f} s of QE wall time; wrote "
              f"{os.path.join(args.out, 'dataset.json')} and snapshots.toml", flush=True)
        return 0
    valences = snapshot_valences(settings)
    missing = sorted({s for _, a in structures for s in a.get_chemical_symbols()} - set(valences))
    if missing:
        raise InputError(f"[qe] pseudopotentials has no entry for {', '.join(missing)}")
    todo = [structures[args.task]] if args.task is not None else structures
    if args.write_only:
        for name, atoms in todo:
            folder = os.path.join(args.out, name)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "pw.in"), "w") as f:
                f.write(qe_inputs.pw_input(atoms, settings, valences))
            with open(os.path.join(folder, "pp_ldos.in"), "w") as f:
                f.write(qe_inputs.pp_ldos_input(settings))
            with open(os.path.join(folder, "pp_density.in"), "w") as f:
                f.write(qe_inputs.pp_density_input())
        print(f"wrote QE inputs of {len(todo)} structure(s) under {args.out}", flush=True)
        return 0
    t0 = time.perf_counter()
    for name, atoms in todo:
        s = make_snapshot(atoms, os.path.join(args.out, name), settings, valences)
        e = s["energies_eV"]["total_energy"]
        print(f"{name}: {s['natoms']} atoms, grid {'x'.join(map(str, s['grid']))}, {s['k_points_irreducible']} "
              f"k-points, F = {e:.6f} eV ({e / s['natoms']:.6f} eV/atom), E_F = {s['fermi_energy_eV']} eV, "
              f"QE {sum(s['wall_s'].values()):.0f} s", flush=True)
    if args.task is None:
        s = collect(args.out, names)
        print(f"done in {time.perf_counter() - t0:.0f} s; {s['n_snapshots']} snapshots in {args.out} "
              f"(dataset.json, snapshots.toml)", flush=True)
    return 0
