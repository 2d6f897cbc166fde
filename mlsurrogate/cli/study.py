"""Studies made of many predictions: stacking-fault energy vs cell size (in one MPI job, or SLURM + collect).

Example: mpirun -n 2 mlsurrogate study stacking-fault --model models/be2.mlsm --sizes 2 3 \
             --pseudo-dir ../shared/testdata/Be2 --out sf-study
Size K = K x K hcp cells in the basal plane, 2K along c (4K^3 atoms). Energies eV, γ mJ/m^2.
"""
import logging
import os

from ..model.inference import DEFAULT_PRECISION, PRECISIONS
from .energy_options import add_energy_arguments, add_screening_arguments, parse_assignments, screening_cutoff

__all__ = ["add_arguments", "run"]

log = logging.getLogger("mlsurrogate")

#: Be lattice of the reference data (Å), the defaults of --a/--c.
BE_A, BE_C = 2.25982586776780, 3.56987856087494


def add_arguments(p):
    sub = p.add_subparsers(dest="study", required=True)
    s = sub.add_parser("stacking-fault", help="basal I2 stacking-fault energy of an hcp metal vs cell size",
                       description=__doc__)
    s.add_argument("--model", help="model file (required unless --collect)")
    s.add_argument("--sizes", type=int, nargs="+", help="sizes K (K x K x 2K hcp cells, 4K^3 atoms)")
    s.add_argument("--symbol", help="element (default: the model's only species)")
    s.add_argument("--a", type=float, default=BE_A, help=f"lattice constant a, Å (default {BE_A}, Be)")
    s.add_argument("--c", type=float, default=BE_C, help=f"lattice constant c, Å (default {BE_C}, Be)")
    s.add_argument("--rattle", type=float, default=0.0, metavar="STD",
                   help="random Cartesian displacements, std per component in Å (identical in perfect and faulted)")
    s.add_argument("--seed", type=int, default=0, help="seed of --rattle")
    s.add_argument("--points-per-cell", type=int, nargs=3, metavar=("NA", "NB", "NC"),
                   help="grid points per hcp unit cell along a1, a2, c (size K gets NA K x NB K x 2 NC K; default: "
                        "the model's grid spacing)")
    s.add_argument("--orthogonal", action="store_true",
                   help="faulted cells as orthogonal three-fault cells (build hcp --orthogonal) against perfect cells "
                        "three times as long: no sheared grid, so no egg-box drift of gamma with size (3x the atoms)")
    s.add_argument("--descriptors", choices=["native", "native-exclude-coincident", "lammps"], default="native",
                   help="descriptor backend (see predict)")
    s.add_argument("--max-points-per-pass", type=int, default=65536, help="descriptor points per rank at once")
    s.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION, help="as for predict")
    s.add_argument("--relax", action="store_true",
                   help="relax every cell (perfect and faulted) along the stacking axis z before its energy, with "
                        "the surrogate's forces (BFGS, float64; a forces sweep per step): the relaxed fault energy")
    s.add_argument("--fmax", type=float, default=0.01, help="with --relax: stop below this force (eV/Å)")
    s.add_argument("--relax-steps", type=int, default=100, help="with --relax: at most this many steps per cell")
    s.add_argument("--save-densities", action="store_true",
                   help="write density.h5 of every cell (default: of the largest size only)")
    add_energy_arguments(s, "the model's directory")
    add_screening_arguments(s)
    s.add_argument("--out", help="study directory")
    s.add_argument("--overwrite", action="store_true", help="replace results already in the study directory")
    s.add_argument("--slurm", action="store_true", help="only write the cells and one SLURM job array per size "
                   "(perfect, faulted), sized by the cost model; then run --collect DIR")
    s.add_argument("--cores-per-node", type=int, default=48, help="with --slurm: cores per node")
    s.add_argument("--threads-per-rank", type=int, default=1, help="with --slurm: OpenMP threads per rank")
    s.add_argument("--time", default="02:00:00", help="with --slurm: time limit per job, HH:MM:SS")
    s.add_argument("--mem-per-rank", type=float, default=2.0, metavar="GIB",
                   help="with --slurm: memory per rank the jobs may use (sizes the rank count)")
    s.add_argument("--collect", metavar="DIR", help="assemble DIR/study.json from finished --slurm runs")


def run(args, comm):
    from ..errors import InputError
    from ..studies.stacking_fault_run import collect, run_here, write_slurm
    if args.collect:
        study = collect(comm, args.collect, args.overwrite)
        out = args.collect
    else:
        if not args.model or not args.sizes or not args.out:
            raise InputError("study stacking-fault needs --model, --sizes and --out (or --collect DIR)")
        from ..energy.stage import EnergySettings
        from ..model.load import load_model
        from ..pipeline import PredictOptions
        model = load_model(comm, args.model)
        symbol = args.symbol or (model.species[0] if len(model.species) == 1 else None)
        if symbol not in model.species:
            raise InputError(f"--symbol {symbol!r} is not a species of the model ({', '.join(model.species)})")
        energy = EnergySettings(pseudo_dir=args.pseudo_dir, pseudo_files=parse_assignments(args.pseudo, "--pseudo"),
                                ecutrho_ry=args.ecutrho)
        screening = screening_cutoff(args)
        options = PredictOptions(max_points_per_pass=args.max_points_per_pass, descriptors=args.descriptors,
                                 energy=energy, dtype=args.precision, screening_cutoff_inv_a=screening)
        if screening is not None and args.relax:
            raise InputError("--relax with --screening is not implemented (the forces are those of the unscreened "
                             "density)")
        if args.relax:
            from .checks import positive, positive_int
            positive(args.fmax, "--fmax", "eV/Å")
            positive_int(args.relax_steps, "--relax-steps")
            if args.slurm:
                raise InputError("--relax runs inside one job only: drop --slurm (or relax the cells with "
                                 "`mlsurrogate relax --axis z` and run the study on the relaxed structures)")
        if args.slurm:
            extra = ["--descriptors", args.descriptors, "--precision", args.precision]
            if args.pseudo_dir:
                extra += ["--pseudo-dir", os.path.abspath(args.pseudo_dir)]
            for item in args.pseudo:
                extra += ["--pseudo", item]
            if args.ecutrho:
                extra += ["--ecutrho", str(args.ecutrho)]
            if screening is not None:
                extra += ["--screening", "--screening-cutoff", str(screening)]
            scripts, manifest = write_slurm(comm, model, args.model, args.out, args.sizes, symbol, args.a, args.c,
                                            options, extra, args.cores_per_node, args.threads_per_rank, args.time,
                                            args.mem_per_rank, args.rattle, args.seed, args.overwrite,
                                            points_per_cell=args.points_per_cell, orthogonal=args.orthogonal)
            if comm.rank == 0:
                for cell in manifest:
                    print(f"size {cell['size']}: {cell['natoms']} atoms, grid {'x'.join(map(str, cell['grid']))}, "
                          f"{cell['ranks']} ranks on {cell['nodes']} node(s), predicted {cell['predicted_wall_s']:.0f} s "
                          f"per cell", flush=True)
                print(f"submit with {os.path.join(args.out, 'jobs', 'submit_all.sh')}, then "
                      f"`mlsurrogate study stacking-fault --collect {args.out}`", flush=True)
            return 0
        study = run_here(comm, model, args.model, args.out, args.sizes, symbol, args.a, args.c, options,
                         args.rattle, args.seed, args.overwrite, args.save_densities, args.points_per_cell,
                         relax=(args.fmax, args.relax_steps) if args.relax else None, orthogonal=args.orthogonal)
        out = args.out
    if comm.rank == 0:
        print(f"{'K':>3} {'atoms':>7} {'delta_F (eV)':>13} {'gamma (mJ/m^2)':>15} {'Hartree dF (eV)':>16} "
              f"{'q/fault (e)':>12}")
        for r in study["cells"]:
            print(f"{r['size']:>3} {r['natoms']:>7} {r['delta_F_eV']:>13.6f} {r['gamma_mJ_per_m2']:>15.2f} "
                  f"{r['delta_F_hartree_eV']:>16.6f} {r.get('excess_charge_per_fault_e', float('nan')):>12.4f}")
        print(f"gamma = {study['gamma_mJ_per_m2']:.2f} mJ/m^2 (largest size); fit gamma = "
              f"{study['fit']['gamma_from_b_mJ_per_m2']:.2f} mJ/m^2; converged with size: {study['gamma_converged']}")
        for note in study["notes"]:
            print(f"NOTE: {note}")
        print(f"study in {os.path.join(out, 'study.json')}", flush=True)
    return 0
