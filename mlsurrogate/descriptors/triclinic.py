"""LAMMPS' view of a cell: its restricted triclinic rotation and its rounding of positions. Stage: descriptors.

Both backends use this: ``lammps`` hands LAMMPS the rotated cell; ``native`` rounds the geometry exactly as
LAMMPS does so that its descriptors match LAMMPS' to the bit (see native_grid.py). Lengths in Å.
"""
import numpy as np

from ..errors import InputError

__all__ = ["lammps_cell", "lammps_geometry"]


def lammps_cell(cell):
    """Rotate a cell (rows a, b, c; Å) into LAMMPS' restricted triclinic form. Local.

    Returns (lx, ly, lz, xy, xz, yz) and the rotated cell (3, 3). Fractional coordinates are unchanged.
    """
    a, b, c = np.asarray(cell, dtype=float)
    if np.linalg.det(np.array([a, b, c])) <= 0:
        raise InputError("the cell is left-handed (or degenerate); LAMMPS needs a right-handed cell: "
                         "swap two lattice vectors")
    lx = np.linalg.norm(a)
    ahat = a / lx
    xy = b @ ahat
    ly = np.sqrt(max(b @ b - xy**2, 0.0))
    xz = c @ ahat
    yz = (b @ c - xy * xz) / ly
    lz = np.sqrt(max(c @ c - xz**2 - yz**2, 0.0))
    rotated = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
    return (lx, ly, lz, xy, xz, yz), rotated


def lammps_geometry(cell, scaled_positions):
    """The cell and fractional positions rounded as LAMMPS rounds them. Local.

    The descriptors are invariant under rotation, but the few components that are sums cancelling to
    1e-5 of their terms are sensitive to the last bit of every position (one ulp moves them by ~4e-11
    relative). LAMMPS (``LammpsGrid``) gets the cell rotated into restricted triclinic form and the
    Cartesian positions ``frac @ rotated``, converts them to its lamda (fractional) coordinates with
    its inverse of h and wraps them into [0, 1); the kernel then builds periodic images and grid
    points from these exactly as LAMMPS does. Returns (rotated cell (3, 3), lamda (n, 3)); a
    left-handed cell (LAMMPS rejects it) is returned unrotated with the wrapped input fractions.
    """
    frac = np.ascontiguousarray(scaled_positions, dtype=np.float64)
    if np.linalg.det(cell) <= 0:
        return cell, frac
    (lx, ly, lz, xy, xz, yz), rotated = lammps_cell(cell)
    frac = np.mod(frac, 1.0)
    frac[frac >= 1.0] = 0.0
    x = frac @ rotated  # exactly what LammpsGrid hands to LAMMPS
    # Domain::set_global_box, Domain::x2lamda and lamda2x (boxlo = 0), then Domain::pbc in lamda space.
    # The positions go x -> lamda -> x -> lamda before LAMMPS builds ghosts (measured: after `run 0`
    # its local atoms are lamda2x(x2lamda(lamda2x(x2lamda(x)))) to the bit).
    hinv0, hinv1, hinv2 = 1.0 / lx, 1.0 / ly, 1.0 / lz
    hinv3 = -yz / (ly * lz)
    hinv4 = (yz * xy - ly * xz) / (lx * ly * lz)
    hinv5 = -xy / (lx * ly)

    def x2lamda(x):
        return np.stack([hinv0 * x[:, 0] + hinv5 * x[:, 1] + hinv4 * x[:, 2],
                         hinv1 * x[:, 1] + hinv3 * x[:, 2], hinv2 * x[:, 2]], axis=1)

    def lamda2x(lam):
        return np.stack([lx * lam[:, 0] + xy * lam[:, 1] + xz * lam[:, 2],
                         ly * lam[:, 1] + yz * lam[:, 2], lz * lam[:, 2]], axis=1)

    lam = x2lamda(lamda2x(x2lamda(x)))
    lam = np.where(lam < 0.0, lam + 1.0, lam)
    lam = np.where(lam >= 1.0, np.maximum(lam - 1.0, 0.0), lam)
    return np.ascontiguousarray(rotated), np.ascontiguousarray(lam)
