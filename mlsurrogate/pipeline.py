"""The prediction pipeline: one object that owns every stage, read top to bottom.

    pipeline = Pipeline(comm, model, PredictOptions(...))      # once per model
    result = pipeline.predict(atoms)                            # per structure: a Prediction

``predict`` first resolves the run (:meth:`Pipeline.setup`: structure checks, grid, cost plan, domain
decomposition, sub-lattice passes, energy inputs), then runs the stages in order (:meth:`Pipeline.run`):

    descriptors -> network      (sweep.py: pass by pass, DOS + density accumulator)
    electronic observables      (electronic/: Fermi level, band energy, -TS, density)
    energy                      (energy/stage.py: Hartree, XC, Ewald -> total free energy F)

Collective over ``comm``: every rank passes the same atoms. Memory per rank is bounded: descriptors and
LDOS live only one sub-lattice pass at a time; what stays per grid point is the density accumulator.
Scalars of the result are identical on every rank; the density is this rank's block.
"""
from dataclasses import dataclass, field
import logging
import time

import numpy as np

from .decomposition.grid import GridDecomposition
from .decomposition.passes import PassPlan, plan_passes
from .electronic.density import plan_window
from .electronic.dos import DosObservables, dos_observables, fermi_level
from .errors import ConvergenceError, InputError
from .model.inference import DEFAULT_PRECISION
from .timing import StageTimer
from .units import kelvin_to_ev

__all__ = ["PredictOptions", "RunSetup", "Prediction", "Pipeline", "default_grid", "predict"]

log = logging.getLogger("mlsurrogate")


@dataclass(frozen=True)
class PredictOptions:
    grid: tuple = None                  # (nx, ny, nz); None = model spacing applied to the cell
    temperature_k: float = None         # None = the model's
    max_points_per_pass: int = 65536    # descriptor points per rank held at once
    batch_size: int = 2048              # network batch (points)
    dtype: str = DEFAULT_PRECISION      # of descriptors + network (model/inference.py PRECISIONS)
    device: str = "cpu"                 # where the network runs: "cpu" or "cuda" (model/device.py)
    window_halfwidth_ev: float = None   # density window around the first-pass mu; None = max(2 spacings, 0.25 eV)
    keep_density: bool = True
    descriptors: str = "native"         # "native", "native-exclude-coincident" or "lammps" (the reference)
    energy: object = None               # energy.stage.EnergySettings: add the total free energy; None = skip
    memory_per_rank_bytes: int = None   # refuse runs predicted to need more (None: what the node has free)
    forces: bool = False                # also -dF/dR (forces/, float64 second sweep); needs energy, density, native
    screening_cutoff_inv_a: float = None  # macroscopic screening of the density below this |G| (1/Å,
                                          # energy/screening.py); None = off. Needs energy and density


@dataclass(frozen=True)
class RunSetup:
    """Everything resolved once per structure before the expensive work. Same on every rank except
    ``decomp``'s local block. energies (n_energies,) eV; dv voxel volume Å³; kt eV."""
    atoms: object
    grid: tuple
    temperature_k: float
    n_electrons: float
    decomp: GridDecomposition
    passes: PassPlan
    energies: np.ndarray
    dv: float
    n_features: int
    cost: object = None                 # cost.RunPlan: what the run is predicted to cost
    energy: object = None               # energy.stage.EnergyPlan, or None without the energy stage
    transferability: dict = field(default_factory=dict)   # results.json rdf_* keys
    started: float = 0.0                # time.perf_counter() when the setup began (timings_s["total"])
    timings_s: dict = field(default_factory=dict)          # seconds of the setup and the RDF check
    device: object = "cpu"              # torch.device (or its name) the network runs on (model/device.py)

    @property
    def kt(self):
        return kelvin_to_ev(self.temperature_k)


@dataclass
class Prediction:
    """Result of one structure. Scalars identical on every rank (eV, K, Å); ``density`` is this rank's block
    (``decomposition.local_shape``, 1/Å³) or None; :meth:`to_dict` is exactly the content of results.json."""
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
    species: list = None
    cell_A: np.ndarray = None
    model_info: dict = field(default_factory=dict)
    precision: str = DEFAULT_PRECISION
    device: str = "cpu"                          # where the network ran (--device)
    transferability: dict = field(default_factory=dict)
    peak_rss_bytes_max_rank: int = 0
    structure: str = None                        # where the structure was read from (the CLI sets it)
    forces: np.ndarray = None                    # (natoms, 3) eV/Å, input atom order (options.forces), or None
    net_force_removed: np.ndarray = None         # (3,) eV/Å: Σ_I of the exact -dF/dR_I, subtracted evenly from forces

    @property
    def free_energy_ev(self):
        """The Mermin free energy F (results.json total_energy_eV), or None without the energy stage."""
        return self.energy.get("total_energy_eV")

    def to_dict(self):
        """The results.json content (contract keys first): plain JSON types. Local."""
        d = {
            "natoms": self.natoms,
            "grid": [int(n) for n in self.grid],
            "ranks": self.ranks,
            "temperature_K": self.temperature_k,
            "number_of_electrons": self.number_of_electrons,
            "fermi_energy_eV": self.fermi_energy_ev,
            "band_energy_eV": self.band_energy_ev,
            "entropy_contribution_eV": self.entropy_contribution_ev,
            "dos_energies_eV": [float(e) for e in self.dos_energies_ev],
            "dos_per_eV": [float(v) for v in self.dos_per_ev],
            "timings_s": {k: float(v) for k, v in self.timings_s.items()},
            "peak_rss_bytes_max_rank": int(self.peak_rss_bytes_max_rank),
            "number_of_electrons_target": self.number_of_electrons_target,
            "band_energy_per_atom_eV": self.band_energy_ev / self.natoms,
            "species": list(self.species),
            "cell_A": np.asarray(self.cell_A).tolist(),
            "volume_A3": float(abs(np.linalg.det(self.cell_A))),
            "proc_grid": list(self.proc_grid),
            "descriptor_passes": self.n_passes,
            "density_recomputed": self.recomputed,
            "model": dict(self.model_info),
            "units": {"energy": "eV", "length": "Angstrom", "dos": "1/eV", "density": "1/Angstrom^3",
                      "temperature": "K"},
            "structure": self.structure,
            "precision": self.precision,
            "device": self.device,
            "density_accumulator_bytes_per_point": self.accumulator_bytes_per_point,
            "predicted_peak_bytes_per_rank": None if self.plan is None else self.plan.peak_bytes_per_rank,
            "predicted_core_hours": None if self.plan is None else self.plan.core_hours,
        }
        d.update(self.energy)
        d.update(self.transferability)
        if self.forces is not None:
            d["forces_eV_per_A"] = np.asarray(self.forces).tolist()
            d["net_force_removed_eV_per_A"] = np.asarray(self.net_force_removed).tolist()
        return d


def default_grid(cell, spacing):
    """Grid (nx, ny, nz) with the model's spacing (Å) along each lattice vector of ``cell``."""
    lengths = np.linalg.norm(np.asarray(cell, dtype=float), axis=1)
    return tuple(max(1, int(round(l / h))) for l, h in zip(lengths, spacing))


def _n_electrons(atoms, model):
    from ase.data import chemical_symbols
    numbers, counts = np.unique(atoms.numbers, return_counts=True)
    return float(sum(model.electrons_per_atom[chemical_symbols[z]] * c for z, c in zip(numbers, counts)))


class Pipeline:
    """Predictions of many structures with one model. Collective over ``comm`` (every method).

    comm : mpi4py communicator (``MPI.COMM_SELF`` for one process); model : a loaded
    :class:`~mlsurrogate.model.model.Model` (:func:`~mlsurrogate.model.load.load_model`);
    options : :class:`PredictOptions`, the same for every structure.
    """

    def __init__(self, comm, model, options=PredictOptions()):
        self.comm, self.model, self.options = comm, model, options

    # -- resolve the run ------------------------------------------------------------------------------------
    def setup(self, atoms):
        """Check the structure and resolve grid, decomposition, passes and energy inputs: a :class:`RunSetup`.

        Raises the same :class:`~mlsurrogate.errors.MLSurrogateError` on every rank, before any expensive work.
        """
        from .cost import plan_run
        from .model.device import network_device
        from .structure.rdf import transferability
        from .structure.read import check_cell, check_same_on_every_rank, check_structure
        comm, model, options = self.comm, self.model, self.options
        started, timer = time.perf_counter(), StageTimer()
        check_same_on_every_rank(comm, atoms)
        check_cell(atoms)                       # the cost plan below needs a valid cell
        device = network_device(comm, options.device)   # refuses cuda where it is missing, on every rank
        cell = atoms.cell.array
        grid = tuple(options.grid) if options.grid else default_grid(cell, model.grid_spacing_A)
        temperature_k = float(model.temperature_k if options.temperature_k is None else options.temperature_k)
        if not (np.isfinite(temperature_k) and temperature_k > 0):
            raise InputError(f"temperature must be a positive finite number of kelvin, got {temperature_k}")
        cost = plan_run(comm, len(atoms), cell, grid, model, options)   # refuses what cannot fit, before any work
        check_structure(comm, atoms, model.species)
        decomp = GridDecomposition.create(comm, grid, cell, model.descriptors.max_cutoff(model.species))
        self._warn_atoms_on_grid_points(atoms, grid)
        if options.forces:
            from .forces.stage import check_force_options
            check_force_options(options)
        if options.screening_cutoff_inv_a is not None:
            _check_screening_options(options)
        energy = None
        if options.energy is not None:
            from .energy.stage import plan_energy
            energy = plan_energy(comm, atoms, model, grid, options.energy)
            if options.screening_cutoff_inv_a is not None:   # refuse a rattled cell before the network runs
                from .energy.screening import check_structure
                check_structure(comm, energy.inputs, grid, energy.ecutrho_ry, options.screening_cutoff_inv_a)
        timer.lap("setup")
        rdf_keys = transferability(comm, atoms, model)
        if comm.rank == 0 and rdf_keys["rdf_outside_training"]:
            log.warning("the radial distribution function of this structure is far from the model's training "
                        "structures (distance %.3f > %.2f, up to %.2f Å): the prediction is an extrapolation",
                        rdf_keys["rdf_distance_to_training"], rdf_keys["rdf_distance_threshold"], rdf_keys["rdf_r_max_A"])
        timer.lap("rdf")
        return RunSetup(atoms=atoms, grid=grid, temperature_k=temperature_k, n_electrons=_n_electrons(atoms, model),
                        decomp=decomp, passes=plan_passes(decomp, options.max_points_per_pass),
                        energies=model.energy_grid.energies, dv=abs(np.linalg.det(cell)) / decomp.global_size,
                        n_features=model.n_features, cost=cost, energy=energy, transferability=rdf_keys,
                        started=started, timings_s=dict(timer.seconds), device=device)

    # -- run the stages -------------------------------------------------------------------------------------
    def predict(self, atoms, control=None):
        """The :class:`Prediction` of ``atoms`` (ase.Atoms, Å): :meth:`setup`, then :meth:`run`.

        control : optional :class:`~mlsurrogate.checkpoint.PassControl` (checkpoint, resume, SIGTERM).
        """
        return self.run(self.setup(atoms), control)

    def run(self, run, control=None):
        """Run the stages of a resolved run (:meth:`setup`): the :class:`Prediction`.

        Adding a stage: resolve and check its inputs in :meth:`setup` (a field of :class:`RunSetup`, so bad
        input fails before any expensive work), write a ``<name>_stage(run, ..., timer)`` method called
        here in data-flow order, and keep its results in a :class:`Prediction` field that :meth:`to_dict`
        writes.
        """
        from .parallel import max_over_ranks, peak_rss_bytes
        from .structure.read import species_of
        timer = StageTimer({"descriptors": 0.0, "inference": 0.0, "postprocess": 0.0, **run.timings_s})
        obs, dos, acc, recomputed = self.electronic_stage(run, timer, control)
        with timer.stage("postprocess"):
            density = dn_dmu = None
            screening = self.options.screening_cutoff_inv_a is not None
            if acc is not None and (self.options.forces or screening):   # also dn/dμ (the Fermi level's response)
                from .forces.electronic import occupation_mu_derivative
                dwo = occupation_mu_derivative(run.energies, obs.fermi_energy_ev, run.kt)
                density, dn_dmu = acc.density(obs.fermi_energy_ev, dwo)
            elif acc is not None:
                density = acc.density(obs.fermi_energy_ev)
            if density is not None:
                density = density.reshape(run.decomp.local_shape)
        energy = self.energy_stage(run, density, obs, timer, dn_dmu)
        if "screened_density" in energy:            # --save density writes what the energy was computed from
            density = energy.pop("screened_density").reshape(run.decomp.local_shape)
        forces, net_force = self.forces_stage(run, density, dn_dmu, dos, obs, timer)
        timer.seconds["total"] = time.perf_counter() - run.started
        atoms = run.atoms
        return Prediction(
            natoms=len(atoms), grid=run.grid, ranks=self.comm.size, proc_grid=run.decomp.proc_grid,
            n_passes=run.passes.n_passes, temperature_k=run.temperature_k, number_of_electrons_target=run.n_electrons,
            number_of_electrons=obs.number_of_electrons, fermi_energy_ev=obs.fermi_energy_ev,
            band_energy_ev=obs.band_energy_ev, entropy_contribution_ev=obs.entropy_contribution_ev,
            dos_energies_ev=run.energies, dos_per_ev=dos, decomposition=run.decomp, density=density,
            timings_s=dict(timer.seconds),
            density_window=(acc.window.i_lo, acc.window.i_hi) if acc is not None else None,
            accumulator_bytes_per_point=acc.bytes_per_point if acc is not None else 0, recomputed=recomputed,
            energy=energy, plan=run.cost, species=species_of(atoms),
            cell_A=atoms.cell.array.copy(), model_info=self.model_info(), precision=self.options.dtype,
            device=self.options.device,
            transferability=run.transferability, peak_rss_bytes_max_rank=max_over_ranks(self.comm, peak_rss_bytes()),
            forces=forces, net_force_removed=net_force)

    def electronic_stage(self, run, timer, control=None):
        """Descriptors -> network -> DOS observables and the density accumulator.

        Returns (DosObservables, DOS (n_energies,) 1/eV, accumulator or None, recomputed?). The sweep is
        redone (once) with an exact window if the Fermi level falls outside the one estimated from the
        first pass.
        """
        from .descriptors.field import open_descriptors
        from .sweep import LdosSweep
        timer.restart()
        net = self._network(run, timer)
        if self.comm.rank == 0:
            log.info("%d atoms, grid %dx%dx%d, %d ranks as %dx%dx%d, %d pass(es) of <= %d points per rank",
                     len(run.atoms), *run.grid, self.comm.size, *run.decomp.proc_grid, run.passes.n_passes,
                     -(-run.decomp.max_local_size() // run.passes.n_passes))
        recomputed = False
        with open_descriptors(self.comm, self.options.descriptors, run.atoms, self.model.species,
                              self.model.descriptors, run.decomp, **self._backend_options()) as backend:
            sweeper = LdosSweep(self.comm, run, backend, net, timer, control)
            result = sweeper.sweep(self._density_window(run))
            with timer.stage("postprocess"):
                obs = dos_observables(run.energies, result.dos, run.n_electrons, run.temperature_k,
                                      self.model.ldos_broadening_std_ev)
            if result.accumulator is not None and not result.accumulator.window.contains(obs.fermi_energy_ev):
                if self.comm.rank == 0:
                    log.warning("Fermi level %.4f eV outside the density window estimated from the first "
                                "pass; recomputing with the exact window", obs.fermi_energy_ev)
                mu = obs.fermi_energy_ev
                result = sweeper.sweep(plan_window(run.energies, run.kt, mu - 1e-3, mu + 1e-3), "recompute")
                recomputed = True
        return obs, result.dos, result.accumulator, recomputed

    def energy_stage(self, run, density, obs: DosObservables, timer, dn_dmu=None):
        """results.json energy keys (eV) from this rank's density block (1/Å³); {} without the energy stage.
        With the macroscopic screening (options.screening_cutoff_inv_a) dn_dmu (1/(eV Å³)) is needed, and the
        dict also holds ``screened_density`` (this rank's block)."""
        if run.energy is None:
            return {}
        from .energy.stage import prediction_energy
        cutoff = self.options.screening_cutoff_inv_a
        with timer.stage("energy"):
            return prediction_energy(self.comm, run.energy, run.grid, run.decomp, density, obs.band_energy_ev,
                                     obs.entropy_contribution_ev, len(run.atoms), obs.broadening_correction_ev,
                                     dos_fermi=None if cutoff is None else dn_dmu.reshape(run.decomp.local_shape),
                                     screening_cutoff_inv_a=cutoff)

    def forces_stage(self, run, density, dn_dmu, dos, obs: DosObservables, timer):
        """(forces (natoms, 3) eV/Å, net force removed (3,) eV/Å), input atom order, identical on every rank:
        -dF/dR through the descriptors, network, Fermi level, density terms, core charge and Ewald
        (forces/stage.py, a second float64 sweep), minus the mean force (the grid's egg-box, removed as QE
        does); (None, None) unless ``options.forces``."""
        if not self.options.forces:
            return None, None
        from .forces.stage import predict_forces, remove_net_force
        exact, _ = predict_forces(self.comm, run.atoms, self.model, run.energy, run.grid, run.decomp, run.passes,
                                  density, dn_dmu, dos, obs.fermi_energy_ev, run.temperature_k, self.options.batch_size,
                                  timer.seconds)
        forces, net = remove_net_force(exact)
        if self.comm.rank == 0:
            log.info("forces: removed the net force (%.3g, %.3g, %.3g) eV/Å (egg-box of the grid; max |F| %.3g "
                     "eV/Å)", *net, float(np.abs(forces).max(initial=0.0)))
        return forces, net

    # -- helpers --------------------------------------------------------------------------------------------
    def model_info(self):
        """results.json ``model`` entry: where the model came from and its layer sizes. Local."""
        return {"source": self.model.source, "format": self.model.source_format,
                "layer_sizes": self.model.layer_sizes, "ldos_broadening_std_eV": self.model.ldos_broadening_std_ev}

    def _density_window(self, run):
        """The density policy of the first sweep: None (no density), every node (one pass), or a window
        around the Fermi level estimated from the first pass's DOS (several passes)."""
        if not self.options.keep_density:
            return None
        if run.passes.n_passes == 1:
            return plan_window(run.energies, run.kt, -np.inf, np.inf)
        half = self.options.window_halfwidth_ev
        half = half if half is not None else max(2 * self.model.energy_grid.spacing_ev, 0.25)

        def around_first_pass_mu(dos_estimate):
            try:
                mu = fermi_level(run.energies, dos_estimate, run.n_electrons, run.temperature_k)
            except ConvergenceError:
                return plan_window(run.energies, run.kt, -np.inf, np.inf)
            return plan_window(run.energies, run.kt, mu - half, mu + half)
        return around_first_pass_mu

    def _network(self, run, timer):
        """The LDOS network in the chosen precision, bias-corrected for bfloat16. Collective (calibration)."""
        import torch
        from .model.calibration import calibration_descriptors
        from .model.inference import LdosNetwork
        from .parallel import torch_threads_per_rank
        torch.set_num_threads(torch_threads_per_rank(self.comm))
        net = LdosNetwork(self.model, dtype=self.options.dtype, batch_size=self.options.batch_size,
                          device=run.device)
        timer.lap("network_setup")          # the first call in a process includes importing torch
        if net.needs_calibration:  # bfloat16: bias correction on a fixed sample of grid points
            with timer.stage("calibration"):
                net.calibrate(self.comm, calibration_descriptors(self.comm, run.atoms, self.model, run.decomp))
        return net

    def _backend_options(self):
        """Descriptor backend keywords: float32 kernel arithmetic feeds the float32/bfloat16 networks."""
        from .model.inference import descriptor_precision
        if self.options.descriptors == "native":
            return {"precision": descriptor_precision(self.options.dtype)}
        return {}   # LAMMPS and the exclude-coincident parity mode compute float64 only

    def _warn_atoms_on_grid_points(self, atoms, grid):
        if self.options.descriptors == "native":
            return
        from .descriptors.backends import atoms_on_grid_points
        on_points = atoms_on_grid_points(self.comm, atoms.cell.array, atoms.get_scaled_positions(wrap=True), grid)
        if on_points and self.comm.rank == 0:
            log.warning("%d atom(s) sit within 1e-10 Å of a grid point: the %s descriptors drop them from those "
                        "points (LAMMPS' self-exclusion), so the result jumps under 1e-10 Å of rounding; the "
                        "default native backend uses the continuous limit", on_points, self.options.descriptors)


def _check_screening_options(options):
    """InputError (on every rank alike) unless ``options`` allow the macroscopic screening. Local."""
    cutoff = options.screening_cutoff_inv_a
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise InputError(f"the screening cutoff must be a positive number of 1/Å, got {cutoff}")
    if options.energy is None or not options.keep_density:
        raise InputError("--screening acts on the density and the total energy: drop --no-energy")
    if options.forces:
        raise InputError("--forces with --screening is not implemented (the forces are those of the unscreened "
                         "density): run them separately")


def predict(comm, atoms, model, options=PredictOptions(), control=None):
    """``Pipeline(comm, model, options).predict(atoms, control)``: one structure. Collective over ``comm``."""
    return Pipeline(comm, model, options).predict(atoms, control)
