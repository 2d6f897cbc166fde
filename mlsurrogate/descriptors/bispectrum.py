"""Bispectrum (SNAP) descriptor settings. Stage: descriptors.

Lengths in Å. Semantics are LAMMPS ``compute sna/grid``: the cutoff between a grid point and an atom of
species j is 2 * rcutfac * radius_j ("the grid point has the neighbour's type"), and each grid point
carries a self contribution of weight 1.
"""
from dataclasses import dataclass, field
import math

from ..errors import InputError

__all__ = ["BispectrumParams", "n_bispectrum_features", "check_workload", "MAX_NEIGHBOURS_PER_POINT"]

#: Refuse settings whose point-atom cutoff sphere holds more atoms than this on average (Be2 defaults: ~54).
MAX_NEIGHBOURS_PER_POINT = 10000


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


def check_workload(params, atoms, where="the descriptor settings"):
    """InputError for cutoffs that are not finite and positive or would give a runaway neighbour count. Local.

    Estimated neighbours per grid point: (4/3) pi rc^3 * (atoms / cell volume), rc the largest point-atom
    cutoff (Å); refused above :data:`MAX_NEIGHBOURS_PER_POINT` (a cutoff meant in bohr, or a typo in
    rcutfac, would otherwise run for days without progress).
    """
    import numpy as np
    from ..structure.read import species_of
    species = species_of(atoms)             # vectorised: no per-atom Python list on every rank
    cutoffs = {s: 2.0 * params.rcutfac * params.radius(s) for s in species}
    bad = {s: rc for s, rc in cutoffs.items() if not (math.isfinite(rc) and rc > 0)}
    if bad or not (math.isfinite(params.rmin0) and params.rmin0 >= 0):
        raise InputError(f"{where}: the point-atom cutoff 2*rcutfac*radius must be finite and positive "
                         f"(rcutfac {params.rcutfac}, radii {params.radii or 'default 0.5'}, rmin0 {params.rmin0})")
    rc = max(cutoffs.values())
    density = len(atoms) / abs(np.linalg.det(atoms.cell.array))
    neighbours = 4.0 / 3.0 * math.pi * rc ** 3 * density
    if neighbours > MAX_NEIGHBOURS_PER_POINT:
        raise InputError(f"{where}: point-atom cutoff {rc:.4g} Å (2*rcutfac*radius, rcutfac {params.rcutfac:g}) "
                         f"gives ~{neighbours:.3g} neighbours per grid point (at {density:.3g} atoms/Å^3); "
                         f"at most {MAX_NEIGHBOURS_PER_POINT} are accepted (the Be2 defaults give ~54): check "
                         "rcutfac, the radii and the length unit of the structure")
