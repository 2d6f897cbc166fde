"""Bispectrum descriptors on the real-space grid through LAMMPS ``compute sna/grid/local``. Stage: descriptors.

One LAMMPS instance per rank, opened once on the engine's communicator and reused for every pass and
structure. Each rank's LAMMPS subdomain is forced (``processors`` + ``balance``) to the block the
:class:`~mlsurrogate.decomposition.grid.GridDecomposition` assigns, so every grid point is computed by
exactly one rank and nothing is ever gathered. The global ``sna/grid`` is never used. Each rank hands
LAMMPS only the atoms that can fall in its subdomain (O(N/P + ghosts)); LAMMPS creates those it owns.

Out: per pass, (global grid indices, descriptors (m, K) float64, dimensionless).
"""
import numpy as np

from ..decomposition.atoms import atoms_near_box, pad_fractions
from ..errors import InputError
from .bispectrum import BispectrumParams
from .triclinic import lammps_cell

__all__ = ["LammpsGrid", "lammps_cell"]   # lammps_cell: from triclinic.py


def _num(x):
    """A float as LAMMPS input text, round-tripping exactly."""
    return repr(float(x))


class LammpsGrid:
    """A persistent LAMMPS instance that computes bispectrum descriptors on grid sub-lattices.

    Collective over ``comm``: construct, ``set_structure``, ``compute_pass`` and ``close`` must be
    called by every rank of ``comm`` in the same order. Use as a context manager.
    """

    def __init__(self, comm):
        from mpi4py import MPI  # noqa: F401  (makes libmpi.so.12 resolvable for the LAMMPS wheel)
        from lammps import lammps
        self.comm = comm
        self._lmp = lammps(comm=comm, cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        if not self._lmp.has_exceptions:
            self._lmp.close()
            raise InputError("the LAMMPS library was built without C++ exceptions; errors would abort")
        for pkg in ("ML-SNAP",):
            if not self._lmp.has_package(pkg):
                raise InputError(f"the LAMMPS library lacks the {pkg} package")
        self._frac = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._lmp is not None:
            self._lmp.close()
            self._lmp = None

    def set_structure(self, cell, scaled_positions, type_ids, species, params: BispectrumParams, decomp):
        """Define the box, species and settings for later passes. Collective.

        cell : (3, 3) Å; scaled_positions : (n_atoms, 3) fractional; type_ids : (n_atoms,) 1-based
        LAMMPS types matching ``species`` (ordered list of symbols).
        """
        (lx, ly, lz, xy, xz, yz), self._cell = lammps_cell(cell)
        # only atoms that can sit in this rank's LAMMPS subdomain in some pass (its block, widened by half a
        # stride <= a block, plus the cutoff): LAMMPS keeps those it owns and makes the ghosts itself
        n = np.asarray(decomp.global_shape, dtype=float)
        lo = np.asarray(decomp.local_start) / n
        hi = (np.asarray(decomp.local_start) + np.asarray(decomp.local_shape)) / n
        pad = pad_fractions(cell, params.max_cutoff(species)) + np.asarray(decomp.local_shape) / n
        near = atoms_near_box(scaled_positions, lo, hi, pad)
        self._ids = near + 1
        self._frac = np.asarray(scaled_positions, dtype=np.float64)[near]
        self._types = np.asarray(type_ids, dtype=np.int32)[near]
        self._natoms = len(scaled_positions)
        self._species, self._params, self._decomp = list(species), params, decomp
        px, py, pz = decomp.proc_grid
        cut = params.max_cutoff(species)
        lmp = self._lmp
        lmp.command("clear")
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map hash sort 0 0.0", "boundary p p p",
            f"processors {px} {py} {pz} map xyz",
            "region box prism 0 {} 0 {} 0 {} {} {} {} units box".format(*map(_num, (lx, ly, lz, xy, xz, yz))),
            f"create_box {len(species)} box",
            "mass * 1.0",
            f"pair_style zero {_num(cut)}", "pair_coeff * *",
            "neighbor 0.1 bin", "neigh_modify every 1 delay 0 check no",
            "thermo_style custom step", "thermo 0",
        ])

    def _compute_command(self, coarse_shape):
        p = self._params
        radii = " ".join(_num(p.radius(s)) for s in self._species)
        weights = " ".join(_num(p.weight(s)) for s in self._species)
        nx, ny, nz = coarse_shape
        return (f"compute mlsdesc all sna/grid/local grid {nx} {ny} {nz} {_num(p.rcutfac)} {_num(p.rfac0)} "
                f"{p.twojmax} {radii} {weights} rmin0 {_num(p.rmin0)} bzeroflag {p.bzeroflag} "
                f"quadraticflag {p.quadraticflag} switchflag {p.switchflag}")

    def compute_pass(self, plan, offset):
        """Descriptors of this rank's points of one sub-lattice pass. Collective.

        Returns (fine global indices (m, 3) int64, descriptors (m, K) float64).
        """
        from lammps import LMP_STYLE_LOCAL, LMP_TYPE_ARRAY
        lmp, decomp = self._lmp, self._decomp
        coarse = plan.coarse_shape(decomp.global_shape)
        shift = np.array(offset, dtype=float) / np.array(decomp.global_shape, dtype=float)
        frac = np.mod(self._frac - shift, 1.0)
        frac[frac >= 1.0] = 0.0
        xyz = frac @ self._cell
        lmp.command("delete_atoms group all")
        balance = []
        for axis, name in enumerate("xyz"):
            if decomp.proc_grid[axis] > 1:
                cuts = plan.cuts(decomp, axis, offset[axis])
                balance.append(f"{name} " + " ".join(_num(c) for c in cuts))
        if balance:
            lmp.command("balance 1.0 " + " ".join(balance))
        lmp.create_atoms(len(self._types), self._ids.tolist(), self._types.tolist(), xyz.ravel().tolist())
        created = int(lmp.get_natoms())
        if created != self._natoms:
            raise InputError(f"LAMMPS created {created} of {self._natoms} atoms (atoms outside the cell?)")
        lmp.command(self._compute_command(coarse))
        try:
            lmp.command("run 0 post no")
            rows = lmp.numpy.extract_compute("mlsdesc", LMP_STYLE_LOCAL, LMP_TYPE_ARRAY)
            if rows is None:
                rows = np.zeros((0, 6 + self._params.n_features))
            rows = np.array(rows, dtype=np.float64, copy=True)
        finally:
            lmp.command("uncompute mlsdesc")
        coarse_idx = np.rint(rows[:, :3]).astype(np.int64)
        return plan.fine_indices(coarse_idx, offset), rows[:, 6:]
