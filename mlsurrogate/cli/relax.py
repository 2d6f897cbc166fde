"""Relax a structure with the surrogate's forces (ASE BFGS through the calculator); trajectory written.

Every step is a `predict --forces` (float64). Writes DIR/relax.traj (every step: positions, energy, forces),
DIR/relaxed.extxyz and DIR/results.json (steps, converged, final energy and forces, max force).
"""
import os

__all__ = ["add_arguments", "run"]


def add_arguments(p):
    from .energy_options import add_energy_arguments
    p.add_argument("--model", required=True, help="model file (mlsurrogate model, or a MALA .zip)")
    p.add_argument("--structure", required=True, help="structure file, any format ASE reads")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--fmax", type=float, default=0.01, help="stop when every force is below this (eV/Å)")
    p.add_argument("--steps", type=int, default=200, help="at most this many optimizer steps")
    p.add_argument("--grid", type=int, nargs=3, metavar=("NX", "NY", "NZ"), help="grid (default: model spacing)")
    p.add_argument("--axis", choices=["x", "y", "z"], help="move atoms only along this Cartesian axis")
    p.add_argument("--overwrite", action="store_true", help="replace results already in DIR")
    add_energy_arguments(p, "the model's folder")


def run(args, comm):
    from ..energy.stage import EnergySettings
    from ..forces.relax import relax_atoms
    from ..model.load import load_model
    from ..output.outdir import OutputDir
    from ..output.results import write_json_atomic
    from ..parallel import on_root
    from ..pipeline import PredictOptions
    from ..structure.read import read_structure
    from .checks import positive, positive_grid, positive_int
    from .energy_options import parse_assignments
    positive(args.fmax, "--fmax", "eV/Å")
    positive_int(args.steps, "--steps")
    positive_grid(args.grid)
    names = ["results.json", "relax.traj", "relaxed.extxyz"]
    with OutputDir(comm, args.out, args.overwrite, names) as out:
        model = load_model(comm, args.model)
        atoms = read_structure(comm, args.structure)
        energy = EnergySettings(pseudo_dir=args.pseudo_dir, pseudo_files=parse_assignments(args.pseudo, "--pseudo"),
                                ecutrho_ry=args.ecutrho)
        options = PredictOptions(grid=tuple(args.grid) if args.grid else None, dtype="float64", energy=energy)
        frames = []

        def record(atoms):  # a frame per step, written by rank 0 at the end (no ASE collective I/O)
            from ase.calculators.singlepoint import SinglePointCalculator
            frame = atoms.copy()
            frame.set_constraint()
            frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(force_consistent=True),
                                              forces=atoms.get_forces())
            frames.append(frame)
        summary = relax_atoms(comm, atoms, model, options, args.fmax, args.steps, args.axis, on_step=record)
        forces = summary["forces"]
        res = {"converged": summary["converged"], "steps": summary["steps"], "fmax_eV_per_A": args.fmax,
               "total_energy_eV": summary["free_energy_eV"], "forces_eV_per_A": forces.tolist(),
               "max_force_eV_per_A": summary["max_force_eV_per_A"],
               "max_displacement_A": summary["max_displacement_A"], "natoms": len(atoms), "axis": args.axis}

        def finish():
            import ase.io
            ase.io.write(out.temp("relax.traj"), frames, format="traj", parallel=False)
            out.rename_local("relax.traj")
            final = frames[-1].copy()
            ase.io.write(out.temp("relaxed.extxyz"), final, format="extxyz", parallel=False)
            out.rename_local("relaxed.extxyz")
            write_json_atomic(out.file("results.json"), res)
            return True
        on_root(comm, finish)
    if comm.rank == 0:
        print(f"{'converged' if res['converged'] else 'NOT converged'} after {res['steps']} steps, max force "
              f"{res['max_force_eV_per_A']:.4f} eV/Å; results in {os.path.join(args.out, 'results.json')}", flush=True)
    return 0
