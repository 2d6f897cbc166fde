"""An ASE calculator on the prediction pipeline: ``atoms.calc = MLSurrogateCalculator(model)``.

Properties (ASE names and units, eV):

* ``free_energy``: the Mermin free energy F = E - TS at the electronic temperature, results.json's
  ``total_energy_eV`` (what the surrogate predicts, like QE's "!" total energy).
* ``energy``: ASE's zero-temperature estimate for smeared electrons, E0 = (E + F) / 2 = F + TS/2
  (E = F + TS the internal energy; the convention of ASE's GPAW and VASP readers, "energy(sigma->0)"),
  so ``atoms.get_potential_energy()`` is E0 and ``get_potential_energy(force_consistent=True)`` is F.

Also on the calculator after a calculation: :meth:`get_fermi_level`, :meth:`get_band_energy`,
:meth:`get_dos`, :meth:`get_entropy_contribution` and :attr:`prediction` (the whole
:class:`~mlsurrogate.pipeline.Prediction`). Results are cached until the atoms change (ASE's
``check_state``).
* ``forces``: -dF/dR in eV/Å, the exact derivative of the free energy F (ASE's force-consistent energy),
  from a second, float64 sweep (``predict --forces``, mlsurrogate/forces/); computed only when asked for.
  With the default bfloat16 precision they are the forces of the float64 surrogate, whose F differs from
  the reported one by < 0.2 meV/atom; pass ``dtype="float64"`` for forces exactly consistent with F.
Stress is not predicted: asking raises ``PropertyNotImplementedError``.

Under MPI every rank of ``comm`` makes the same calls with the same atoms (the calculation is collective);
the default communicator is ``MPI.COMM_SELF`` (one process), never COMM_WORLD.
"""
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["MLSurrogateCalculator"]


class MLSurrogateCalculator(Calculator):
    """ASE calculator: energies of a structure from the surrogate model. Collective over ``comm``.

    Parameters
    ----------
    model : Model or str
        A loaded :class:`~mlsurrogate.model.model.Model`, or the path of a model file (loaded once, on rank 0).
    comm : mpi4py communicator, optional
        Ranks that compute together; default ``MPI.COMM_SELF``.
    **predict_options
        Fields of :class:`~mlsurrogate.pipeline.PredictOptions` (``grid``, ``temperature_k``, ``dtype``,
        ``descriptors``, ...). ``energy`` defaults to ``EnergySettings()`` (the model's pseudopotentials,
        found next to the model file); ``pseudo_dir="DIR"`` is a shortcut for ``EnergySettings(pseudo_dir=DIR)``.
    """

    implemented_properties = ["energy", "free_energy", "forces"]
    name = "mlsurrogate"

    def __init__(self, model, comm=None, **predict_options):
        from .energy.stage import EnergySettings
        from .pipeline import Pipeline, PredictOptions
        Calculator.__init__(self)
        if comm is None:
            from mpi4py import MPI
            comm = MPI.COMM_SELF
        if isinstance(model, str) or hasattr(model, "__fspath__"):
            from .model.load import load_model
            model = load_model(comm, str(model))
        pseudo_dir = predict_options.pop("pseudo_dir", None)
        if predict_options.get("energy") is None:
            predict_options["energy"] = EnergySettings(pseudo_dir=pseudo_dir)
        options = PredictOptions(**predict_options)
        self.parameters.update({k: v for k, v in vars(options).items() if k != "energy"})
        self.pipeline = Pipeline(comm, model, options)
        self.prediction = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Run the pipeline on ``atoms`` and fill :attr:`results` (eV). Collective over ``comm``."""
        Calculator.calculate(self, atoms, properties, system_changes)
        pipeline = self.pipeline
        if "forces" in properties and not pipeline.options.forces:
            from dataclasses import replace
            from .pipeline import Pipeline
            pipeline = Pipeline(pipeline.comm, pipeline.model, replace(pipeline.options, forces=True))
        pred = pipeline.predict(self.atoms)
        free = pred.free_energy_ev
        minus_ts = pred.entropy_contribution_ev
        self.prediction = pred
        self.results = {"free_energy": free, "energy": free - 0.5 * minus_ts,
                        "fermi_level": pred.fermi_energy_ev, "band_energy": pred.band_energy_ev,
                        "entropy_contribution": minus_ts}
        if pred.forces is not None:
            self.results["forces"] = np.array(pred.forces)

    def _result(self, name, atoms):
        if atoms is not None or self.prediction is None:
            self.get_property("free_energy", atoms)
        return self.results[name]

    def get_fermi_level(self, atoms=None):
        """Fermi level (chemical potential) in eV, on ASE's absolute scale of the model's energy grid."""
        return self._result("fermi_level", atoms)

    def get_band_energy(self, atoms=None):
        """Band energy Σ f_i ε_i in eV."""
        return self._result("band_energy", atoms)

    def get_entropy_contribution(self, atoms=None):
        """-TS in eV (<= 0)."""
        return self._result("entropy_contribution", atoms)

    def get_dos(self, atoms=None):
        """(energies (n,) eV, DOS (n,) states/eV) of the structure."""
        self._result("free_energy", atoms)
        return np.array(self.prediction.dos_energies_ev), np.array(self.prediction.dos_per_ev)
