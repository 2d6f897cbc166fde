"""The density as a Gaussian cube file (VESTA, OVITO, ASE), written in parallel. Stage: output.

Units follow the cube convention: atom positions and voxel axes in bohr, values in electrons/bohr³
(VESTA's and Gaussian's unit for densities; converted here from our 1/Å³). Layout: x outermost, z fastest,
each value ``%13.5E`` (6 significant digits), 6 per line and a line break at the end of every z column.
With fixed-width numbers every (x, y) column has the same byte length, so each rank computes the byte
offset of its x slab and writes it with ``pwrite`` after rank 0 has written the header: nothing is
gathered on one rank (the blocks move to x slabs with one Alltoallv, as for HDF5).
"""
import os

import numpy as np

from ..errors import InputError, OutputError
from ..parallel import on_root, raise_collectively
from ..units import ANGSTROM3_PER_BOHR3, BOHR_ANGSTROM

__all__ = ["write_density_cube", "convert_h5_to_cube", "CUBE_UNITS", "VALUE_WIDTH"]

CUBE_UNITS = "electrons/bohr^3"
VALUE_FORMAT, VALUE_WIDTH, PER_LINE = "%13.5E", 13, 6
#: Values below this print as 0 (a three-digit exponent would break the fixed width).
TINY = 1e-99
_PLANE_POINTS = 1 << 20   # values formatted at once (bounds the text held in memory)


def column_bytes(nz):
    """Bytes of one z column: nz values of VALUE_WIDTH plus one line break per (started) line of 6."""
    return VALUE_WIDTH * nz + -(-nz // PER_LINE)


def cube_header(atoms, shape, title="mlsurrogate valence electron density"):
    """The header text (comments, origin, axes, atoms; lengths in bohr). Local."""
    cell_bohr = np.asarray(atoms.cell.array, dtype=float) / BOHR_ANGSTROM
    pos_bohr = np.asarray(atoms.positions, dtype=float) / BOHR_ANGSTROM
    lines = [f"{title} ({CUBE_UNITS})",
             "OUTER LOOP: X, MIDDLE LOOP: Y, INNER LOOP: Z",
             f"{len(atoms):5d}{0.0:12.6f}{0.0:12.6f}{0.0:12.6f}"]
    for n, axis in zip(shape, cell_bohr):
        lines.append(f"{int(n):5d}" + "".join(f"{v:12.6f}" for v in axis / n))
    text = "\n".join(lines) + "\n"
    if len(atoms):
        table = np.column_stack([atoms.numbers, np.zeros(len(atoms)), pos_bohr])
        text += "".join(f"{int(z):5d}{q:12.6f}{x:12.6f}{y:12.6f}{w:12.6f}\n" for z, q, x, y, w in table)
    return text


def format_columns(values):
    """Text of z columns: ``values`` (m, nz) in the file's unit, formatted as the cube body. Local."""
    values = np.asarray(values, dtype=np.float64)
    m, nz = values.shape
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) >= 1e99):
        raise OutputError("refusing to write a cube file: the density holds NaN, infinite or huge values")
    values = np.where(np.abs(values) < TINY, 0.0, values)
    full, rest = divmod(nz, PER_LINE)
    column = (VALUE_FORMAT * PER_LINE + "\n") * full + ((VALUE_FORMAT * rest + "\n") if rest else "")
    return (column * m) % tuple(values.ravel().tolist())


def _write_slab(path, offset, slab):
    """Format the x slab (nx_local, ny, nz) in plane-sized pieces and pwrite each at its offset. Local."""
    from .results import pwrite_all
    _, ny, nz = slab.shape
    per_column = column_bytes(nz)
    columns = slab.reshape(-1, nz)
    step = max(1, _PLANE_POINTS // max(nz, 1))
    for start in range(0, len(columns), step):
        text = format_columns(columns[start:start + step]).encode("ascii")
        assert len(text) == per_column * len(columns[start:start + step])   # fixed width: a programming error
        pwrite_all(path, offset + per_column * start, np.frombuffer(text, dtype=np.uint8))


def _create(path, header, shape):
    """Write the header and size the file to its final length. Local; returns the header's byte length."""
    data = header.encode("ascii")
    total = len(data) + column_bytes(shape[2]) * shape[0] * shape[1]
    try:
        with open(path, "wb") as f:
            f.write(data)
            f.truncate(total)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(data)


def _write_slabs(comm, path, header, shape, x0, slab_bohr):
    """Rank 0 writes the header; every rank then pwrites its x slab starting at plane x0. Collective."""
    offset = on_root(comm, _create, path, header, shape)
    error = None
    try:
        _write_slab(path, offset + column_bytes(shape[2]) * shape[1] * x0, slab_bohr)
    except (OSError, OutputError) as exc:
        error = exc if isinstance(exc, OutputError) else OutputError(f"cannot write {path}: {exc}")
    raise_collectively(comm, error)


def write_density_cube(comm, path, density_block, decomp, atoms):
    """Write the distributed density (this rank's block of ``decomp``, 1/Å³) to ``path`` as a cube file
    in electrons/bohr³ with ``atoms`` (Å). Collective over ``comm``; nothing is gathered on one rank."""
    from .results import x_slab
    header = on_root(comm, cube_header, atoms, decomp.global_shape)
    x0, slab = x_slab(comm, density_block, decomp)
    _write_slabs(comm, path, header, decomp.global_shape, x0, slab * ANGSTROM3_PER_BOHR3)


def convert_h5_to_cube(comm, h5_path, cube_path, atoms=None):
    """Write ``density.h5`` (ours: dataset ``density``, 1/Å³) as a cube file. Collective over ``comm``.

    Every rank reads only its own x slab of the dataset. atoms : the structure (Å) to put in the file;
    None writes no atoms (the cell from the file's ``cell_A`` attribute).
    """
    from ase import Atoms
    from ..decomposition.grid import blockdist

    def describe():
        import h5py
        try:
            with h5py.File(h5_path, "r") as f:
                if "density" not in f or f["density"].ndim != 3:
                    raise InputError(f"{h5_path} has no 3-D 'density' dataset (not a density.h5 of mlsurrogate)")
                units = f["density"].attrs.get("units", "1/Angstrom^3")
                if units != "1/Angstrom^3":
                    raise InputError(f"{h5_path}: density in {units!r}; expected 1/Angstrom^3")
                return tuple(int(n) for n in f["density"].shape), np.array(f.attrs["cell_A"], dtype=float)
        except (OSError, KeyError) as exc:
            raise InputError(f"cannot read {h5_path}: {exc}") from None
    shape, cell = on_root(comm, describe)
    if atoms is None:
        atoms = Atoms(cell=cell, pbc=True)
    elif not np.allclose(atoms.cell.array, cell, rtol=0, atol=1e-6):
        raise InputError(f"the structure's cell {atoms.cell.array.tolist()} differs from {h5_path}'s {cell.tolist()}")
    header = on_root(comm, cube_header, atoms, shape)
    x0, x1 = blockdist(shape[0], comm.size, comm.rank)
    slab, error = None, None
    try:
        import h5py
        with h5py.File(h5_path, "r") as f:
            slab = np.asarray(f["density"][x0:x1], dtype=np.float64)
    except OSError as exc:
        error = InputError(f"cannot read {h5_path}: {exc}")
    raise_collectively(comm, error)
    _write_slabs(comm, cube_path, header, shape, x0, slab * ANGSTROM3_PER_BOHR3)
    return os.path.abspath(cube_path)
