"""The Hartree energy of a valence density on the distributed plane-wave grid. Stage: energy.

    E_H = (Ω/2) Σ_{G≠0, |G|² <= ecutrho} e2·4π|n(G)|²/G²        (Rydberg; QE's convention)

In: n(G) in electrons/bohr³ (QE normalisation, the FFT layout of :class:`PlaneWaveGrid`). Out: Ry.
"""
import numpy as np

from ..units import E2_RY

__all__ = ["hartree_energy"]


def hartree_energy(pw, n_g):
    """E_H in Ry from n(G) (electrons/bohr³, QE normalisation); G = 0 and G outside the sphere excluded."""
    keep = pw.sphere & ~pw.is_g0
    g2 = np.where(keep, pw.g2, 1.0)
    return 0.5 * pw.volume * E2_RY * 4 * np.pi * pw.gsum(np.where(keep, np.abs(n_g) ** 2 / g2, 0.0))
