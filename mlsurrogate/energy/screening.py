"""Macroscopic (Thomas–Fermi) screening of the predicted density: the network's missing self-consistency at
long wavelengths. Stage: energy. Collective over the plane-wave grid's communicator.

A network predicts each point's LDOS from its neighbourhood on an absolute energy scale learnt in small
periodic cells. In a larger cell a defect (a stacking fault) then keeps a net charge q: its states sit where
the training cell's Fermi level put them, not where the larger cell's puts them. DFT would screen that charge
within an ångström (a metal); the prediction cannot, and the Harris-type total energy counts the unscreened
sheet's Hartree energy with the wrong sign, −E_H[q] ∝ −q²·L/area: a stacking-fault energy that falls
linearly with the cell length (benchmarks/results/be_model/session29/).

This step applies the linear response a self-consistent run would add, restricted to long wavelengths
0 < |G| < G_c (default 1.5 Å⁻¹, below the reciprocal lattice vectors of a close-packed metal's density):
each point's LDOS is shifted rigidly along energy by a potential V(r) (an electron's potential energy)
built from those G only, with

    V(G) = e²·4π·[ρ₀(G) − (D·V)(G)] / G²,      ρ₀ = n − n_ions (electrons per volume, 0 < |G| < G_c)

D(r) = ∂n/∂μ the local DOS at the Fermi level (the predicted LDOS's), n_ions point charges Z (Gaussians
divided by their form factor). Solved by a Thomas–Fermi-preconditioned fixed point (κ² = e²·4π·mean D).
To first order in V at a fixed electron count (the Fermi level moves by c = ∫D·V / ∫D):

    n'(r) = n(r) − D(r)·(V(r) − c)
    (E_band − TS)' = (E_band − TS) + ∫ V·n − ½ ∫ D·(V − c)²

The energy terms then run on n' as usual: the eigenvalue shift ∫V·n' cancels against −∫n' v_H, and what
is left of the sheet is its screened, positive, Hartree energy. A neutral crystal (no macroscopic charge)
gets V = 0 and the same energy; a cell with no G below G_c (a primitive cell) is left as it is.

Limits (measured, benchmarks/results/be_model/session29/): on a self-consistent density (DFT's own LDOS of the
I2 cells) the step changes F by +0.33 / +0.23 meV/atom at 8 / 12 layers, +2.6 meV per fault, because it also
screens the fault's physical (neutral, quadrupole-like) long-wavelength structure again: a size-independent
bias of about +10 mJ/m² on a Be stacking-fault energy. On rattled cells the density's long-wavelength
structure is physical and large, and screening it is wrong (−60 meV/atom on a DFT LDOS): such cells are
refused (InputError, on every rank).

Units: inputs and outputs in QE's Rydberg/bohr (density electrons/bohr³, D states/(Ry·bohr³)).
"""
from dataclasses import dataclass

import numpy as np

from ..errors import ConvergenceError, InputError
from ..units import BOHR_ANGSTROM, E2_RY, RYDBERG_EV

__all__ = ["ScreeningResult", "DEFAULT_CUTOFF_INV_A", "screen_density", "ion_charge_g", "ions_on_grid",
           "check_structure"]

#: Default G_c in 1/Å: wavelengths above 4.2 Å (the fault charge's sheet), below every reciprocal lattice
#: vector of the hcp Be density (the smallest with a nonzero structure factor is 3.2 1/Å).
DEFAULT_CUTOFF_INV_A = 1.5
#: Largest rms ionic charge (point ions, electrons/Å³) over 0 < |G| < G_c for which the screening is defined:
#: ideal lattices with planar defects have none (~1e-17); a rattled 8-atom Be cell has ~1e-3.
ION_RMS_TOLERANCE_PER_A3 = 1e-8
#: Convergence of the fixed point: largest change of V(G) between iterations, Ry.
TOLERANCE_RY = 1e-10
MAX_ITERATIONS = 200


@dataclass
class ScreeningResult:
    """density : n' on this rank's block, electrons/bohr³; correction_ry : change of E_band − TS (Ry);
    fermi_shift_ry : c (Ry); the rest for results.json."""
    density: np.ndarray
    correction_ry: float
    fermi_shift_ry: float
    iterations: int
    components: int                 # G-vectors of this grid's half space in 0 < |G| < G_c
    potential_range_ry: tuple       # (min, max) of V - c on the grid
    charge_moved: float             # ½ ∫ |D (V - c)|, electrons
    macroscopic_charge_rms: tuple   # rms of ρ₀ and of the screened ρ' (electrons/bohr³) over 0 < |G| < G_c

    def to_dict(self, cutoff_inv_a):
        return {"cutoff_inv_A": float(cutoff_inv_a), "components": int(self.components),
                "iterations": int(self.iterations),
                "band_free_energy_correction_eV": self.correction_ry * RYDBERG_EV,
                "fermi_shift_eV": self.fermi_shift_ry * RYDBERG_EV,
                "potential_min_eV": self.potential_range_ry[0] * RYDBERG_EV,
                "potential_max_eV": self.potential_range_ry[1] * RYDBERG_EV,
                "charge_moved_e": float(self.charge_moved),
                "macroscopic_charge_rms_before_e_per_A3": self.macroscopic_charge_rms[0] / BOHR_ANGSTROM ** 3,
                "macroscopic_charge_rms_after_e_per_A3": self.macroscopic_charge_rms[1] / BOHR_ANGSTROM ** 3}


def ion_charge_g(pw, inputs, sigma, gaussians_g, mask):
    """Σ_atoms Z e^{-iG·R} / Ω on ``mask`` (point ions, electrons/bohr³), from unit Gaussians of width
    ``sigma`` (bohr) per species already in G (``gaussians_g``: {species: array}) divided by their form factor."""
    form = np.exp(-0.5 * sigma * sigma * np.where(mask, pw.g2, 0.0))
    out = sum(float(inputs.valences[s]) * gaussians_g[s] for s in inputs.species)
    return np.where(mask, out / form, 0.0)


def check_ions(pw, ion_g, mask, cutoff_bohr):
    """InputError (on every rank alike) if the point ions have long-wavelength structure on ``mask``. Collective."""
    count = pw.gsum(mask.astype(float))
    if count == 0:
        return
    ion_rms = np.sqrt(pw.gsum(np.where(mask, np.abs(ion_g) ** 2, 0.0)) / count) / BOHR_ANGSTROM ** 3
    if ion_rms > ION_RMS_TOLERANCE_PER_A3:
        raise InputError(
            f"--screening needs a cell whose ions have no long-wavelength structure (an ideal lattice, with planar "
            f"defects such as stacking faults): this one's ionic charge at |G| < {cutoff_bohr / BOHR_ANGSTROM:g} 1/Å is "
            f"{ion_rms:.2e} e/Å³ rms (rattled, relaxed or disordered positions). There the density's own "
            f"long-wavelength structure is physical and screening it again is wrong (tens of meV/atom on DFT's "
            f"own LDOS of a rattled cell; README, Screening)")


def ions_on_grid(pw, inputs, cutoff_bohr):
    """(mask 0 < |G| < G_c, point-ion charge on it) for ``inputs`` (energy.terms.EnergyInputs). Collective."""
    from .terms import SIGMA_GRID_STEPS, _gaussians_g
    mask = (pw.g2 > 0) & (pw.g2 < cutoff_bohr ** 2)
    sigma = SIGMA_GRID_STEPS * float((np.linalg.norm(pw.cell, axis=1) / np.asarray(pw.shape)).max())
    return mask, ion_charge_g(pw, inputs, sigma, _gaussians_g(pw, inputs, inputs.species, sigma), mask)


def check_structure(comm, inputs, grid, ecutrho_ry, cutoff_inv_a):
    """The refusal of :func:`check_ions`, before the expensive work (one Gaussian deposit and FFT). Collective."""
    from .plane_waves import PlaneWaveGrid
    pw = PlaneWaveGrid(comm, grid, inputs.cell_bohr, ecutrho_ry)
    cutoff = cutoff_inv_a * BOHR_ANGSTROM
    mask, ion_g = ions_on_grid(pw, inputs, cutoff)
    check_ions(pw, ion_g, mask, cutoff)


def _reduce(comm, value, op):
    from mpi4py import MPI
    return comm.allreduce(float(value), op={"max": MPI.MAX, "min": MPI.MIN}[op])


def screen_density(pw, density, dos_fermi, ion_g, cutoff_bohr):
    """The screened density and the band free-energy correction (a :class:`ScreeningResult`). Collective.

    density : this rank's real block (pw.real_shape), electrons/bohr³; dos_fermi : the same block of
    ∂n/∂μ, states/(Ry·bohr³) (>= 0); ion_g : point-ion charge on this rank's reciprocal block (only
    0 < |G| < cutoff is used); cutoff_bohr : G_c in 1/bohr.
    """
    mask = (pw.g2 > 0) & (pw.g2 < cutoff_bohr ** 2)
    components = pw.comm.allreduce(int(mask.sum()))
    total_dos = pw.rsum(dos_fermi)
    if components == 0 or total_dos <= 0:
        return ScreeningResult(density, 0.0, 0.0, 0, components, (0.0, 0.0), 0.0, (0.0, 0.0))
    check_ions(pw, ion_g, mask, cutoff_bohr)
    count = pw.gsum(mask.astype(float))
    g2 = np.where(mask, pw.g2, 1.0)
    rho0 = np.where(mask, pw.forward(density) - ion_g, 0.0)
    kappa2 = 4 * np.pi * E2_RY * total_dos / np.prod(pw.shape)
    v_g = np.zeros_like(rho0)
    for it in range(1, MAX_ITERATIONS + 1):
        induced = pw.forward(dos_fermi * pw.backward(v_g))          # electrons the shift removes
        new = np.where(mask, (4 * np.pi * E2_RY * (rho0 - induced) + kappa2 * v_g) / (g2 + kappa2), 0.0)
        change = _reduce(pw.comm, np.max(np.abs(new - v_g), initial=0.0), "max")
        v_g = new
        if change < TOLERANCE_RY:
            break
    else:
        raise ConvergenceError(f"the macroscopic screening did not converge in {MAX_ITERATIONS} iterations "
                               f"(last change {change:.3g} Ry)")
    v = pw.backward(v_g)
    shift = pw.rsum(dos_fermi * v) / total_dos
    moved = dos_fermi * (v - shift)
    screened = density - moved
    dv = pw.dv
    correction = (pw.rsum(v * density) - 0.5 * pw.rsum(moved * (v - shift))) * dv
    after = np.where(mask, pw.forward(screened) - ion_g, 0.0)
    rms = tuple(float(np.sqrt(pw.gsum(np.abs(x) ** 2) / count)) for x in (rho0, after))
    vr = (_reduce(pw.comm, np.min(v - shift, initial=np.inf), "min"),
          _reduce(pw.comm, np.max(v - shift, initial=-np.inf), "max"))
    return ScreeningResult(screened, float(correction), float(shift), it, components, vr,
                           0.5 * pw.rsum(np.abs(moved)) * dv, rms)
