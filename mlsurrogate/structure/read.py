"""Read and check an atomic structure. Stage: structure.

Rank 0 reads the file (any format ASE reads) and broadcasts it, so every rank holds the same atoms;
errors are raised on every rank. Lengths in Å.
"""
import os

import numpy as np

from ..errors import InputError
from ..parallel import on_root

__all__ = ["read_structure", "check_cell", "check_structure", "check_finite_geometry", "species_of",
           "check_same_on_every_rank", "MIN_DISTANCE_A"]

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


def check_same_on_every_rank(comm, atoms):
    """InputError on every rank unless all ranks hold the same cell, positions and numbers. Collective.

    A Python caller under MPI must hand every rank the same atoms (as the CLI does by broadcasting what
    rank 0 read); ranks with different structures would plan different grids and hang. One hash per rank.
    """
    import hashlib
    from ..parallel import agree
    h = hashlib.sha256()
    for array in (atoms.cell.array, atoms.positions, atoms.numbers, atoms.pbc):
        h.update(np.ascontiguousarray(array).tobytes())
    digest = h.hexdigest()
    agree(comm, digest == comm.bcast(digest, root=0), InputError,
          "the ranks were given different structures (every rank must pass the same atoms)")


def species_of(atoms):
    """Sorted chemical symbols present in ``atoms``. Local, O(N) vectorised, no per-atom objects."""
    from ase.data import chemical_symbols
    return sorted(chemical_symbols[z] for z in np.unique(atoms.numbers))


def check_cell(atoms):
    """InputError unless ``atoms`` has atoms and a periodic 3-D cell of finite nonzero volume. Local, O(1)."""
    if len(atoms) == 0:
        raise InputError("the structure has no atoms")
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell)) if np.all(np.isfinite(cell)) else float("nan")
    if not all(atoms.pbc) or not volume >= 1e-6:
        raise InputError("the structure needs a periodic 3-D cell (pbc on all axes, finite nonzero volume); "
                         f"got pbc={list(map(bool, atoms.pbc))}, volume {volume:.4g} Å^3")


def check_structure(comm, atoms, species, min_distance=MIN_DISTANCE_A):
    """Raise InputError on every rank for structures the engine cannot handle. Collective over ``comm``.

    Checks: at least one atom; finite positions; a periodic 3-D cell with positive volume; only
    ``species``; no two atoms (including periodic images) closer than ``min_distance`` Å. Each rank checks
    the atoms it owns (a brick of the cell, :func:`~mlsurrogate.decomposition.atoms.owner_box`) against
    their neighbours: O(N/P + ghosts) time and memory per rank, no neighbour list of the whole structure.
    """
    check_cell(atoms)
    n = len(atoms)
    lo, hi = n * comm.rank // comm.size, n * (comm.rank + 1) // comm.size
    positions = atoms.positions
    bad = lo + np.flatnonzero(~np.all(np.isfinite(positions[lo:hi]), axis=1))
    numbers = np.unique(atoms.numbers[lo:hi])
    first_bad = comm.allreduce(int(bad[0]) if len(bad) else n, op=_min_op())
    if first_bad < n:
        raise InputError(f"atom {first_bad} has a non-finite position {positions[first_bad].tolist()}")
    from ase.data import chemical_symbols
    present = sorted(set().union(*comm.allgather(set(int(z) for z in numbers))))
    unknown = [chemical_symbols[z] if 0 <= z < len(chemical_symbols) else str(z) for z in present
               if (chemical_symbols[z] if 0 <= z < len(chemical_symbols) else None) not in species]
    if unknown:
        raise InputError(f"species {', '.join(unknown)} not in the model (it knows {', '.join(species)})")
    closest = _closest_pair(comm, atoms, min_distance)
    if closest is not None:
        d, i, j = closest
        raise InputError(f"atoms {i} and {j} are {d:.3g} Å apart (< {min_distance} Å): "
                         "overlapping atoms or duplicated positions")


def _min_op():
    from mpi4py import MPI
    return MPI.MIN


def _closest_pair(comm, atoms, min_distance):
    """(distance, i, j) of the closest pair closer than ``min_distance`` over all ranks, or None. Collective."""
    from scipy.spatial import cKDTree
    from ..decomposition.atoms import atoms_near_box, images_near_box, owned_atoms, owner_box, pad_fractions
    cell = atoms.cell.array
    frac = atoms.cell.scaled_positions(atoms.positions)
    lo, hi = owner_box(comm.size, comm.rank, cell, min_distance)
    pad = pad_fractions(cell, min_distance)
    own = owned_atoms(frac, lo, hi)
    img, img_atom, img_shift = images_near_box(frac, atoms_near_box(frac, lo, hi, pad), lo, hi, pad)
    best = None
    if len(own) and len(img):
        tree = cKDTree(img @ cell)
        from ..decomposition.atoms import CHUNK, wrapped
        for start in range(0, len(own), CHUNK):
            mine = own[start:start + CHUNK]
            pairs = cKDTree(wrapped(frac[mine]) @ cell).sparse_distance_matrix(tree, min_distance,
                                                                                output_type="ndarray")
            i, j, d = mine[pairs["i"]], img_atom[pairs["j"]], pairs["v"]
            other = (i != j) | np.any(img_shift[pairs["j"]] != 0, axis=1)
            if other.any():
                k = np.flatnonzero(other)[np.argmin(d[other])]
                cand = (float(d[k]), int(min(i[k], j[k])), int(max(i[k], j[k])))
                best = cand if best is None or cand < best else best
    found = [c for c in comm.allgather(best) if c is not None]
    return min(found) if found else None
