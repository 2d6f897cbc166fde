"""Derivatives of the density-dependent energy terms (energy/terms.py) for the forces. Stage: forces.

E_rest[n] = E_H + E_xc[n + n_core] - 2 E_H - ∫ v_xc n  =  -E_H + E_xc - ∫ v_xc n      (Ry, bohr)

with n = P n_in (P: the ecutrho sphere, as energy_terms applies it). Per grid value of the input density:

    ∂E_rest/∂n_in(r) = dv · P[-v_H - K](r),   K(r) = d/dt v_xc[ρ + t n](r) at t = 0 (the xc kernel applied
                                                to n, by a central difference in t),
    ∂E_rest/∂n_core(r) = dv · (v_xc - K)(r)   (n_core enters ρ = n + n_core of E_xc and of ∫ v_xc n).

v_xc is the discrete gradient of E_xc/dv: LDA (vx + vc), PBE v1 - ∇·(v2 ∇ρ) spectrally, with QE's thresholds
as in energy/xc.py. Collective over the FFT grid's communicator.
"""
import numpy as np

from ..energy.core_charge import CoreFormFactor
from ..energy.xc import FUNCTIONALS, gga_points, lda_points
from ..units import E2_RY
from .gaussian_forces import gaussian_position_gradient

__all__ = ["xc_potential", "density_potential", "core_charge_gradient", "KERNEL_STEP"]

#: Relative step t of the central difference for the xc kernel (error ~t² ≈ 1e-8 relative).
KERNEL_STEP = 1e-4


def xc_potential(pw, rho_g, functional):
    """v_xc(r) in Ry on this rank's real block for the total density ρ(G) (sphere-restricted). Collective."""
    correlation, gradient = FUNCTIONALS[functional]
    rho = pw.backward(rho_g)
    v = np.zeros_like(rho)
    ok, _, v_lda = lda_points(rho, correlation)
    v[ok] = v_lda
    if gradient:
        grad = pw.gradient(rho_g)
        ok, _, v1, v2_ok = gga_points(rho, grad[0] ** 2 + grad[1] ** 2 + grad[2] ** 2)
        v[ok] += v1
        v2 = np.zeros_like(rho)
        v2[ok] = v2_ok
        div_g = 0.0
        for g_c, d in zip(pw.g_components(), grad):
            div_g = div_g + 1j * g_c * pw.forward(v2 * d)
        v -= pw.backward(div_g)
    return E2_RY * v


def _sphere(pw, f_g):
    return np.where(pw.sphere, f_g, 0.0)


def density_potential(pw, density, core_g, functional):
    """(V, Φ): V = ∂E_rest/∂n_in / dv and Φ = ∂E_rest/∂n_core / dv (Ry per electron/bohr³) on this rank's
    real block; density: the valence density there (electrons/bohr³). Collective."""
    n_g = _sphere(pw, pw.forward(density))
    keep = pw.sphere & ~pw.is_g0
    v_h = pw.backward(np.where(keep, E2_RY * 4 * np.pi * n_g / np.where(keep, pw.g2, 1.0), 0.0))
    rho_g = n_g + core_g
    v_xc = xc_potential(pw, rho_g, functional)
    t = KERNEL_STEP
    kernel = (xc_potential(pw, rho_g + t * n_g, functional) - xc_potential(pw, rho_g - t * n_g, functional)) / (2 * t)
    v = pw.backward(_sphere(pw, pw.forward(-v_h - kernel)))
    return v, v_xc - kernel


def core_charge_gradient(pw, inputs, phi, sigma, forms=None):
    """(n, 3) dE/dτ (Ry/bohr) through n_core, from Φ = ∂E/∂n_core / dv on this rank's block. Collective.
    forms : optional {species: CoreFormFactor} tabulated up to sqrt(pw.ecutrho) (else tabulated here).

    n_core = Σ_t C_t[Σ_{i∈t} g_σ(r - τ_i)] with the symmetric convolution C_t (core_charge.py), so
    ∂E/∂g_t(r) = C_t[dv Φ].
    """
    phi_g = pw.forward(phi * pw.dv)
    q = np.sqrt(pw.g2[pw.sphere])
    grad = np.zeros((inputs.natoms, 3))
    for s in inputs.species:
        pp = inputs.pseudos[s]
        if pp.core_charge is None:
            continue
        mult = np.zeros(pw.g2.shape, dtype=complex)
        form = forms[s] if forms is not None else CoreFormFactor(pp, np.sqrt(pw.ecutrho))
        mult[pw.sphere] = np.exp(0.5 * pw.g2[pw.sphere] * sigma * sigma) * form(q)
        field = pw.backward(mult * phi_g)
        sel = inputs.atoms_of(s)
        grad[sel] += gaussian_position_gradient(inputs.cell_bohr, pw.shape, pw.real_start, pw.real_shape,
                                                inputs.frac[sel], np.ones(len(sel)), sigma, field)
    return pw.comm.allreduce(grad)
