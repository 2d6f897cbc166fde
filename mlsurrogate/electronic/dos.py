"""Observables of a density of states: Fermi level, electron count, band energy, -TS. Stage: electronic.

A model trained on an LDOS broadened by a Gaussian of standard deviation s (eV) gives, with these formulas, the
Gaussian-smearing free energy F(s) of its DFT data; :func:`broadening_correction` is the s -> 0 extrapolation
E(0) ~ F(s) + s² D(E_F) / 2 (as VASP's "energy(sigma->0)" for ISMEAR = 0).

In: DOS D_i on energy nodes E_i (1/eV, eV), the same array on every rank. Out: eV.
All functions here are local and deterministic, so every rank that holds the same DOS computes
bit-identical results without further communication.
"""
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..errors import ConvergenceError
from ..units import kelvin_to_ev
from .fermi_dirac import band_weights, entropy_weights, occupation_weights

__all__ = ["EnergyGrid", "electron_count", "fermi_level", "band_energy", "entropy_contribution",
           "broadening_correction", "DosObservables", "dos_observables"]


@dataclass(frozen=True)
class EnergyGrid:
    """Uniform LDOS energy grid E_i = offset_ev + i * spacing_ev, i < count (eV)."""
    offset_ev: float
    spacing_ev: float
    count: int

    @property
    def energies(self):
        """ndarray, shape (count,), eV."""
        return self.offset_ev + self.spacing_ev * np.arange(self.count, dtype=np.float64)


def electron_count(energies, dos, mu, temperature_k):
    """N(mu) = integral of D(E) f(E) dE for a piecewise-linear DOS. Local."""
    return float(np.dot(dos, occupation_weights(energies, mu, kelvin_to_ev(temperature_k))))


def fermi_level(energies, dos, n_electrons, temperature_k, *, xtol=1e-13):
    """Chemical potential mu (eV) with N(mu) = n_electrons, by Brent's method. Local.

    The bracket is the energy window padded by one spacing on each side (where the piecewise-linear
    DOS ends). Raises ConvergenceError when the DOS cannot hold ``n_electrons`` in that window.
    """
    e = np.asarray(energies, dtype=np.float64)
    lo, hi = e[0] - (e[1] - e[0]), e[-1] + (e[-1] - e[-2])
    g = lambda mu: electron_count(e, dos, mu, temperature_k) - n_electrons
    g_lo, g_hi = g(lo), g(hi)
    if not (g_lo < 0 < g_hi):
        raise ConvergenceError(
            f"no Fermi level in [{lo:.3f}, {hi:.3f}] eV: the DOS holds between {g_lo + n_electrons:.6g} "
            f"and {g_hi + n_electrons:.6g} electrons there, {n_electrons:.6g} are needed "
            "(wrong electron count, or an energy grid that misses the occupied states)")
    return float(brentq(g, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=500))


def band_energy(energies, dos, mu, temperature_k):
    """Band energy sum f_i eps_i = integral of D(E) E f(E) dE, eV. Local."""
    kt = kelvin_to_ev(temperature_k)
    return float(np.dot(dos, band_weights(energies, mu, kt)) + mu * np.dot(dos, occupation_weights(energies, mu, kt)))


def entropy_contribution(energies, dos, mu, temperature_k):
    """-TS = integral of D(E) kT [f ln f + (1-f) ln(1-f)] dE, eV (<= 0). Local."""
    return float(np.dot(dos, entropy_weights(energies, mu, kelvin_to_ev(temperature_k))))


def broadening_correction(energies, dos, mu, std_ev):
    """s² D(mu) / 2 (eV): what to add to the free energy from a DOS Gaussian-broadened by ``std_ev`` = s (eV) to
    extrapolate it to zero broadening. Local.

    Why: with an occupation that is a step at mu on the scale of s, the band energy of the broadened DOS of
    levels e_i is sum_i [e_i Φ((mu - e_i)/s) - s² g_s(mu - e_i)], i.e. the band energy of Gaussian-smeared
    occupations plus their -TS = -s² D(mu): the Gaussian-smearing free energy F(s) = E(0) - s² D(mu)/2 + O(s⁴)
    (the -TS of Gaussian smearing is twice its error, hence E(0) ~ (E(s) + F(s))/2). D is the broadened DOS,
    piecewise linear, in states/eV; 0 for std_ev = 0.
    """
    if not std_ev:
        return 0.0
    return float(0.5 * std_ev ** 2 * np.interp(mu, energies, dos))


@dataclass(frozen=True)
class DosObservables:
    """Everything derived from the DOS alone (eV, except the dimensionless electron count)."""
    fermi_energy_ev: float
    number_of_electrons: float
    band_energy_ev: float
    entropy_contribution_ev: float
    broadening_correction_ev: float = 0.0    # s² D(E_F)/2 of a DOS broadened by s (broadening_correction)


def dos_observables(energies, dos, n_electrons, temperature_k, broadening_std_ev=0.0):
    """Fermi level, electron count at it, band energy, -TS and the zero-broadening correction (for a DOS
    Gaussian-broadened by ``broadening_std_ev``, eV) from a DOS. Local."""
    mu = fermi_level(energies, dos, n_electrons, temperature_k)
    return DosObservables(
        fermi_energy_ev=mu,
        number_of_electrons=electron_count(energies, dos, mu, temperature_k),
        band_energy_ev=band_energy(energies, dos, mu, temperature_k),
        entropy_contribution_ev=entropy_contribution(energies, dos, mu, temperature_k),
        broadening_correction_ev=broadening_correction(energies, dos, mu, broadening_std_ev),
    )
