"""Predict LDOS, DOS, Fermi level, band energy and density for a structure.

Example: mpirun -n 4 mlsurrogate predict --model Be_model.zip --structure POSCAR --out run1
Energies in eV, lengths in Å, temperature in K, density in 1/Å^3.
"""
import logging
import os

from ..model.device import DEFAULT_DEVICE, DEVICE_HELP, DEVICES
from ..model.inference import DEFAULT_PRECISION, PRECISION_HELP, PRECISIONS
from .energy_options import (add_energy_arguments, add_screening_arguments, energy_summary_lines, parse_assignments,
                             screening_cutoff)

__all__ = ["add_arguments", "run"]

log = logging.getLogger("mlsurrogate")


def add_arguments(p, out_required=True):
    p.add_argument("--model", required=True, help="model file (mlsurrogate model, or a MALA .zip)")
    p.add_argument("--structure", required=True, help="structure file, any format ASE reads")
    p.add_argument("--format", default=None, help="ASE format name if the extension is ambiguous")
    p.add_argument("--grid", type=int, nargs=3, metavar=("NX", "NY", "NZ"),
                   help="real-space grid (default: the model's grid spacing applied to the cell)")
    p.add_argument("--temperature", type=float, metavar="K", help="electronic temperature in K "
                   "(default: the model's)")
    p.add_argument("--out", required=out_required, metavar="DIR", help="output directory")
    p.add_argument("--save", nargs="*", default=[], choices=["density"],
                   help="also write fields: 'density' -> DIR/density.h5 (1/Å^3) or DIR/density.cube (--density-format)")
    p.add_argument("--density-format", choices=["h5", "cube"], default="h5",
                   help="file format of --save density: h5 (HDF5, 1/Å^3, float64) or cube (Gaussian cube for VESTA, "
                        "OVITO: electrons/bohr^3, atoms and axes in bohr, 6 significant digits)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in DIR")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION, help=PRECISION_HELP)
    p.add_argument("--device", choices=DEVICES, default=DEFAULT_DEVICE, help=DEVICE_HELP)
    p.add_argument("--batch-size", type=int, default=2048, help="grid points per network batch (2048 suits "
                   "CPU caches; with --device cuda larger batches, e.g. 16384, keep the GPU busy)")
    p.add_argument("--max-points-per-pass", type=int, default=65536,
                   help="descriptor points per rank held at once (bounds memory)")
    p.add_argument("--density-window", type=float, metavar="EV",
                   help="expert: half-width (eV) of the energy window kept per point for the density, around "
                        "the Fermi level estimated from the first descriptor pass (default: max(2 spacings, "
                        "0.25 eV)); if the final Fermi level falls outside, the sweep is redone")
    p.add_argument("--descriptors", choices=["native", "native-exclude-coincident", "lammps"], default="native",
                   help="descriptor backend: our compiled kernel (default; LAMMPS' values to ~1e-14, several "
                        "times faster; an atom on a grid point enters with its continuous limit), "
                        "native-exclude-coincident (LAMMPS' exclusion of such atoms, for parity tests) or LAMMPS "
                        "compute sna/grid (the reference; drops atoms within 1e-10 Å of a grid point)")
    p.add_argument("--no-plot", action="store_true", help="skip DOS plot")
    p.add_argument("--forces", action="store_true", help="also the atomic forces -dF/dR (eV/Å), the exact "
                   "derivative of the surrogate's free energy (a second, float64 sweep) minus their mean (the "
                   "grid's egg-box net force, removed as Quantum ESPRESSO does; results.json "
                   "net_force_removed_eV_per_A): DIR/forces.npy and results.json forces_eV_per_A")
    p.add_argument("--no-energy", action="store_true",
                   help="skip the total energy (Hartree, XC, Ewald need the model's UPF pseudopotentials)")
    p.add_argument("--memory-per-rank", type=float, metavar="GIB",
                   help="memory each rank may use, GiB (default: SLURM's --mem-per-cpu/--mem, else the node's "
                        "available memory shared by its ranks); runs predicted to need more are refused at once")
    add_energy_arguments(p, "the model's directory")
    add_screening_arguments(p)
    p.add_argument("--checkpoint", metavar="DIR", help="save the state of the descriptor passes in DIR (every "
                   "--checkpoint-interval seconds and on SIGTERM) so that --resume can continue a killed job")
    p.add_argument("--checkpoint-interval", type=float, default=300.0, metavar="S",
                   help="seconds between checkpoints (default 300; 0: after every pass)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint DIR (same "
                   "structure, model, grid, ranks and options); results are bit-identical to an uninterrupted run")


def _summary(res, stages):
    t = res["timings_s"]
    lines = [
        f"atoms            {res['natoms']}",
        f"grid             {res['grid'][0]} x {res['grid'][1]} x {res['grid'][2]} "
        f"({res['grid'][0] * res['grid'][1] * res['grid'][2]} points)",
        f"ranks            {res['ranks']} (brick {'x'.join(map(str, res['proc_grid']))}, "
        f"{res['descriptor_passes']} descriptor pass(es))",
        f"temperature      {res['temperature_K']:.4f} K",
        f"electrons        {res['number_of_electrons']:.8f} (target {res['number_of_electrons_target']:g})",
        f"Fermi level      {res['fermi_energy_eV']:.6f} eV",
        f"band energy      {res['band_energy_eV']:.6f} eV ({res['band_energy_per_atom_eV']:.6f} eV/atom)",
        f"-TS              {res['entropy_contribution_eV']:.6e} eV",
    ] + energy_summary_lines(res) + [
        "time per stage   " + ", ".join(f"{k} {t[k]:.2f} s" for k in stages if k in t),
        f"peak memory      {res['peak_rss_bytes_max_rank'] / 2**20:.0f} MiB (largest rank)",
    ]
    return "\n".join(lines)


def predict_options(args):
    """:class:`PredictOptions` from parsed ``predict`` (or ``plan``) arguments."""
    from ..energy.stage import EnergySettings
    from ..pipeline import PredictOptions
    energy = None if args.no_energy else EnergySettings(
        pseudo_dir=args.pseudo_dir, pseudo_files=parse_assignments(args.pseudo, "--pseudo"), ecutrho_ry=args.ecutrho)
    memory = int(args.memory_per_rank * (1 << 30)) if args.memory_per_rank else None
    return PredictOptions(grid=tuple(args.grid) if args.grid else None, temperature_k=args.temperature,
                          max_points_per_pass=args.max_points_per_pass, batch_size=args.batch_size,
                          dtype=args.precision, device=args.device, window_halfwidth_ev=args.density_window,
                          descriptors=args.descriptors, energy=energy, memory_per_rank_bytes=memory,
                          forces=bool(getattr(args, "forces", False)),
                          screening_cutoff_inv_a=screening_cutoff(args))


def check_arguments(args):
    """Refuse explicit values that cannot be used (never silently replaced by defaults). Local."""
    from .checks import positive, positive_grid, positive_int, non_negative
    positive_grid(args.grid)
    positive(args.temperature, "--temperature", "K")
    positive(args.ecutrho, "--ecutrho", "Ry")
    positive(args.density_window, "--density-window", "eV")
    positive_int(args.batch_size, "--batch-size")
    positive_int(args.max_points_per_pass, "--max-points-per-pass")
    positive(args.memory_per_rank, "--memory-per-rank", "GiB")
    non_negative(args.checkpoint_interval, "--checkpoint-interval", "s")
    if args.resume and not args.checkpoint:
        from ..errors import InputError
        raise InputError("--resume needs --checkpoint DIR (the directory of the interrupted run)")


def _stop_after_passes():
    """MLSURROGATE_STOP_AFTER_PASSES=k: stop as SIGTERM would after k passes (rehearse a job script)."""
    from ..errors import InputError
    value = os.environ.get("MLSURROGATE_STOP_AFTER_PASSES")
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"MLSURROGATE_STOP_AFTER_PASSES={value!r}: expected a positive integer")
    return int(value)


def _run_params(comm, args, atoms):
    """What identifies a run for --resume: structure and model hashes and every option that changes results."""
    import hashlib
    import numpy as np
    from ..checkpoint import file_sha256
    from ..parallel import on_root
    h = hashlib.sha256()
    for array in (atoms.cell.array, atoms.get_scaled_positions(wrap=False), atoms.numbers):
        h.update(np.ascontiguousarray(array).tobytes())
    return {"structure_sha256": h.hexdigest(), "model_sha256": on_root(comm, file_sha256, args.model),
            "grid": args.grid, "temperature_K": args.temperature, "precision": args.precision, "device": args.device,
            "batch_size": args.batch_size, "max_points_per_pass": args.max_points_per_pass,
            "density_window_eV": args.density_window, "descriptors": args.descriptors,
            "forces": bool(getattr(args, "forces", False)), "screening_cutoff_inv_A": screening_cutoff(args)}


def run(args, comm):
    """Parse nothing more: read the inputs, run the pipeline, write the files. Collective over ``comm``."""
    from ..checkpoint import Checkpoint, PassControl, sigterm_flag
    from ..model.load import load_model
    from ..output.outdir import OutputDir, check_free_space
    from ..output.results import plot_dos, write_density, write_json_atomic
    from ..parallel import max_over_ranks, on_root, peak_rss_bytes
    from ..pipeline import Pipeline
    from ..structure.read import read_structure
    import time
    import numpy as np

    t0 = time.perf_counter()
    check_arguments(args)
    stop_after = _stop_after_passes()
    density_file = f"density.{args.density_format}"
    # the whole result set: --overwrite removes all of it
    names = ["results.json", "dos.png", "density.h5", "density.cube", "forces.npy"]
    with sigterm_flag() as stop, OutputDir(comm, args.out, args.overwrite, names) as out:
        model = load_model(comm, args.model)
        atoms = read_structure(comm, args.structure, args.format)
        pipeline = Pipeline(comm, model, predict_options(args))
        run_setup = pipeline.setup(atoms)
        if "density" in args.save:
            points = int(np.prod(run_setup.grid, dtype=object))
            on_root(comm, check_free_space, args.out, (8 if args.density_format == "h5" else 14) * points, density_file)
        checkpoint = (Checkpoint(comm, args.checkpoint, _run_params(comm, args, atoms), args.resume)
                      if args.checkpoint else None)
        control = PassControl(comm, stop, checkpoint, args.checkpoint_interval, stop_after)
        pred = pipeline.run(run_setup, control)
        pred.structure = os.path.abspath(args.structure)
        t_write = time.perf_counter()
        if "density" in args.save:
            write_density(comm, out.temp(density_file), args.density_format, pred.density, pred.decomposition, atoms)
            out.commit(density_file)
        pred.timings_s["write"] = time.perf_counter() - t_write
        pred.timings_s["command"] = time.perf_counter() - t0   # model and structure reading included
        pred.peak_rss_bytes_max_rank = max_over_ranks(comm, peak_rss_bytes())   # the writing included
        res = pred.to_dict()

        def finish():  # results.json last: it marks the directory as one complete result
            if not args.no_plot:
                plot_dos(out.temp("dos.png"), pred.dos_energies_ev, pred.dos_per_ev,
                         pred.fermi_energy_ev, f"{res['natoms']} atoms, {res['temperature_K']:.1f} K")
                out.rename_local("dos.png")
            if pred.forces is not None:
                with open(out.temp("forces.npy"), "wb") as f:
                    np.save(f, pred.forces)
                out.rename_local("forces.npy")
            write_json_atomic(out.file("results.json"), res)
            return True
        on_root(comm, finish)
        if checkpoint is not None:
            checkpoint.remove()
    if comm.rank == 0:
        print(_summary(res, ["descriptors", "inference", "postprocess", "energy", "write", "total", "command"]),
              flush=True)
        print(f"results in {os.path.join(args.out, 'results.json')}", flush=True)
    return 0
