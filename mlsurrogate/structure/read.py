"""Read and check an atomic structure. Stage: structure.

Rank 0 reads the file (any format ASE reads) and broadcasts it, so every rank holds the same atoms;
errors are raised on every rank. Lengths in Å.
"""
import os

import numpy as np

from ..errors import InputError
from ..parallel import on_root

__all__ = ["read_structure", "check_structure", "check_finite_geometry", "MIN_DISTANCE_A"]

#: Atoms closer than this (Å) are treated as a broken structure ("atoms on top of each other").
MIN_DISTANCE_A = 0.5


def check_finite_geometry(atoms, where="the structure"):
    """InputError unless every position and cell entry is a finite number (Å). Local.

    NaN/inf coordinates would reach the descriptor kernels as invalid cell-list indices.
    """
    cell, positions = np.asarray(atoms.cell.array, dtype=float), np.asarray(atoms.positions, dtype=float)
    if not np.all(np.isfinite(cell)):
        raise InputError(f"{where}: the cell holds NaN or infinite values")
    bad = np.flatnonzero(~np.all(np.isfinite(positions), axis=1))
    if bad.size:
        raise InputError(f"{where}: atom {int(bad[0])} has a NaN or infinite position {positions[bad[0]].tolist()} "
                         f"({bad.size} atom(s) in all)")


def _read(path, fmt):
    import ase.io
    if os.path.isdir(path):
        raise InputError(f"structure file {path} is a directory, not a file")
    if not os.path.isfile(path):
        raise InputError(f"structure file {path} does not exist")
    try:
        atoms = ase.io.read(path, format=fmt, parallel=False)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise InputError(f"cannot read structure {path}: {type(exc).__name__}: {exc}") from None
    if isinstance(atoms, list):
        if not atoms:
            raise InputError(f"structure file {path} holds no structure")
        atoms = atoms[-1]
    check_finite_geometry(atoms, f"structure {path}")
    return atoms


def read_structure(comm, path, fmt=None):
    """Atoms from ``path`` on every rank (read on rank 0, broadcast). Collective over ``comm``."""
    return on_root(comm, _read, path, fmt)


def check_structure(atoms, species, min_distance=MIN_DISTANCE_A):
    """Raise InputError for structures the engine cannot handle. Local (deterministic).

    Checks: at least one atom; a periodic 3-D cell with positive volume; only ``species``;
    no two atoms (including periodic images) closer than ``min_distance`` Å.
    """
    if len(atoms) == 0:
        raise InputError("the structure has no atoms")
    cell = atoms.cell.array
    if not all(atoms.pbc) or abs(np.linalg.det(cell)) < 1e-6:
        raise InputError("the structure needs a periodic 3-D cell (pbc on all axes, nonzero volume); "
                         f"got pbc={list(map(bool, atoms.pbc))}, volume {abs(np.linalg.det(cell)):.4g} Å^3")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if unknown:
        raise InputError(f"species {', '.join(unknown)} not in the model (it knows {', '.join(species)})")
    from ase.neighborlist import neighbor_list
    i, j, d = neighbor_list("ijd", atoms, min_distance)
    if len(d):
        k = int(np.argmin(d))
        raise InputError(f"atoms {i[k]} and {j[k]} are {d[k]:.3g} Å apart (< {min_distance} Å): "
                         "overlapping atoms or duplicated positions")
