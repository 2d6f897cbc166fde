"""Which atoms a rank needs: those with a periodic image near its part of the cell. Stage: decomposition.

Every rank holds the fractional positions of all atoms (24 B/atom). Everything else a rank does per atom
is O(N/P + ghosts): these helpers scan the positions in chunks of ``CHUNK`` atoms (bounded temporaries)
and return only the indices of the atoms near a box. Boxes are in fractional coordinates of the cell,
per axis; a pad of ``d`` Å along axis a is ``d / width_a`` in fractions (``width_a`` the distance between
the cell's faces normal to a), so a box padded that way holds every atom within ``d`` of the box.

Atom *ownership* (each atom counted by exactly one rank: overlap checks, Ewald pairs) uses a brick of
the fractional cube (:func:`owner_box`), independent of any grid.
"""
import numpy as np

__all__ = ["CHUNK", "face_widths", "pad_fractions", "wrapped", "atoms_near_box", "owned_atoms", "owner_box",
           "images_near_box"]

#: Atoms scanned at a time (bounds the temporaries of a scan to a few MiB).
CHUNK = 1 << 16
#: Extra fractional margin of every box test: float rounding never loses an atom (a few extra are harmless).
MARGIN = 1e-9


def face_widths(cell):
    """(3,) distances (Å, or the cell's unit) between opposite faces of ``cell`` (rows = lattice vectors)."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    return volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)


def pad_fractions(cell, distance):
    """(3,) fractional pad that covers ``distance`` (cell's length unit) along each axis."""
    return float(distance) / face_widths(cell) + MARGIN


def wrapped(frac):
    """Fractional positions wrapped into [0, 1) (a new array)."""
    f = np.mod(np.asarray(frac, dtype=float), 1.0)
    f[f >= 1.0] = 0.0
    return f


def _near(f, lo, hi):
    """Mask of wrapped positions ``f`` (m, 3) with an image inside [lo, hi] on every axis (fractional)."""
    ok = np.ones(len(f), dtype=bool)
    for a in range(3):
        extent = hi[a] - lo[a]
        if extent >= 1.0:
            continue
        ok &= np.mod(f[:, a] - lo[a], 1.0) <= extent
    return ok


def atoms_near_box(frac, lo, hi, pad=0.0):
    """Ascending indices of the atoms with a periodic image in [lo - pad, hi + pad] on every axis. Local.

    frac : (n, 3) fractional positions (any range); lo, hi, pad : (3,) fractional (pad may be a scalar).
    Time O(n), memory O(result + CHUNK).
    """
    lo = np.asarray(lo, dtype=float) - pad
    hi = np.asarray(hi, dtype=float) + pad
    out = []
    for start in range(0, len(frac), CHUNK):
        f = wrapped(frac[start:start + CHUNK])
        out.append(start + np.flatnonzero(_near(f, lo, hi)))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def owner_box(comm_size, rank, cell, halo):
    """Fractional box [lo, hi) of the cube that ``rank`` owns atoms in, a brick over ``comm_size`` ranks.

    The brick minimises the padded volume for a ghost shell of ``halo`` (same unit as ``cell``). Local,
    deterministic: every rank computes the same boxes.
    """
    from .grid import choose_proc_grid
    dims = choose_proc_grid((1 << 30,) * 3, comm_size, cell, halo)
    coords = (rank % dims[0], (rank // dims[0]) % dims[1], rank // (dims[0] * dims[1]))
    lo = np.array([c / d for c, d in zip(coords, dims)])
    hi = np.array([(c + 1) / d for c, d in zip(coords, dims)])
    return lo, hi


def owned_atoms(frac, lo, hi):
    """Ascending indices of the atoms whose wrapped position lies in [lo, hi) on every axis. Local.

    With the boxes of :func:`owner_box` every atom is owned by exactly one rank.
    """
    out = []
    for start in range(0, len(frac), CHUNK):
        f = wrapped(frac[start:start + CHUNK])
        mine = np.all((f >= lo) & ((f < hi) | (hi >= 1.0)), axis=1)
        out.append(start + np.flatnonzero(mine))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def images_near_box(frac, atoms, lo, hi, pad):
    """Periodic images of ``atoms`` inside [lo - pad, hi + pad]: (fractional positions (m, 3), atom (m,),
    shift (m, 3) int). Local; ``atoms`` should come from :func:`atoms_near_box` with the same box.

    The image of atom i with shift s sits at wrapped(frac_i) + s.
    """
    lo = np.asarray(lo, dtype=float) - pad
    hi = np.asarray(hi, dtype=float) + pad
    atoms = np.asarray(atoms, dtype=np.int64)
    pos = wrapped(frac[atoms]) if len(atoms) else np.zeros((0, 3))
    shifts = np.zeros((len(atoms), 3), dtype=np.int64)
    for a in range(3):                      # expand axis by axis: cost O(images), no loop over shifts
        first = np.ceil(lo[a] - pos[:, a]).astype(np.int64)
        count = np.maximum(np.floor(hi[a] - pos[:, a]).astype(np.int64) - first + 1, 0)
        keep = np.repeat(np.arange(len(atoms)), count)
        offset = np.arange(len(keep)) - np.repeat(np.cumsum(count) - count, count)
        atoms, pos, shifts = atoms[keep], pos[keep], shifts[keep]
        shifts[:, a] = first[keep] + offset
        pos[:, a] += shifts[:, a]
    return pos, atoms, shifts
