"""ASE calculator for the surrogate: energy (total_energy_eV) and forces. Stage: forces.

Collective: every rank of ``comm`` must call ``get_forces``/``get_potential_energy`` with the same atoms
(ASE optimizers do, as the forces are identical on every rank after the Allreduce).
"""
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["SurrogateCalculator"]


class SurrogateCalculator(Calculator):
    """``energy`` (eV, the free energy F) and ``forces`` (eV/Å) from :func:`mlsurrogate.pipeline.predict`."""
    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, comm, model, options, **kwargs):
        super().__init__(**kwargs)
        self.comm, self.model, self.options = comm, model, options

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from dataclasses import replace
        from ..pipeline import predict
        super().calculate(atoms, properties, system_changes)
        pred = predict(self.comm, self.atoms, self.model, replace(self.options, forces=True))
        energy = pred.energy["total_energy_eV"]
        self.results = {"energy": energy, "free_energy": energy, "forces": pred.forces}
