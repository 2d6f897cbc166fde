"""Vectorised polylogarithms Li_s(-e^x), s = 1, 2, 3, for real x <= 0 (float64, ~1e-15 relative).

Used by the exact Fermi–Dirac integration of a piecewise-linear DOS. Two series cover x <= 0:
for x <= -ln 2 the defining series sum_k (-e^x)^k / k^s; for -ln 2 < x <= 0 the Taylor series around
x = 0, whose coefficients are Li_{s-k}(-1)/k! (radius of convergence pi). Positive x is handled by
the caller through the inversion formulas, so large |x| never cancels catastrophically.
"""
import math

import numpy as np
from scipy.special import bernoulli, zeta

__all__ = ["li_neg_exp"]

_N_TAYLOR = 40      # (ln2/pi)^40 ~ 1e-26
_N_DIRECT = 56      # 0.5^56 ~ 1e-17


def _li_at_minus_one(order):
    """Li_order(-1) = -eta(order) for integer order (Dirichlet eta), as a float."""
    if order >= 2:
        return -(1.0 - 2.0 ** (1 - order)) * zeta(order)
    if order == 1:
        return -math.log(2.0)
    m = -order  # Li_{-m}(-1) = -eta(-m) = -(1 - 2^{m+1}) zeta(-m), zeta(-m) = (-1)^m B_{m+1}/(m+1)
    b = bernoulli(m + 1)[m + 1]
    if m == 0:
        zeta_minus_m = -0.5
    else:
        zeta_minus_m = (-1) ** m * b / (m + 1)
    return -(1.0 - 2.0 ** (m + 1)) * zeta_minus_m


def _taylor_coefficients(s):
    return np.array([_li_at_minus_one(s - k) / math.factorial(k) for k in range(_N_TAYLOR)])


_COEFFS = {s: _taylor_coefficients(s) for s in (1, 2, 3)}


def li_neg_exp(s, x):
    """Li_s(-e^x) for s in {1, 2, 3} and an array ``x`` of reals <= 0. Local, vectorised."""
    x = np.asarray(x, dtype=np.float64)
    if np.any(x > 0):
        raise ValueError("li_neg_exp needs x <= 0; use the inversion formulas for x > 0")
    if s == 1:
        return -np.log1p(np.exp(x))
    out = np.empty_like(x)
    far = x <= -math.log(2.0)
    if np.any(far):
        z = -np.exp(x[far])
        term = np.ones_like(z)
        acc = np.zeros_like(z)
        for k in range(1, _N_DIRECT + 1):
            term = term * z
            acc += term / k ** s
        out[far] = acc
    near = ~far
    if np.any(near):
        xn = x[near]
        acc = np.zeros_like(xn)
        for c in _COEFFS[s][::-1]:  # Horner
            acc = acc * xn + c
        out[near] = acc
    return out
