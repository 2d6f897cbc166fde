"""Exact Fermi–Dirac integration of a piecewise-linear function of energy. Stage: electronic.

A DOS or LDOS sampled on energy nodes E_i (eV) is treated as piecewise linear between nodes, with one
zero-valued node one spacing beyond each end (MALA's "analytical" convention). Each hat function is
integrated exactly against the Fermi function f, (E-mu) f and the entropy density, via polylogarithm
antiderivatives (x = (E - mu)/kT):

    F0 = kT (x + Li1)                        d/dE -> f
    F1 = kT^2 (x^2/2 + x Li1 - Li2)          d/dE -> (E - mu) f
    F2 = kT^3 (x^3/3 + x^2 Li1 - 2x Li2 + 2 Li3)
    S0 = kT^2 (-x Li1 + 2 Li2)               d/dE -> kT [f ln f + (1-f) ln(1-f)]
    S1 = kT^3 (-x^2 Li1 + 3x Li2 - 3 Li3)

with Li_s = Li_s(-e^x). For x > 0 the same functions are written with Li_s(-e^-x) (inversion formulas),
which removes the cancellation of large terms. Everything is vectorised over the energy nodes.
"""
import math

import numpy as np

from .polylog import li_neg_exp

__all__ = ["primitives", "hat_weights", "occupation_weights", "band_weights", "entropy_weights"]

_PI2 = math.pi ** 2


def primitives(x):
    """Dimensionless antiderivatives (F0, F1, F2, S0, S1) at reduced energies ``x``. Local.

    Returned without the kT powers: F0 in units of kT, F1/S0 of kT^2, F2/S1 of kT^3.
    """
    x = np.asarray(x, dtype=np.float64)
    neg = x <= 0
    xa = np.where(neg, x, -x)          # always <= 0
    l1, l2, l3 = (li_neg_exp(s, xa) for s in (1, 2, 3))
    # x <= 0: direct formulas with Li_s(-e^x).
    f0_n = x + l1
    f1_n = 0.5 * x**2 + x * l1 - l2
    f2_n = x**3 / 3.0 + x**2 * l1 - 2.0 * x * l2 + 2.0 * l3
    s0_n = -x * l1 + 2.0 * l2
    s1_n = -x**2 * l1 + 3.0 * x * l2 - 3.0 * l3
    # x > 0: with m_s = Li_s(-e^-x): Li1 = -x + m1, Li2 = -pi^2/6 - x^2/2 - m2, Li3 = m3 - pi^2 x/6 - x^3/6
    f0_p = l1
    f1_p = _PI2 / 6.0 + x * l1 + l2
    f2_p = x**2 * l1 + 2.0 * x * l2 + 2.0 * l3
    s0_p = -x * l1 - _PI2 / 3.0 - 2.0 * l2
    s1_p = -x**2 * l1 - 3.0 * x * l2 - 3.0 * l3
    pick = lambda a, b: np.where(neg, a, b)
    return (pick(f0_n, f0_p), pick(f1_n, f1_p), pick(f2_n, f2_p), pick(s0_n, s0_p), pick(s1_n, s1_p))


def _padded_nodes(energies):
    e = np.asarray(energies, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError("energy grid must be strictly increasing with at least 2 nodes")
    return np.concatenate(([2 * e[0] - e[1]], e, [2 * e[-1] - e[-2]]))


def hat_weights(energies, mu, kt, which):
    """Integral of each hat function against a Fermi-type kernel. Local.

    Parameters
    ----------
    energies : ndarray, shape (n_e,), eV, strictly increasing
    mu : float, chemical potential, eV
    kt : float, k_B T, eV (> 0)
    which : "occupation" (kernel f), "band" ((E-mu) f) or "entropy" (kT[f ln f + (1-f) ln(1-f)])

    Returns
    -------
    ndarray, shape (n_e,): weights w_i such that the integral of sum_i D_i hat_i(E) g(E) dE = sum_i D_i w_i.
    Units: eV for "occupation"; eV^2 for "band" and "entropy".
    """
    if kt <= 0:
        raise ValueError("temperature must be positive")
    e = _padded_nodes(energies)
    f0, f1, f2, s0, s1 = primitives((e - mu) / kt)
    if which == "occupation":
        i0, i1 = kt * f0, kt**2 * f1
    elif which == "band":
        i0, i1 = kt**2 * f1, kt**3 * f2
    elif which == "entropy":
        i0, i1 = kt**2 * s0, kt**3 * s1
    else:
        raise ValueError(f"unknown kernel {which!r}")
    ei = e[1:-1]
    h_plus = e[2:] - ei
    h_minus = ei - e[:-2]
    d0_plus, d0_minus = i0[2:] - i0[1:-1], i0[1:-1] - i0[:-2]
    d1_plus, d1_minus = i1[2:] - i1[1:-1], i1[1:-1] - i1[:-2]
    return (d0_plus * (1.0 + (ei - mu) / h_plus) + d0_minus * (1.0 - (ei - mu) / h_minus)
            - d1_plus / h_plus + d1_minus / h_minus)


def occupation_weights(energies, mu, kt):
    """Weights w_i (eV) with N = sum_i D_i w_i and n(r) = sum_i LDOS_i(r) w_i. Local."""
    return hat_weights(energies, mu, kt, "occupation")


def band_weights(energies, mu, kt):
    """Weights (eV^2) with sum_i D_i w_i = integral of D(E) (E - mu) f(E) dE. Local."""
    return hat_weights(energies, mu, kt, "band")


def entropy_weights(energies, mu, kt):
    """Weights (eV^2) with sum_i D_i w_i = -TS (eV, <= 0). Local."""
    return hat_weights(energies, mu, kt, "entropy")
