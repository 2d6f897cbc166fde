"""Densities of a stacking-fault study: plane averages along the stacking axis, excess charge, difference field.

Units: density 1/Å³, lengths Å, line density λ(z) = ∫ n dA in e/Å. The stacking axis is z (the third cell
vector has z component L and, for a faulted cell, an in-plane tilt t; grid plane k sits at height k L/nz
in both cells, so plane averages of perfect and faulted cells compare point for point).
"""
import os

import numpy as np

from ..errors import OutputError
from ..parallel import on_root, raise_collectively

__all__ = ["plane_average_block", "plane_average_h5", "excess_charge", "write_difference_h5"]


def plane_average_block(comm, block, decomp):
    """Average over each grid plane k (fixed z) of a distributed field: (nz,) on every rank. Collective.

    block : this rank's block of ``decomp`` (1/Å³). O(points per rank) + one allreduce of nz doubles.
    """
    from mpi4py import MPI
    nx, ny, nz = decomp.global_shape
    z0, lz = decomp.local_start[2], decomp.local_shape[2]
    sums = np.zeros(nz)
    if block is not None and block.size:
        sums[z0:z0 + lz] = np.asarray(block).reshape(decomp.local_shape).sum(axis=(0, 1))
    total = comm.allreduce(sums, op=MPI.SUM)
    return comm.bcast(total / (nx * ny), root=0)


def plane_average_h5(comm, path, dataset="density"):
    """Plane averages (nz,) of an (nx, ny, nz) HDF5 dataset, each rank reading its own x slab. Collective."""
    import h5py
    from mpi4py import MPI
    from ..decomposition.grid import blockdist
    shape, error, sums = None, None, None
    try:
        with h5py.File(path, "r") as f:
            ds = f[dataset]
            shape = ds.shape
            x0, x1 = blockdist(shape[0], comm.size, comm.rank)
            sums = np.zeros(shape[2])
            for i in range(x0, x1, 8):                       # bounded memory: 8 x planes at a time
                sums += ds[i:min(i + 8, x1)].sum(axis=(0, 1))
    except (OSError, KeyError) as exc:
        error = OutputError(f"cannot read {path}: {exc}")
    raise_collectively(comm, error)
    return comm.bcast(comm.allreduce(sums, op=MPI.SUM) / (shape[0] * shape[1]), root=0)


def excess_charge(z, line_density_difference, fault_z, length):
    """Net charge (e) left at the fault by a plane-averaged difference λ_f - λ_p (e/Å) on planes ``z`` (Å).

    Both cells hold the same electrons, so ∫ Δλ dz = 0; an unscreened charge q at the fault is compensated
    by a uniform -q/L (the Fermi level moves). q = ∫_{near} (Δλ - Δλ_far) dz over the half of the cell
    nearest the fault (periodic distance < L/4), Δλ_far the mean over the other half. A screened fault
    (dipole layers only) gives q = 0; q ≠ 0 makes the Hartree energy grow like q² L / area.
    """
    dz = length / len(z)
    d = np.abs((np.asarray(z) - fault_z + 0.5 * length) % length - 0.5 * length)
    near = d < 0.25 * length
    far_mean = float(np.mean(line_density_difference[~near]))
    return float(np.sum(line_density_difference[near] - far_mean) * dz)


def write_difference_h5(comm, path, perfect_path, faulted_path, tilt_fractions, attrs):
    """faulted - perfect density on the perfect cell's grid points, into ``path``. Collective, O(N/P).

    The faulted cell's grid plane k is displaced in-plane by (k/nz) t relative to the perfect one
    (t = the tilt of its third vector); each rank takes a range of z planes, reads them from both files,
    moves the faulted planes back by that displacement (exact Fourier shift of the band-limited field
    within each xy plane; ``tilt_fractions`` = t in fractions of the first two cell vectors) and writes
    its rows with ``pwrite``. Dataset ``density_difference`` (nx, ny, nz), 1/Å³.
    """
    import h5py
    from ..decomposition.grid import blockdist
    from ..output.results import _create_density_file

    def create():
        with h5py.File(perfect_path, "r") as f:
            shape, cell = f["density"].shape, f.attrs["cell_A"]
        offset = _create_density_file(path, shape, cell)
        with h5py.File(path, "r+") as f:   # attributes only; the dataset is written raw below
            for key, value in attrs.items():
                f.attrs[key] = value
            f.attrs["dataset_name"] = "density"
            f.attrs["description"] = ("faulted - perfect valence density (1/Angstrom^3) at the perfect cell's "
                                      "grid points (faulted field Fourier-shifted in-plane)")
        return shape, offset
    shape, offset = on_root(comm, create)
    nx, ny, nz = shape
    k0, k1 = blockdist(nz, comm.size, comm.rank)
    error = None
    try:
        if k1 > k0:
            with h5py.File(perfect_path, "r") as fp, h5py.File(faulted_path, "r") as ff:
                perfect = fp["density"][:, :, k0:k1]
                faulted = ff["density"][:, :, k0:k1]
            kx = np.fft.fftfreq(nx)[:, None, None] * nx
            ky = np.fft.fftfreq(ny)[None, :, None] * ny
            frac = np.arange(k0, k1)[None, None, :] / nz
            # faulted point [i,j,k] sits at perfect point [i,j,k] + (k/nz) t: sample the faulted field at
            # fractional in-plane offset -(k/nz) s, i.e. multiply its plane's Fourier coefficients by this phase
            phase = np.exp(-2j * np.pi * frac * (kx * tilt_fractions[0] + ky * tilt_fractions[1]))
            shifted = np.fft.ifft2(np.fft.fft2(faulted, axes=(0, 1)) * phase, axes=(0, 1)).real
            diff = np.ascontiguousarray(shifted - perfect, dtype="<f8")
            fd = os.open(path, os.O_WRONLY)
            try:
                for i in range(nx):
                    for j in range(ny):
                        os.pwrite(fd, diff[i, j].tobytes(), offset + 8 * ((i * ny + j) * nz + k0))
                os.fsync(fd)
            finally:
                os.close(fd)
    except (OSError, KeyError) as exc:
        error = OutputError(f"cannot write {path}: {exc}")
    raise_collectively(comm, error)
