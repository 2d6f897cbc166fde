"""The descriptor backends by name, and the geometry check that tells them apart. Stage: descriptors.

``native`` (default): our compiled kernel (native_grid.py), continuous for atoms on grid points;
``native-exclude-coincident``: the same kernel with LAMMPS' exclusion of atoms within 1e-10 Å of a grid
point (parity tests); ``lammps``: LAMMPS ``compute sna/grid`` (lammps_grid.py), the reference.
Every backend has the same interface: ``Backend(comm, **options)`` as a context manager,
``set_structure(cell, scaled_positions, type_ids, species, params, decomp)`` and
``compute_pass(plan, offset) -> (global indices (m, 3), descriptors (m, K))``.
"""
import numpy as np

from ..errors import InputError

__all__ = ["BACKENDS", "descriptor_backend", "atoms_on_grid_points"]


def atoms_on_grid_points(comm, cell, scaled_positions, grid, tolerance_A=1e-10):
    """Number of atoms within ``tolerance_A`` (LAMMPS' |r|^2 <= 1e-20 Å^2) of a grid point. Collective.

    Each rank tests a strided slice of the atoms (O(N/P)); the LAMMPS backend drops such atoms from those
    points' neighbour lists (the native default includes them with their continuous limit).
    """
    from mpi4py import MPI
    frac = np.asarray(scaled_positions[comm.rank::comm.size], dtype=float)
    n = np.asarray(grid, dtype=float)
    count = 0
    for start in range(0, len(frac), 1 << 16):
        f = frac[start:start + (1 << 16)] * n
        d = (f - np.round(f)) / n @ np.asarray(cell, dtype=float)
        count += int(np.count_nonzero(np.einsum("ij,ij->i", d, d) <= tolerance_A ** 2))
    return comm.allreduce(count, op=MPI.SUM)


BACKENDS = ("native", "native-exclude-coincident", "lammps")


def descriptor_backend(name):
    """The grid-descriptor class for ``name`` (one of :data:`BACKENDS`). Local.

    'native': our kernel, continuous for atoms on grid points; 'native-exclude-coincident': our kernel
    with LAMMPS' exclusion of atoms within 1e-10 Å of a grid point; 'lammps': LAMMPS sna/grid.
    """
    if name == "native":
        from .native_grid import NativeGrid
        return NativeGrid
    if name == "native-exclude-coincident":
        import functools
        from .native_grid import NativeGrid
        return functools.partial(NativeGrid, exclude_coincident=True)
    if name == "lammps":
        from .lammps_grid import LammpsGrid
        return LammpsGrid
    raise InputError(f"unknown descriptor backend {name!r}: use one of {', '.join(BACKENDS)}")
