"""Electron density from LDOS batches without holding the LDOS of all points. Stage: electronic.

n(r) = sum_i LDOS_i(r) w_i(mu), but mu needs the DOS of *all* points. For mu in a bracket
[mu_lo, mu_hi], nodes whose hat function lies entirely below mu_lo - TAIL*kT have mu-independent
weights (1 - f < e^-TAIL ~ 2e-16), and nodes entirely above mu_hi + TAIL*kT have zero weight. So each
point keeps one float64 (its fully-occupied part) plus the LDOS on the few "window" nodes in between;
once mu is known the density follows exactly. The bracket comes from the first sub-lattice pass; if
the final mu falls outside it the caller recomputes (never silently wrong).
"""
from dataclasses import dataclass

import numpy as np

from .fermi_dirac import occupation_weights

__all__ = ["DensityWindow", "plan_window", "DensityAccumulator", "TAIL"]

_CHUNK = 65536  # points per step when folding the window (bounds the float64 temporary)
TAIL = 36.0  # e^-36 = 2.3e-16: occupations beyond TAIL*kT from mu are exact to double precision


@dataclass(frozen=True)
class DensityWindow:
    """Energy nodes [i_lo, i_hi) kept per point, valid for mu in [mu_lo, mu_hi] (eV)."""
    i_lo: int
    i_hi: int
    mu_lo: float
    mu_hi: float

    def contains(self, mu):
        return self.mu_lo <= mu <= self.mu_hi

    @property
    def width(self):
        return self.i_hi - self.i_lo


def plan_window(energies, kt, mu_lo, mu_hi):
    """Smallest node window whose outside weights are mu-independent for mu in [mu_lo, mu_hi]. Local."""
    e = np.asarray(energies, dtype=np.float64)
    spacing = np.diff(e)
    upper_support = np.concatenate((e[:-1] + spacing, [e[-1] + spacing[-1]]))
    lower_support = np.concatenate(([e[0] - spacing[0]], e[1:] - spacing))
    below = upper_support < mu_lo - TAIL * kt
    above = lower_support > mu_hi + TAIL * kt
    i_lo = int(np.argmin(below)) if not below.all() else len(e)
    i_hi = int(len(e) - np.argmin(above[::-1])) if not above.all() else 0
    i_hi = max(i_hi, i_lo)
    return DensityWindow(i_lo, i_hi, float(mu_lo), float(mu_hi))


class DensityAccumulator:
    """Collects LDOS batches of one rank's block and returns the density once mu is known. Local.

    n_local : points in the local block; energies : (n_e,) eV; kt : eV.
    Memory: 8 bytes per point + window width * (4 or 8) bytes per point.
    """

    def __init__(self, n_local, energies, kt, window, max_window_bytes_per_point=160):
        self.energies, self.kt, self.window = np.asarray(energies, dtype=np.float64), kt, window
        self.below = np.zeros(n_local, dtype=np.float64)
        dtype = np.float64 if 8 * window.width <= max_window_bytes_per_point else np.float32
        self.values = np.zeros((n_local, window.width), dtype=dtype)
        self._w_below = (occupation_weights(self.energies, window.mu_lo, kt)[:window.i_lo] if window.i_lo
                         else np.zeros(0))
        self.filled = np.zeros(n_local, dtype=bool)
        self.bytes_per_point = 8 + self.values.itemsize * window.width + 1

    def add(self, flat_index, ldos):
        """Store a batch: flat local indices (m,), LDOS (m, n_e) in 1/(eV Å^3)."""
        w = self.window
        if w.i_lo:
            self.below[flat_index] = ldos[:, :w.i_lo] @ self._w_below
        self.values[flat_index] = ldos[:, w.i_lo:w.i_hi]
        self.filled[flat_index] = True

    def state(self):
        """Arrays that restore this accumulator bit for bit (checkpoints): {name: array}."""
        return {"acc_below": self.below, "acc_values": self.values, "acc_filled": self.filled}

    def load_state(self, state):
        """Restore from :meth:`state`'s arrays; ValueError if they do not fit this accumulator."""
        for name, mine in (("acc_below", self.below), ("acc_values", self.values), ("acc_filled", self.filled)):
            saved = state[name]
            if saved.shape != mine.shape or saved.dtype != mine.dtype:
                raise ValueError(f"{name} is {saved.dtype} {saved.shape}, expected {mine.dtype} {mine.shape}")
            mine[...] = saved

    def density(self, mu, dwo=None):
        """Electron density (n_local,) in 1/Å^3 at chemical potential ``mu`` (eV).

        With ``dwo`` (n_e,) = d(occupation weights)/dμ (1/eV), also its μ-derivative at fixed LDOS,
        dn/dμ (n_local,) = Σ_k LDOS_k dwo_k (1/(eV Å^3)), from the window nodes (outside them dwo < e^-TAIL/kT):
        returns (density, dn/dμ) (forces: the Fermi level's response).
        """
        if not self.window.contains(mu):
            raise ValueError("mu outside the density window")
        if not self.filled.all():
            raise RuntimeError("density requested before every local point was added")
        w = occupation_weights(self.energies, mu, self.kt)[self.window.i_lo:self.window.i_hi]
        dw = None if dwo is None else np.asarray(dwo, dtype=np.float64)[self.window.i_lo:self.window.i_hi]
        response = None if dwo is None else np.empty(len(self.below))
        out = self.below  # reused in place: no second per-point array
        for start in range(0, len(out), _CHUNK):
            chunk = self.values[start:start + _CHUNK].astype(np.float64, copy=False)
            out[start:start + _CHUNK] += chunk @ w
            if dw is not None:
                response[start:start + _CHUNK] = chunk @ dw
        self.below, self.values = None, None  # the accumulator is spent
        return out if dwo is None else (out, response)
