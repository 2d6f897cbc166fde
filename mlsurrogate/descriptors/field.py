"""Descriptors of a whole structure on the grid: a backend with the structure set, and the full field.

Shared by ``predict`` (pass by pass, into the network), ``descriptors`` and training (the full field).
Lengths in Å; descriptors dimensionless, (m, K) float64 per pass.
"""
from contextlib import contextmanager

import numpy as np

from ..structure.read import species_of
from .bispectrum import check_workload
from .backends import descriptor_backend

__all__ = ["open_descriptors", "compute_descriptor_field", "type_ids"]


@contextmanager
def open_descriptors(comm, backend, atoms, species, params, decomp, **options):
    """The ``backend`` ('native' or 'lammps') with ``atoms`` set, closed on exit. Collective over ``comm``.

    species : ordered symbols; type ids are 1 + their position. options : backend keywords (native:
    ``precision``).
    """
    _check_inputs(atoms, params)
    with descriptor_backend(backend)(comm, **options) as calc:
        calc.set_structure(atoms.cell.array, atoms.get_scaled_positions(wrap=True), type_ids(atoms, species),
                           species, params, decomp)
        yield calc


def type_ids(atoms, species):
    """(n,) int32 type of every atom: 1 + the position of its symbol in ``species``. Local."""
    from ase.data import atomic_numbers
    lookup = np.zeros(max(atoms.numbers.max(initial=0), max(atomic_numbers[s] for s in species)) + 1, dtype=np.int32)
    for i, s in enumerate(species):
        lookup[atomic_numbers[s]] = i + 1
    return lookup[atoms.numbers]


def compute_descriptor_field(comm, atoms, params, grid, backend, max_points_per_pass, sink, precision="float64",
                             species=None):
    """Descriptors of all grid points, pass by pass. Collective over ``comm``.

    ``sink(indices (m, 3), descriptors (m, K))`` is called on rank 0 with every rank's points (one
    pass of every rank at a time, so memory stays bounded). ``species`` defaults to the structure's,
    sorted. Returns (decomposition, plan, backend object) after closing it.
    """
    from ..decomposition.grid import GridDecomposition
    from ..decomposition.passes import plan_passes
    _check_inputs(atoms, params)
    species = species or species_of(atoms)
    decomp = GridDecomposition.create(comm, grid, atoms.cell.array, params.max_cutoff(species))
    plan = plan_passes(decomp, max_points_per_pass)
    options = {"precision": precision} if backend.startswith("native") else {}
    with open_descriptors(comm, backend, atoms, species, params, decomp, **options) as calc:
        for offset in plan.offsets:
            idx, desc = calc.compute_pass(plan, offset)
            _gather_to_root(comm, np.ascontiguousarray(idx, dtype=np.int64),
                            np.ascontiguousarray(desc, dtype=np.float64), sink)
    return decomp, plan, calc


def _check_inputs(atoms, params):
    """Positions and cutoffs the kernels can work with (finite; bounded neighbours). Local, raises InputError."""
    from ..structure.read import check_finite_geometry
    check_finite_geometry(atoms)
    check_workload(params, atoms)


def _gather_to_root(comm, idx, desc, sink):
    """Hand every rank's (idx, desc) to ``sink`` on rank 0, as raw buffers (no pickling). Collective."""
    counts = comm.gather(len(idx), root=0)
    if comm.rank != 0:
        if len(idx):
            comm.Send(idx, dest=0, tag=1)
            comm.Send(desc, dest=0, tag=2)
        return
    sink(idx, desc)
    for rank in range(1, comm.size):
        if counts[rank]:
            part_idx = np.empty((counts[rank], 3), dtype=np.int64)
            part_desc = np.empty((counts[rank], desc.shape[1]), dtype=np.float64)
            comm.Recv(part_idx, source=rank, tag=1)
            comm.Recv(part_desc, source=rank, tag=2)
            sink(part_idx, part_desc)
