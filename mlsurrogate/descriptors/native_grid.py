"""Bispectrum descriptors on the real-space grid with our compiled kernel (``--descriptors native``). Stage: descriptors.

Same interface and values as :class:`~mlsurrogate.descriptors.lammps_grid.LammpsGrid` (LAMMPS
``compute sna/grid`` semantics, float64), but no LAMMPS: every rank already holds all atoms' positions,
hands the kernel only those within the cutoff of its block (:func:`atoms_near_block`, O(N/P + ghosts)),
and the kernel (``src/snap_grid.cpp``) finds each grid point's neighbours, periodic images included,
with a cell list over fractional space stored only for the region the points reach, so the cost per
point does not grow with the number of atoms. Each rank computes only the points of its own block;
there is no communication at all.

Values: float64, equal to LAMMPS strictly elementwise to < 1e-10 relative (max over points and
components, no denominator floor; Be2 settings 2.1e-11 / 5.8e-11 for snapshots 0 / 1). For that the
geometry is rounded as LAMMPS rounds it (:func:`lammps_geometry`, grid points at i * (1/n)): a few
components cancel to 1e-5 of their terms and move by ~4e-11 relative per ulp of a position.

Out: per pass, (global grid indices, descriptors (m, K) float64, dimensionless).
"""
import importlib
import logging
import os

import numpy as np

from ..decomposition.atoms import atoms_near_box, pad_fractions
from ..errors import InputError
from .bispectrum import BispectrumParams
from .triclinic import lammps_geometry

__all__ = ["NativeGrid", "native_module", "atoms_near_block", "block_pass_indices", "lammps_geometry"]

log = logging.getLogger("mlsurrogate")

_VARIANTS = (("avx512", ("avx512f", "avx512dq", "avx512bw", "avx512vl")), ("avx2", ("avx2", "fma", "bmi2")),
             ("generic", ()))


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_module():
    """The compiled kernel for the best instruction set this CPU supports. Local.

    ``MLSURROGATE_NATIVE_VARIANT=generic|avx2|avx512`` forces one (benchmarks, debugging).
    """
    forced = os.environ.get("MLSURROGATE_NATIVE_VARIANT")
    known = [name for name, _ in _VARIANTS]
    if forced and forced not in known:
        raise InputError(f"MLSURROGATE_NATIVE_VARIANT={forced!r} is not a kernel variant; choose one of "
                         f"{', '.join(known)} or unset it")
    flags = _cpu_flags()
    errors = []
    for name, needed in _VARIANTS:
        if forced and name != forced:
            continue
        missing = [f for f in needed if f not in flags]
        if missing and forced and flags:
            raise InputError(f"MLSURROGATE_NATIVE_VARIANT={forced}: this CPU lacks {', '.join(missing)}; "
                             "choose a smaller variant or unset it")
        if missing and not forced:
            continue
        try:
            return importlib.import_module(f"mlsurrogate.descriptors._snapgrid_{name}")
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise InputError("the native descriptor kernel is not built (" + "; ".join(errors or ["no variant"]) +
                     "); reinstall with `make install`, or use --descriptors lammps")


def atoms_near_block(cell, scaled_positions, decomp, cutoff):
    """Ascending indices of the atoms within ``cutoff`` (Å) of some grid point of this rank's block. Local.

    Only these can be neighbours of the rank's points, so the kernel is handed O(N/P + ghosts) atoms and
    gets the same sums in the same order as with all atoms (it bins as for the whole structure).
    """
    n = np.asarray(decomp.global_shape, dtype=float)
    lo = np.asarray(decomp.local_start) / n
    hi = (np.asarray(decomp.local_start) + np.asarray(decomp.local_shape) - 1) / n
    return atoms_near_box(scaled_positions, lo, hi, pad_fractions(cell, cutoff) + 1e-6)


class NativeGrid:
    """Native bispectrum descriptors on grid sub-lattices, a drop-in for ``LammpsGrid``.

    Nothing here communicates, but the constructor queries the node layout (collective over ``comm``)
    to choose OpenMP threads per rank (``OMP_NUM_THREADS`` wins). ``precision="float32"`` does the
    arithmetic in float32 (1.6x faster; 2e-6 relative to each component's scale for Be2) and still
    returns float64 arrays. Use as a context manager.

    An atom exactly on a grid point (|r|^2 <= 1e-20 Å^2, e.g. ideal lattice positions on a commensurate
    grid) is included with the descriptor's continuous r -> 0 limit (rmin0 = 0: Cayley-Klein a = 1,
    b = 0). ``exclude_coincident=True`` drops it as LAMMPS' self-exclusion does (backend name
    ``native-exclude-coincident``: bit parity with ``lammps`` for such structures).
    """

    def __init__(self, comm, nthreads=None, precision="float64", exclude_coincident=False):
        from ..parallel import torch_threads_per_rank
        if precision not in ("float64", "float32"):
            raise InputError(f"precision must be float64 or float32, got {precision!r}")
        self.comm = comm
        self.precision = precision
        self.exclude_coincident = bool(exclude_coincident)
        self._mod = native_module()
        self.nthreads = int(nthreads) if nthreads else torch_threads_per_rank(comm)
        self._kernel = None  # set by set_structure
        self.timings_s = {"cell_list": 0.0, "neighbours": 0.0, "u": 0.0, "zb": 0.0}
        self.points = 0
        self.neighbours = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Nothing to release (the kernel holds no MPI or LAMMPS state); statistics stay readable."""

    def set_structure(self, cell, scaled_positions, type_ids, species, params: BispectrumParams, decomp):
        """Store the structure and settings for later passes. Local.

        cell : (3, 3) Å, rows are lattice vectors (any right-handed cell); scaled_positions :
        (n_atoms, 3) fractional; type_ids : (n_atoms,) 1-based types matching ``species``.
        """
        if params.quadraticflag:
            raise InputError("quadraticflag is not supported by the native descriptors; use --descriptors lammps")
        if not 0 <= params.twojmax <= 24:
            raise InputError(f"twojmax must be between 0 and 24, got {params.twojmax}")
        cell = np.ascontiguousarray(cell, dtype=np.float64)
        if cell.shape != (3, 3) or not abs(np.linalg.det(cell)) > 1e-12:
            raise InputError("the cell is degenerate (zero volume)")
        near = atoms_near_block(cell, scaled_positions, decomp, params.max_cutoff(species))
        self._cell, self._frac = lammps_geometry(cell, np.asarray(scaled_positions)[near])
        self._near = near
        # Cartesian frame of the kernel: x_kernel = x @ self._to_kernel (LAMMPS' rotation of the cell)
        self._to_kernel = np.linalg.solve(cell, self._cell)
        self._types = np.ascontiguousarray(np.asarray(type_ids)[near] - 1, dtype=np.int32)
        self.natoms_total, self.natoms_local = len(scaled_positions), len(near)
        self._radii = np.array([params.radius(s) for s in species], dtype=np.float64)
        self._weights = np.array([params.weight(s) for s in species], dtype=np.float64)
        self._params, self._decomp = params, decomp
        self._kernel = self._mod.SnapGrid(params.twojmax, params.rfac0, params.rmin0, params.switchflag,
                                          params.bzeroflag, self.exclude_coincident)

    def compute_points(self, indices, keep_u=False):
        """Descriptors (m, K) float64 of global fine grid points ``indices`` (m, 3). Local.

        keep_u=True (float64 only) returns (descriptors, U totals (m, 2, idxu) float64) for
        :meth:`adjoint_points` of the same points (16 idxu bytes per point: 8 KB at twojmax 10).
        """
        # as LAMMPS' grid2x: index times the spacing 1/n (not index / n: the rounding differs)
        frac = np.asarray(indices, dtype=np.float64) * (1.0 / np.array(self._decomp.global_shape, dtype=np.float64))
        out = self._kernel.compute(self._cell, self._frac, self._types, self._radii, self._weights,
                                   float(self._params.rcutfac), np.ascontiguousarray(frac),
                                   self.nthreads, self.precision == "float32", self.natoms_total, keep_u)
        desc, timings = out[0], out[1]
        for key in self.timings_s:
            self.timings_s[key] += timings[key]
        self.points += len(frac)
        self.neighbours += int(timings["neighbours_total"])
        return (desc, out[2]) if keep_u else desc

    def adjoint_points(self, indices, beta, u_totals=None):
        """Gradient (C, n_atoms_total, 3), 1/Å times beta's unit, of sum_p sum_k beta[p, c, k] B_k(point p) with
        respect to the Cartesian atom positions (the input's frame). indices (m, 3) global grid indices,
        beta (m, C, K) float64; u_totals: ``compute_points(indices, keep_u=True)``'s (then U is not summed
        again). Float64 arithmetic whatever the precision. Local; only the atoms near this rank's block are
        nonzero."""
        frac = np.asarray(indices, dtype=np.float64) * (1.0 / np.array(self._decomp.global_shape, dtype=np.float64))
        beta = np.ascontiguousarray(beta, dtype=np.float64)
        near = self._kernel.adjoint(self._cell, self._frac, self._types, self._radii, self._weights,
                                    float(self._params.rcutfac), np.ascontiguousarray(frac), beta, self.nthreads,
                                    self.natoms_total, u_totals)
        out = np.zeros((beta.shape[1], self.natoms_total, 3))
        out[:, self._near] = near @ self._to_kernel.T
        return out

    def compute_pass(self, plan, offset):
        """Descriptors of this rank's points of one sub-lattice pass. Local (no communication).

        Returns (fine global indices (m, 3) int64, descriptors (m, K) float64).
        """
        idx = plan.block_indices(self._decomp, offset)
        return idx, self.compute_points(idx)

    def kernel_stats(self):
        """Kernel thread-seconds per stage, points, neighbours and flop per point so far. Local."""
        nb = self.neighbours / max(self.points, 1)
        return {"thread_seconds": dict(self.timings_s), "points": self.points, "neighbours": self.neighbours,
                "flops_per_point": self._kernel.flops_per_point(nb) if self.points else 0.0,
                "lammps_flops_per_point": self._kernel.flops_per_point(nb, lammps=True) if self.points else 0.0}


def block_pass_indices(decomp, plan, offset):
    """Global fine grid indices (m, 3) of this rank's block points in one pass: ``plan.block_indices``."""
    return plan.block_indices(decomp, offset)
