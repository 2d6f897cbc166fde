"""Block decomposition of the real-space grid over MPI ranks. Stage: decomposition.

The global grid (nx, ny, nz) is cut into a px x py x pz brick of blocks, one per rank, with the
remainder of each axis spread over the first blocks (the only place index ranges are computed).
Rank r sits at brick coordinates (cx, cy, cz) with x fastest: r = cx + px*(cy + py*cz), which is
LAMMPS' ``processors px py pz map xyz`` ordering. The brick is chosen to minimise the ghost-shell
volume of the blocks (which is what the descriptor stage pays for).
"""
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["blockdist", "factorisations", "GridDecomposition", "choose_proc_grid"]


def blockdist(n, parts, index):
    """(start, stop) of block ``index`` when ``n`` items are split into ``parts`` blocks. Local."""
    q, r = divmod(n, parts)
    start = index * q + min(index, r)
    return start, start + q + (1 if index < r else 0)


def factorisations(size):
    """All (px, py, pz) with px py pz = size."""
    for px in range(1, size + 1):
        if size % px:
            continue
        for py in range(1, size // px + 1):
            if (size // px) % py:
                continue
            yield px, py, size // (px * py)


def choose_proc_grid(global_shape, size, cell, halo):
    """Brick (px, py, pz) for ``size`` ranks minimising the largest block's ghost-shell volume. Local.

    cell : ndarray (3, 3), Å, rows are lattice vectors; halo : ghost-shell thickness, Å.
    Raises InputError when the grid has fewer points than needed to give every rank a block.
    """
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    widths = [volume / np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3])) for a in range(3)]
    best, best_cost = None, None
    for dims in factorisations(size):
        if any(p > n for p, n in zip(dims, global_shape)):
            continue
        extents = [widths[a] * -(-global_shape[a] // dims[a]) / global_shape[a] for a in range(3)]
        cost = np.prod([e + 2 * halo for e in extents])
        if best_cost is None or cost < best_cost - 1e-12:
            best, best_cost = dims, cost
    if best is None:
        raise InputError(
            f"grid {global_shape[0]}x{global_shape[1]}x{global_shape[2]} is too small for {size} MPI ranks: "
            "no split gives every rank at least one plane along each axis; use fewer ranks or a finer grid")
    return best


@dataclass(frozen=True)
class GridDecomposition:
    """Which block of the global grid this rank owns. Immutable; the same rule on every rank."""
    global_shape: tuple
    proc_grid: tuple
    rank: int

    @classmethod
    def create(cls, comm, global_shape, cell, halo):
        """Decompose ``global_shape`` over ``comm``. Local (deterministic, no communication)."""
        global_shape = tuple(int(n) for n in global_shape)
        if len(global_shape) != 3 or min(global_shape) < 1:
            raise InputError(f"grid must be three positive integers, got {global_shape}")
        dims = choose_proc_grid(global_shape, comm.Get_size(), cell, halo)
        return cls(global_shape, tuple(dims), comm.Get_rank())

    @property
    def size(self):
        return int(np.prod(self.proc_grid))

    def coords_of(self, rank):
        """Brick coordinates (cx, cy, cz) of ``rank`` (x fastest)."""
        px, py, _ = self.proc_grid
        return rank % px, (rank // px) % py, rank // (px * py)

    @property
    def coords(self):
        return self.coords_of(self.rank)

    def block_bounds(self, axis, index):
        """(start, stop) of block ``index`` along ``axis``."""
        return blockdist(self.global_shape[axis], self.proc_grid[axis], index)

    def block_starts(self, axis):
        """Start index of every block along ``axis``, ascending."""
        return [self.block_bounds(axis, i)[0] for i in range(self.proc_grid[axis])]

    def min_block(self, axis):
        """Smallest block length along ``axis`` over all ranks."""
        return self.global_shape[axis] // self.proc_grid[axis]

    @property
    def local_start(self):
        return tuple(self.block_bounds(a, c)[0] for a, c in enumerate(self.coords))

    @property
    def local_shape(self):
        return tuple(self.block_bounds(a, c)[1] - self.block_bounds(a, c)[0] for a, c in enumerate(self.coords))

    @property
    def local_slice(self):
        return tuple(slice(s, s + n) for s, n in zip(self.local_start, self.local_shape))

    @property
    def local_size(self):
        return int(np.prod(self.local_shape))

    @property
    def global_size(self):
        return int(np.prod(self.global_shape))

    def max_local_size(self):
        """Largest block (points) over all ranks."""
        return int(np.prod([-(-n // p) for n, p in zip(self.global_shape, self.proc_grid)]))

    def local_flat_index(self, ix, iy, iz):
        """C-order flat index into the local block for global grid indices (arrays). Local."""
        x0, y0, z0 = self.local_start
        _, ly, lz = self.local_shape
        return ((np.asarray(ix) - x0) * ly + (np.asarray(iy) - y0)) * lz + (np.asarray(iz) - z0)
