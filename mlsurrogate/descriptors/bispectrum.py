"""Bispectrum (SNAP) descriptor settings. Stage: descriptors.

Lengths in Å. Semantics are LAMMPS ``compute sna/grid``: the cutoff between a grid point and an atom of
species j is 2 * rcutfac * radius_j ("the grid point has the neighbour's type"), and each grid point
carries a self contribution of weight 1.
"""
from dataclasses import dataclass, field

__all__ = ["BispectrumParams", "n_bispectrum_features"]


def n_bispectrum_features(twojmax):
    """Number of bispectrum components K for a given 2*jmax (91 for twojmax = 10)."""
    if twojmax % 2 == 0:
        m = twojmax // 2 + 1
        return m * (m + 1) * (2 * m + 1) // 6
    m = (twojmax + 1) // 2
    return m * (m + 1) * (m + 2) // 3


@dataclass(frozen=True)
class BispectrumParams:
    """Settings of ``compute sna/grid``; ``radii``/``weights`` map species symbol -> value."""
    twojmax: int = 10
    rcutfac: float = 4.67637
    rfac0: float = 0.99363
    rmin0: float = 0.0
    switchflag: int = 1
    bzeroflag: int = 0
    quadraticflag: int = 0
    radii: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)

    @property
    def n_features(self):
        k = n_bispectrum_features(self.twojmax)
        return k + k * (k + 1) // 2 if self.quadraticflag else k

    def radius(self, symbol):
        return float(self.radii.get(symbol, 0.5))

    def weight(self, symbol):
        return float(self.weights.get(symbol, 1.0))

    def max_cutoff(self, species):
        """Largest point-atom cutoff over ``species``, Å."""
        return max(2.0 * self.rcutfac * self.radius(s) for s in species)

    def to_dict(self):
        return {"twojmax": self.twojmax, "rcutfac": self.rcutfac, "rfac0": self.rfac0, "rmin0": self.rmin0,
                "switchflag": self.switchflag, "bzeroflag": self.bzeroflag,
                "quadraticflag": self.quadraticflag, "radii": dict(self.radii), "weights": dict(self.weights)}
