"""The distributed periodic grid in reciprocal space, with Quantum ESPRESSO's conventions. Stage: energy.

Real <-> reciprocal transforms are mpi4py-fft ``PFFT`` (FFTW through pyfftw), real-to-complex along the last
axis. Conventions (QE's ``fwfft``/``invfft``):

    f(G) = (1/N) Σ_r f(r) e^{-iG·r}        f(r) = Σ_G f(G) e^{iG·r}        N = nx·ny·nz

so Ω·n(G=0) is the number of electrons. ``G`` are in 1/bohr; the *sphere* is |G|² <= ecutrho (Ry = 1/bohr²)
without the Nyquist planes of even axes.
Each rank holds the real-space block ``real_slice`` (distributed over the first axes, the last axis whole)
and the reciprocal block ``recip_slice``. Sums over all G use the r2c weights (2 for the half-space planes
that stand for their conjugate partners).
"""
import logging

import numpy as np

from ..errors import InputError

__all__ = ["PlaneWaveGrid", "sphere_fits", "check_grid"]


#: A grid may cut this fraction off the sphere's radius along an axis (see ``sphere_fits``).
SPHERE_SHORTFALL = 0.05


def sphere_fits(shape, cell_bohr, ecutrho_ry):
    """Whether the FFT box holds the ecutrho sphere, and the grid that holds all of it. Local.

    A G-vector's Miller index along axis i is G·a_i/2π, at most m_i = √ecutrho·|a_i|/2π, so a box with
    n_i >= 2 m_i + 1 holds the whole sphere (QE's rule). A supercell of a QE grid misses the last index or
    two (Be2 x 2 along c: 54 points, 55 wanted; the Nyquist plane is dropped too). Grids whose largest kept
    index reaches (1 - SPHERE_SHORTFALL) of the radius are accepted with a warning: the sphere is cut by the
    box. For an exact tiling nothing is lost (the lost G are not lattice vectors of the primitive cell);
    otherwise the caps hold part of the outer 5 % shell, which is worth 6e-7 Ry of E_xc for Be2 (2 atoms).
    """
    radius = np.sqrt(ecutrho_ry) * np.linalg.norm(cell_bohr, axis=1) / (2 * np.pi)   # Miller units
    needed = tuple(int(2 * np.floor(m + 1e-9) + 1) for m in radius)
    held = [(n - 1) // 2 for n in shape]                                               # largest |index| kept
    ok = all(h >= np.floor(m + 1e-9) or h >= (1 - SPHERE_SHORTFALL) * m for h, m in zip(held, radius))
    return ok, needed, any(h < np.floor(m + 1e-9) for h, m in zip(held, radius))


def check_grid(shape, cell_bohr, ecutrho_ry):
    """InputError unless the grid ``shape`` holds the ecutrho sphere (see ``sphere_fits``). Local."""
    ok, needed, _ = sphere_fits(shape, cell_bohr, ecutrho_ry)
    if not ok:
        raise InputError(f"grid {'x'.join(map(str, shape))} is too coarse for ecutrho = {ecutrho_ry:g} Ry: the "
                         f"density sphere needs {'x'.join(map(str, needed))} points (or lower --ecutrho)")


class PlaneWaveGrid:
    """One periodic grid of ``shape`` points over ``cell_bohr`` (rows = lattice vectors, bohr). Collective."""

    def __init__(self, comm, shape, cell_bohr, ecutrho_ry):
        from mpi4py_fft import PFFT
        self.comm = comm
        self.shape = tuple(int(n) for n in shape)
        self.cell = np.asarray(cell_bohr, dtype=float)
        self.volume = abs(np.linalg.det(self.cell))
        self.ecutrho = float(ecutrho_ry)
        check_grid(self.shape, self.cell, self.ecutrho)
        _, needed, cut = sphere_fits(self.shape, self.cell, self.ecutrho)
        if cut and comm.rank == 0:
            logging.getLogger("mlsurrogate").warning(
                "grid %s cuts the ecutrho sphere slightly (QE would use %s); see README, total energy",
                "x".join(map(str, self.shape)), "x".join(map(str, needed)))
        if comm.size > self.shape[0] * self.shape[1]:
            raise InputError(f"grid {'x'.join(map(str, self.shape))} has too few points for {comm.size} ranks in the "
                             f"FFT (at most nx*ny = {self.shape[0] * self.shape[1]} ranks)")
        self.fft = PFFT(comm, self.shape, axes=(0, 1, 2), dtype=np.float64, backend="pyfftw")
        self.real_slice = tuple(self.fft.local_slice(False))
        self.recip_slice = tuple(self.fft.local_slice(True))
        self.real_shape = tuple(s.stop - s.start for s in self.real_slice)
        self.real_start = tuple(s.start for s in self.real_slice)
        n1, n2, n3 = self.shape
        m1 = np.rint(np.fft.fftfreq(n1) * n1)[self.recip_slice[0]]
        m2 = np.rint(np.fft.fftfreq(n2) * n2)[self.recip_slice[1]]
        m3 = np.arange(n3 // 2 + 1, dtype=float)[self.recip_slice[2]]
        self._miller = (m1, m2, m3)
        self.recip_lattice = 2 * np.pi * np.linalg.inv(self.cell).T      # rows b_i, 1/bohr
        self.g2 = sum(c * c for c in self.g_components())
        w = np.where((m3 == 0) | ((n3 % 2 == 0) & (m3 == n3 // 2)), 1.0, 2.0)
        self.weights = np.broadcast_to(w[None, None, :], self.g2.shape)
        nyquist = ((n1 % 2 == 0) & (m1 == -(n1 // 2)))[:, None, None] | \
            ((n2 % 2 == 0) & (m2 == -(n2 // 2)))[None, :, None] | ((n3 % 2 == 0) & (m3 == n3 // 2))[None, None, :]
        self.sphere = (self.g2 <= self.ecutrho) & ~nyquist
        self.is_g0 = self.g2 == 0.0

    @property
    def dv(self):
        """Volume per grid point, bohr³."""
        return self.volume / np.prod(self.shape)

    def g_components(self):
        """(Gx, Gy, Gz) on this rank's reciprocal block, 1/bohr (broadcast views are expanded)."""
        m1, m2, m3 = self._miller
        b = self.recip_lattice
        return tuple(m1[:, None, None] * b[0, c] + m2[None, :, None] * b[1, c] + m3[None, None, :] * b[2, c]
                     for c in range(3))

    def new_real(self):
        """Zeroed array for this rank's real-space block."""
        return np.zeros(self.real_shape)

    def forward(self, f_r):
        """f(G) on this rank's reciprocal block (a new array) from f(r) on its real block. Collective."""
        self.fft.forward.input_array[...] = f_r
        return self.fft.forward(normalize=True).copy()

    def backward(self, f_g):
        """f(r) = Σ_G f(G) e^{iGr} on this rank's real block (a new array). Collective."""
        self.fft.backward.input_array[...] = f_g
        return self.fft.backward(normalize=False).copy()

    def gsum(self, values):
        """Σ over all G of a real function of G given on this rank's half-space block. Collective."""
        return self.comm.allreduce(float(np.sum(self.weights * values)))

    def rsum(self, values):
        """Σ over all grid points of a real-space field given on this rank's block. Collective."""
        return self.comm.allreduce(float(np.sum(values)))

    def gradient(self, f_g):
        """∇f(r) (3 arrays, 1/bohr · [f]) spectrally from f(G) (already restricted as wanted). Collective."""
        return [self.backward(1j * g * f_g) for g in self.g_components()]
