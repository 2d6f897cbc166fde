"""Accuracy of a predicted LDOS against the DFT LDOS of a snapshot. Stage: training.

In: LDOS (n, n_energies) in 1/(eV Å^3) on the same points. Out: RMSE in 1/(eV Å^3); band energy and
Fermi level errors (prediction minus DFT) in eV, both from the DOS = Σ_r LDOS·dV with the engine's own
:func:`~mlsurrogate.electronic.dos.dos_observables` (E_F solved for the snapshot's electron count).
"""
from dataclasses import dataclass

import numpy as np

from ..electronic.dos import dos_observables

__all__ = ["LdosMetrics", "ldos_metrics", "ldos_rmse", "predict_snapshot"]


@dataclass(frozen=True)
class LdosMetrics:
    ldos_rmse: float                 # 1/(eV Å^3)
    band_energy_error_ev: float      # predicted - DFT
    fermi_level_error_ev: float      # predicted - DFT
    band_energy_dft_ev: float
    fermi_level_dft_ev: float

    def as_dict(self):
        return dict(self.__dict__)


def ldos_rmse(predicted, reference):
    """Root mean square difference over all points and energies, 1/(eV Å^3). Local."""
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))


def ldos_metrics(predicted, snapshot, energy_grid, temperature_k):
    """LDOS RMSE, band energy and Fermi level errors of ``predicted`` for a whole snapshot. Local."""
    energies = energy_grid.energies
    obs = [dos_observables(energies, ldos.sum(axis=0) * snapshot.voxel_volume, snapshot.n_electrons, temperature_k)
           for ldos in (predicted, snapshot.ldos)]
    return LdosMetrics(ldos_rmse=ldos_rmse(predicted, snapshot.ldos),
                       band_energy_error_ev=obs[0].band_energy_ev - obs[1].band_energy_ev,
                       fermi_level_error_ev=obs[0].fermi_energy_ev - obs[1].fermi_energy_ev,
                       band_energy_dft_ev=obs[1].band_energy_ev, fermi_level_dft_ev=obs[1].fermi_energy_ev)


def predict_snapshot(model, snapshot):
    """The model's LDOS (n, n_energies) for a snapshot's descriptors, exactly as ``predict`` computes it
    (float64, negative values clamped if the model says so). Local."""
    from ..model.inference import LdosNetwork
    return LdosNetwork(model)(snapshot.descriptors)
