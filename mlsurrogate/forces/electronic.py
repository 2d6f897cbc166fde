"""The free energy's gradient with respect to the LDOS, at a fixed electron count. Stage: forces.

F = Σ_k D_k (wb_k + μ wo_k + ws_k)  [E_band - TS, electronic/dos.py]  + E_rest[n]  (+ position-only terms)
D_k = dv Σ_r L(r, k),  n(r) = Σ_k L(r, k) wo_k(μ),  μ from N = Σ_k D_k wo_k(μ) = N_e.

    dF/dL(r, k) = dv a_k + U(r) wo_k + λ dv wo_k               (A(r, k) + λ B_k)
    a_k = wb_k + μ wo_k + ws_k,   U(r) = ∂E_rest/∂n(r) (per grid value)
    λ = -(∂F_el/∂μ + Σ_r U(r) Σ_k L(r, k) wo'_k) / (Σ_k D_k wo'_k)

λ needs a sum over all points of the LDOS: dn/dμ(r) = Σ_k L(r, k) wo'_k comes with the density from the
first sweep's accumulator (electronic/density.py), so λ is known before the forces sweep and that sweep
carries one channel, A + λ B. μ-derivatives of the weights: 5-point central differences in μ
with step 1e-3 kT (error ~1e-12 relative). Units: eV, Å.
"""
from dataclasses import dataclass

import numpy as np

from ..electronic.fermi_dirac import band_weights, entropy_weights, occupation_weights

__all__ = ["LdosGradient", "occupation_mu_derivative"]


def _dmu(fn, energies, mu, kt):
    h = 1e-3 * kt
    f = lambda m: fn(energies, m, kt)
    return (8 * (f(mu + h) - f(mu - h)) - (f(mu + 2 * h) - f(mu - 2 * h))) / (12 * h)


def occupation_mu_derivative(energies, mu, kt):
    """d wo_k/dμ (n_e,) in 1/eV: wo' of the module docstring (the same numbers wherever they are used)."""
    return _dmu(occupation_weights, energies, mu, kt)


@dataclass
class LdosGradient:
    """The pieces of dF/dL for one run (same on every rank)."""
    a: np.ndarray            # (n_e,) ∂(E_band - TS)/∂D_k at fixed μ, eV²
    wo: np.ndarray           # (n_e,) occupation weights, eV
    dwo: np.ndarray          # (n_e,) d wo/dμ
    dv: float                # Å³ per grid point
    dfel_dmu: float          # ∂(E_band - TS)/∂μ at fixed DOS (dimensionless: eV/eV)
    dn_dmu: float            # ∂N/∂μ at fixed DOS, 1/eV

    @classmethod
    def create(cls, energies, dos, mu, kt, dv):
        """energies (n_e,) eV, dos (n_e,) 1/eV (global), mu eV, kt eV, dv Å³."""
        wo, wb, ws = (fn(energies, mu, kt) for fn in (occupation_weights, band_weights, entropy_weights))
        dwo = occupation_mu_derivative(energies, mu, kt)
        dwb, dws = (_dmu(fn, energies, mu, kt) for fn in (band_weights, entropy_weights))
        return cls(a=wb + mu * wo + ws, wo=wo, dwo=dwo, dv=dv,
                   dfel_dmu=float(dos @ (dwb + wo + mu * dwo + dws)), dn_dmu=float(dos @ dwo))

    def parts(self, u):
        """(A (m, n_e), B (n_e,)) for points with U = ∂E_rest/∂n (m,) in eV Å³ (per grid value)."""
        return self.dv * self.a[None, :] + u[:, None] * self.wo[None, :], self.dv * self.wo

    def mu_sum(self, dn_dmu, u):
        """This block's Σ_r U(r) Σ_k L(r, k) wo'_k (eV/eV), from dn/dμ(r) = Σ_k L(r, k) wo'_k (m,)."""
        return float(u @ dn_dmu)

    def lam(self, mu_sum_total):
        """λ (eV per electron) from the global Σ_r U dn/dμ."""
        return -(self.dfel_dmu + mu_sum_total) / self.dn_dmu
