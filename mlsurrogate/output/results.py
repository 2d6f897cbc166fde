"""Results a person can use: results.json, density HDF5 (or Gaussian cube, cube.py), DOS plot. Stage: output.

Nothing is gathered on one rank: the density goes into one HDF5 file whose dataset rank 0 allocates
contiguously; every rank then writes its own x slab at the same time (``pwrite`` at the dataset's offset). Files are written under temporary names and renamed only when
everything succeeded, so a failed run never leaves a half-written result.
"""
import json
import os

import numpy as np

from ..errors import MLSurrogateError, OutputError
from ..parallel import on_root, raise_collectively

__all__ = ["write_json_atomic", "write_density", "write_density_h5", "x_slab", "pwrite_all", "plot_dos"]


def write_json_atomic(path, data):
    """Write JSON to ``path`` via a temporary file and rename. Local (call on one rank).

    Non-finite numbers are refused (they are not JSON); a full disk or unwritable place is an OutputError
    and leaves no temporary file behind.
    """
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise MLSurrogateError(f"refusing to write {path}: the results hold NaN or infinite values "
                               "(please report this with the input)") from None
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_density_h5(comm, path, density_block, decomp, cell):
    """Write the distributed density (1/Å^3) to ``path`` as dataset ``density`` (nx, ny, nz). Collective.

    Rank 0 creates the file with the dataset allocated contiguously (little-endian float64, C order) and
    broadcasts its byte offset; the blocks move to x slabs (one Alltoallv, 8 B per point; an x slab is one
    contiguous byte range of the C-order dataset) and every rank writes its slab at once with one ``pwrite``,
    so the ranks never wait for each other and nothing is gathered on one rank.
    Non-overlapping byte ranges written by independent processes are safe on POSIX and parallel file
    systems (Lustre, GPFS). h5py from PyPI has no MPI; with an MPI build this is what ``driver="mpio"``
    with independent I/O would do.
    """
    offset = on_root(comm, _create_density_file, path, decomp.global_shape, cell)
    x0, slab = x_slab(comm, density_block, decomp)   # an x slab is one contiguous byte range of the file
    ny, nz = decomp.global_shape[1:]
    error = None
    try:
        pwrite_all(path, offset + 8 * x0 * ny * nz, np.ascontiguousarray(slab, dtype="<f8"))
    except OSError as exc:
        error = OutputError(f"cannot write {path}: {exc}")
    raise_collectively(comm, error)


def write_density(comm, path, fmt, density_block, decomp, atoms):
    """Write the distributed density (1/Å^3) as ``fmt`` 'h5' (:func:`write_density_h5`) or 'cube'
    (:func:`~mlsurrogate.output.cube.write_density_cube`). Collective."""
    if fmt == "h5":
        return write_density_h5(comm, path, density_block, decomp, atoms.cell.array)
    if fmt == "cube":
        from .cube import write_density_cube
        return write_density_cube(comm, path, density_block, decomp, atoms)
    raise ValueError(f"unknown density format {fmt!r} (h5 or cube)")


def x_slab(comm, block, decomp):
    """(x0, this rank's x slab (x1 - x0, ny, nz)) of a field held as ``decomp`` blocks. Collective.

    Slabs follow :func:`~mlsurrogate.decomposition.grid.blockdist` over the ranks; one Alltoallv, nothing
    gathered on one rank.
    """
    from ..decomposition.grid import blockdist
    from ..energy.redistribute import redistribute
    nx, ny, nz = decomp.global_shape
    x0, x1 = blockdist(nx, comm.size, comm.rank)
    return x0, redistribute(comm, block, decomp.local_start, (x0, 0, 0), (x1 - x0, ny, nz))


def _create_density_file(path, shape, cell):
    """Create the HDF5 file with an allocated contiguous ``density`` dataset; its byte offset. Local."""
    import h5py
    try:
        with h5py.File(path, "w") as f:
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.CONTIGUOUS)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            space = h5py.h5s.create_simple(tuple(int(n) for n in shape))
            dsid = h5py.h5d.create(f.id, b"density", h5py.h5t.IEEE_F64LE, space, dcpl=dcpl)
            ds = h5py.Dataset(dsid)
            ds.attrs["units"] = "1/Angstrom^3"
            ds.attrs["description"] = "valence electron density; element [i,j,k] at r = i/nx a + j/ny b + k/nz c"
            f.attrs["cell_A"] = np.asarray(cell, dtype=float)
            f.attrs["cell_units"] = "Angstrom (rows are lattice vectors)"
            f.attrs["grid"] = np.asarray(shape, dtype=np.int64)
            offset = dsid.get_offset()
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from None
    if offset is None:
        raise OutputError(f"cannot write {path}: HDF5 did not allocate the dataset")
    return int(offset)


def pwrite_all(path, offset, array):
    """Write ``array``'s bytes at ``offset`` of the existing file ``path`` and fsync. Local."""
    if array.size == 0:
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        view, pos = memoryview(array.reshape(-1)).cast("B"), offset
        while len(view):
            written = os.pwrite(fd, view[:1 << 30], pos)
            view, pos = view[written:], pos + written
        os.fsync(fd)
    finally:
        os.close(fd)


def plot_dos(path, energies, dos, fermi_energy, title):
    """Save a DOS plot (PNG). Local (call on one rank)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(energies, dos, "o-", lw=1.5, ms=3, label="DOS")
    ax.axvline(fermi_energy, color="k", ls="--", lw=1, label=f"$E_F$ = {fermi_energy:.4f} eV")
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel("DOS (states/eV)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120, format="png")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
