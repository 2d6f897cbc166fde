"""Exchange-correlation energy E_xc[n + n_core] and ∫ v_xc n on the distributed grid, QE's way. Stage: energy.

QE ``v_xc`` + ``gradcorr`` for nspin = 1 (../shared/reference/total-energy.md §3):
LDA where |ρ| > 1e-10 (ρ = n + n_core, e·ρ with the signed ρ); gradient correction where |ρ| > 1e-6 and
|∇ρ|² > 1e-10, evaluated at |ρ| with the sign of ρ on the energy; ∇ρ spectrally from the sphere.
vtxc = ∫ v_xc n_val uses ∫ n(−∇·h) = ∫ ∇n·h (n is band-limited), so the divergence of h is never formed.
All in Rydberg (e2 = 2).
"""
import numpy as np

from ..errors import InputError
from ..units import E2_RY
from .xc_functionals import pbe_correlation, pbe_exchange, perdew_wang, perdew_zunger, rs_of_rho, slater

__all__ = ["FUNCTIONALS", "functional_name", "xc_energy", "lda_points", "gga_points"]

RHO_THRESHOLD_LDA = 1e-10
RHO_THRESHOLD_GGA = 1e-6
GRHO_THRESHOLD_GGA = 1e-10
CHUNK = 1 << 18

#: name -> (LDA correlation, gradient-corrected?)
FUNCTIONALS = {"PZ": (perdew_zunger, False), "PBE": (perdew_wang, True)}
_ALIASES = {"PZ": "PZ", "LDA": "PZ", "SLA PZ": "PZ", "SLA PZ NOGX NOGC": "PZ",
            "PBE": "PBE", "SLA PW PBX PBC": "PBE", "SLA PW PBE PBE": "PBE"}


def functional_name(upf_functional):
    """Our name ("PZ" or "PBE") for a UPF ``functional`` attribute; InputError if unsupported."""
    key = " ".join(upf_functional.upper().replace("-", " ").replace("_", " ").split())
    if key not in _ALIASES:
        raise InputError(f"exchange-correlation functional {upf_functional!r} is not supported "
                         "(supported: Perdew-Zunger LDA, PBE)")
    return _ALIASES[key]


def lda_points(rho, correlation):
    """(mask, ε_xc, v_xc) per point of ρ where |ρ| > RHO_THRESHOLD_LDA (values on the masked points, Ry/e2)."""
    arho = np.abs(rho)
    ok = arho > RHO_THRESHOLD_LDA
    rs = rs_of_rho(arho[ok])
    ex, vx = slater(rs)
    ec, vc = correlation(rs)
    return ok, ex + ec, vx + vc


def gga_points(rho, grho2):
    """(mask, s, v1, v2) of PBE's gradient correction where |ρ| > RHO_THRESHOLD_GGA and |∇ρ|² >
    GRHO_THRESHOLD_GGA, evaluated at |ρ| (values on the masked points, Ry/e2)."""
    arho = np.abs(rho)
    ok = (arho > RHO_THRESHOLD_GGA) & (grho2 > GRHO_THRESHOLD_GGA)
    sx, v1x, v2x = pbe_exchange(arho[ok], grho2[ok])
    sc, v1c, v2c = pbe_correlation(arho[ok], grho2[ok])
    return ok, sx + sc, v1x + v1c, v2x + v2c


def _lda(rho, n_val, correlation):
    ok, e, v = lda_points(rho, correlation)
    return float(np.sum(e * rho[ok])), float(np.sum(v * n_val[ok]))


def _gga(rho, grad, n_val):
    """Energy and v1 terms; turns ``grad`` (3 chunks) into h/e2 = (v2x + v2c) ∇ρ in place."""
    grho2 = grad[0] ** 2 + grad[1] ** 2 + grad[2] ** 2
    ok, s, v1_points, v2 = gga_points(rho, grho2)
    energy = float(np.sum(s * np.sign(rho[ok])))
    v1 = float(np.sum(v1_points * n_val[ok]))
    for g in grad:
        g[~ok] = 0.0
        g[ok] *= v2
    return energy, v1


def xc_energy(pw, n_val_g, core_g, functional):
    """(E_xc, ∫ v_xc n_val) in Ry. Collective.

    n_val_g : valence density (already restricted to the sphere), core_g : core density (sphere), both
    electrons/bohr³ in QE's normalisation on this rank's reciprocal block; functional : "PZ" or "PBE".
    """
    correlation, gradient = FUNCTIONALS[functional]
    rho_g = n_val_g + core_g
    rho = pw.backward(rho_g).ravel()
    n_val = pw.backward(n_val_g).ravel()
    grad = [g.ravel() for g in pw.gradient(rho_g)] if gradient else None
    e_xc = v_xc = 0.0
    for lo in range(0, rho.size, CHUNK):
        sl = slice(lo, lo + CHUNK)
        e, v = _lda(rho[sl], n_val[sl], correlation)
        e_xc, v_xc = e_xc + e, v_xc + v
        if gradient:
            e, v = _gga(rho[sl], [g[sl] for g in grad], n_val[sl])
            e_xc, v_xc = e_xc + e, v_xc + v
    if gradient:
        del rho, n_val
        for g_c, h in zip(pw.g_components(), grad):       # ∫ h·∇n_val, one component at a time
            v_xc += float(np.sum(h * pw.backward(1j * g_c * n_val_g).ravel()))
    scale = E2_RY * pw.dv
    return pw.comm.allreduce(e_xc) * scale, pw.comm.allreduce(v_xc) * scale
