"""The prediction pipeline: structure -> descriptors -> LDOS -> DOS, Fermi level, energies, density.

Collective over ``comm``. Memory per rank is bounded: descriptors and LDOS live only one sub-lattice
pass at a time; what stays per grid point is the density accumulator (see electronic/density.py).
"""
from dataclasses import dataclass, field
import logging
import time

import numpy as np

from .checkpoint import restore_sweep, sweep_state
from .decomposition.grid import GridDecomposition
from .decomposition.passes import plan_passes
from .descriptors.field import open_descriptors
from .electronic.density import DensityAccumulator, plan_window
from .electronic.dos import dos_observables, fermi_level
from .errors import ConvergenceError, InputError, MLSurrogateError, ModelError
from .model.inference import DEFAULT_PRECISION
from .parallel import agree, raise_collectively
from .cost import plan_run
from .structure.read import check_cell, check_structure
from .units import kelvin_to_ev

__all__ = ["PredictOptions", "Prediction", "default_grid", "predict"]

log = logging.getLogger("mlsurrogate")


@dataclass(frozen=True)
class PredictOptions:
    grid: tuple = None                  # (nx, ny, nz); None = model spacing applied to the cell
    temperature_k: float = None         # None = the model's
    max_points_per_pass: int = 65536    # descriptor points per rank held at once
    batch_size: int = 2048              # network batch (points)
    dtype: str = DEFAULT_PRECISION      # of descriptors + network (model/inference.py PRECISIONS)
    window_halfwidth_ev: float = None   # density window around the first-pass mu; None = max(2 spacings, 0.25 eV)
    keep_density: bool = True
    descriptors: str = "native"         # "native", "native-exclude-coincident" or "lammps" (the reference)
    energy: object = None               # energy.stage.EnergySettings: add the total free energy; None = skip
    memory_per_rank_bytes: int = None   # refuse runs predicted to need more (None: what the node has free)
    forces: bool = False                # also -dF/dR (forces/, float64 second sweep); needs energy, density, native


@dataclass
class Prediction:
    """Results; scalars identical on every rank, ``density`` is this rank's block (1/Å^3)."""
    natoms: int
    grid: tuple
    ranks: int
    proc_grid: tuple
    n_passes: int
    temperature_k: float
    number_of_electrons_target: float
    number_of_electrons: float
    fermi_energy_ev: float
    band_energy_ev: float
    entropy_contribution_ev: float
    dos_energies_ev: np.ndarray
    dos_per_ev: np.ndarray
    decomposition: GridDecomposition
    density: np.ndarray = None
    timings_s: dict = field(default_factory=dict)
    density_window: tuple = None
    accumulator_bytes_per_point: int = 0
    recomputed: bool = False
    energy: dict = field(default_factory=dict)   # results.json energy keys (eV), empty without the energy stage
    plan: object = None                          # cost.RunPlan: what the run was predicted to cost
    forces: np.ndarray = None                    # (natoms, 3) eV/Å, input atom order (options.forces)


def default_grid(cell, spacing):
    """Grid (nx, ny, nz) with the model's spacing (Å) along each lattice vector of ``cell``."""
    lengths = np.linalg.norm(np.asarray(cell, dtype=float), axis=1)
    return tuple(max(1, int(round(l / h))) for l, h in zip(lengths, spacing))


def _n_electrons(atoms, model):
    from ase.data import chemical_symbols
    numbers, counts = np.unique(atoms.numbers, return_counts=True)
    return float(sum(model.electrons_per_atom[chemical_symbols[z]] * c for z, c in zip(numbers, counts)))


class _Timer:
    """Wall seconds per stage since ``t0``, and this process's CPU seconds (all threads) as KEY_cpu."""
    def __init__(self):
        self.t = {"descriptors": 0.0, "inference": 0.0, "postprocess": 0.0}
        self._cpu = time.process_time()

    def add(self, key, t0):
        cpu = time.process_time()
        self.t[key] = self.t.get(key, 0.0) + time.perf_counter() - t0
        self.t[key + "_cpu"] = self.t.get(key + "_cpu", 0.0) + cpu - self._cpu
        self._cpu = cpu
        return time.perf_counter()


def _pass_error(decomp, model, idx, desc):
    """Local sanity check of one descriptor pass; an exception to raise collectively, or None."""
    if desc.shape[1] != model.n_features:
        return ModelError(f"descriptors have {desc.shape[1]} components, the model expects {model.n_features}")
    if not np.all((idx >= decomp.local_start) & (idx < np.add(decomp.local_start, decomp.local_shape))):
        return MLSurrogateError("the descriptor backend returned grid points outside this rank's block: its domain "
                                "decomposition does not match ours (please report this with the structure)")
    return None


def _sweep(comm, backend, net, model, decomp, plan, n_electrons, temperature_k, dv, window, timer,
           keep_density, halfwidth=None, control=None, stage="sweep"):
    """One pass over all sub-lattices. Returns (dos, accumulator).

    control : a :class:`~mlsurrogate.checkpoint.PassControl` (checkpoint/resume, SIGTERM) or None;
    ``stage`` names this sweep in the checkpoint.
    """
    from mpi4py import MPI
    energies = model.energy_grid.energies
    kt = kelvin_to_ev(temperature_k)
    dos_local = np.zeros(len(energies))
    acc, first = None, None
    sweep_id = {"stage": stage, "grid": decomp.global_shape, "proc_grid": decomp.proc_grid, "ranks": comm.size,
                "passes": plan.n_passes, "keep_density": keep_density,
                "window": None if window is None else [window.i_lo, window.i_hi, window.mu_lo, window.mu_hi]}
    start, saved = (0, None) if control is None else control.restore(stage, sweep_id)
    if saved is not None:
        dos_local, window, acc = restore_sweep(comm, saved, decomp.local_size, energies, kt)
    started = time.perf_counter()
    for p, offset in enumerate(plan.offsets):
        if p < start:
            continue  # restored from the checkpoint
        t0 = time.perf_counter()
        idx, desc = backend.compute_pass(plan, offset)
        t0 = timer.add("descriptors", t0)
        error, ldos = _pass_error(decomp, model, idx, desc), None
        if error is None:
            try:
                ldos = net(desc)
            except MLSurrogateError as exc:
                error = exc
        raise_collectively(comm, error)  # one collective decision per pass
        t0 = timer.add("inference", t0)
        dos_local += ldos.sum(axis=0) * dv
        flat = decomp.local_flat_index(*idx.T)
        if keep_density:
            if acc is None and window is None and p == 0 and plan.n_passes > 1:
                first = (flat, ldos)  # the window is chosen once the first pass has been reduced
            else:
                if acc is None:
                    acc = DensityAccumulator(decomp.local_size, energies, kt, window)
                acc.add(flat, ldos)
        if p == 0 and window is None and plan.n_passes > 1 and keep_density:
            estimate = comm.allreduce(dos_local, op=MPI.SUM) * plan.n_passes
            estimate = comm.bcast(estimate, root=0)
            spacing = model.energy_grid.spacing_ev
            try:
                mu = fermi_level(energies, estimate, n_electrons, temperature_k)
                half = halfwidth if halfwidth is not None else max(2 * spacing, 0.25)
                window = plan_window(energies, kt, mu - half, mu + half)
            except ConvergenceError:
                window = plan_window(energies, kt, -np.inf, np.inf)
            acc = DensityAccumulator(decomp.local_size, energies, kt, window)
            acc.add(*first)
            first = None
        t0 = timer.add("postprocess", t0)
        if comm.rank == 0 and plan.n_passes > 1:
            done = time.perf_counter() - started
            log.info("pass %d/%d done, %.1f s elapsed, about %.0f s left", p + 1, plan.n_passes, done,
                     done / (p + 1 - start) * (plan.n_passes - p - 1))
        if control is not None:
            control.after_pass(stage, p, plan.n_passes, sweep_id, lambda: sweep_state(dos_local, window, acc))
    if acc is not None:
        agree(comm, bool(acc.filled.all()), MLSurrogateError,
              "some grid points were never computed by the descriptor passes (please report this)")
    dos = comm.allreduce(dos_local, op=MPI.SUM)
    dos = comm.bcast(dos, root=0)  # bit-identical on every rank
    return dos, acc


def predict(comm, atoms, model, options=PredictOptions(), control=None):
    """Predict the electronic structure of ``atoms`` with ``model``. Collective over ``comm``.

    control : optional :class:`~mlsurrogate.checkpoint.PassControl` (checkpoint, resume, SIGTERM).
    """
    import torch
    from .model.calibration import calibration_descriptors
    from .model.inference import LdosNetwork, descriptor_precision
    from .parallel import torch_threads_per_rank

    t_start = time.perf_counter()
    check_cell(atoms)                       # the plan below needs a valid cell
    cell = atoms.cell.array
    grid = tuple(options.grid) if options.grid else default_grid(cell, model.grid_spacing_A)
    temperature_k = float(model.temperature_k if options.temperature_k is None else options.temperature_k)
    if not (np.isfinite(temperature_k) and temperature_k > 0):
        raise InputError(f"temperature must be a positive finite number of kelvin, got {temperature_k}")
    params = model.descriptors
    run_plan = plan_run(comm, len(atoms), cell, grid, model, options)   # refuses what cannot fit, before any work
    check_structure(comm, atoms, model.species)
    decomp = GridDecomposition.create(comm, grid, cell, params.max_cutoff(model.species))
    plan = plan_passes(decomp, options.max_points_per_pass)
    if options.descriptors != "native":
        from .descriptors.native_grid import atoms_on_grid_points
        on_points = atoms_on_grid_points(comm, cell, atoms.get_scaled_positions(wrap=True), grid)
        if on_points and comm.rank == 0:
            log.warning("%d atom(s) sit within 1e-10 Å of a grid point: the %s descriptors drop them from those "
                        "points (LAMMPS' self-exclusion), so the result jumps under 1e-10 Å of rounding; the "
                        "default native backend uses the continuous limit", on_points, options.descriptors)
    if options.forces:  # forces hook (issue 15): mlsurrogate/forces/
        from .forces.stage import check_force_options
        check_force_options(options)
    energy_plan = None
    if options.energy is not None:
        from .energy.stage import plan_energy
        energy_plan = plan_energy(comm, atoms, model, grid, options.energy)
    n_electrons = _n_electrons(atoms, model)
    volume = abs(np.linalg.det(cell))
    dv = volume / decomp.global_size
    torch.set_num_threads(torch_threads_per_rank(comm))
    net = LdosNetwork(model, dtype=options.dtype, batch_size=options.batch_size)
    timer = _Timer()
    if net.needs_calibration:  # bfloat16: bias correction on a fixed sample of grid points
        t0 = time.perf_counter()
        net.calibrate(comm, calibration_descriptors(comm, atoms, model, decomp))
        timer.add("calibration", t0)
    # float32 descriptor arithmetic feeds the float32/bfloat16 networks (LAMMPS computes float64 only)
    desc = {"precision": descriptor_precision(options.dtype)} if options.descriptors == "native" else {}
    if comm.rank == 0:
        log.info("%d atoms, grid %dx%dx%d, %d ranks as %dx%dx%d, %d pass(es) of <= %d points per rank",
                 len(atoms), *grid, comm.size, *decomp.proc_grid, plan.n_passes,
                 -(-decomp.max_local_size() // plan.n_passes))
    recomputed = False
    with open_descriptors(comm, options.descriptors, atoms, model.species, params, decomp, **desc) as backend:
        window = None
        if plan.n_passes == 1 or not options.keep_density:
            window = plan_window(model.energy_grid.energies, kelvin_to_ev(temperature_k), -np.inf, np.inf)
        dos, acc = _sweep(comm, backend, net, model, decomp, plan, n_electrons, temperature_k, dv, window,
                          timer, options.keep_density, options.window_halfwidth_ev, control, "sweep")
        t0 = time.perf_counter()
        obs = dos_observables(model.energy_grid.energies, dos, n_electrons, temperature_k)
        timer.add("postprocess", t0)
        if options.keep_density and not acc.window.contains(obs.fermi_energy_ev):
            if comm.rank == 0:
                log.warning("Fermi level %.4f eV outside the density window estimated from the first "
                            "pass; recomputing with the exact window", obs.fermi_energy_ev)
            mu = obs.fermi_energy_ev
            window = plan_window(model.energy_grid.energies, kelvin_to_ev(temperature_k), mu - 1e-3, mu + 1e-3)
            dos, acc = _sweep(comm, backend, net, model, decomp, plan, n_electrons, temperature_k, dv, window,
                              timer, True, control=control, stage="recompute")
            recomputed = True
    t0 = time.perf_counter()
    density = acc.density(obs.fermi_energy_ev).reshape(decomp.local_shape) if options.keep_density else None
    timer.add("postprocess", t0)
    energy = {}
    if energy_plan is not None:
        from .energy.stage import prediction_energy
        t0 = time.perf_counter()
        energy = prediction_energy(comm, energy_plan, grid, decomp, density, obs.band_energy_ev,
                                   obs.entropy_contribution_ev, len(atoms))
        timer.add("energy", t0)
    forces = None
    if options.forces:  # forces hook (issue 15): the second sweep, mlsurrogate/forces/stage.py
        from .forces.stage import predict_forces
        forces, _ = predict_forces(comm, atoms, model, energy_plan, grid, decomp, plan, density, dos,
                                   obs.fermi_energy_ev, temperature_k, options.batch_size, timer.t)
    timer.t["total"] = time.perf_counter() - t_start
    return Prediction(
        natoms=len(atoms), grid=grid, ranks=comm.size, proc_grid=decomp.proc_grid, n_passes=plan.n_passes,
        temperature_k=temperature_k, number_of_electrons_target=n_electrons,
        number_of_electrons=obs.number_of_electrons, fermi_energy_ev=obs.fermi_energy_ev,
        band_energy_ev=obs.band_energy_ev, entropy_contribution_ev=obs.entropy_contribution_ev,
        dos_energies_ev=model.energy_grid.energies, dos_per_ev=dos, decomposition=decomp, density=density,
        timings_s=dict(timer.t),
        density_window=(acc.window.i_lo, acc.window.i_hi) if acc is not None else None,
        accumulator_bytes_per_point=acc.bytes_per_point if acc is not None else 0, recomputed=recomputed,
        energy=energy, plan=run_plan, forces=forces)
