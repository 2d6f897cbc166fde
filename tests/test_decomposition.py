"""Grid decomposition and sub-lattice pass plans (pure index arithmetic)."""
from itertools import product

import numpy as np
import pytest

from conftest import BE2_CELL
from mlsurrogate.decomposition.grid import GridDecomposition, blockdist, choose_proc_grid
from mlsurrogate.decomposition.passes import plan_passes
from mlsurrogate.errors import InputError


class FakeComm:
    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


@pytest.mark.parametrize("n,parts", [(27, 2), (27, 4), (7, 3), (18, 18), (5, 1)])
def test_blockdist_covers_exactly(n, parts):
    blocks = [blockdist(n, parts, i) for i in range(parts)]
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    sizes = [b - a for a, b in blocks]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("size", [1, 2, 3, 4, 6, 8])
def test_every_point_owned_by_exactly_one_rank(size):
    shape = (18, 18, 27)
    owner = np.full(shape, -1)
    for r in range(size):
        d = GridDecomposition.create(FakeComm(r, size), shape, BE2_CELL, 4.67637)
        assert (owner[d.local_slice] == -1).all()
        owner[d.local_slice] = r
        assert d.coords_of(r) == d.coords
    assert (owner >= 0).all()


def test_brick_prefers_compact_blocks():
    cube = np.eye(3) * 20.0
    assert sorted(choose_proc_grid((100, 100, 100), 8, cube, 4.0)) == [2, 2, 2]
    slab = np.diag([10.0, 10.0, 80.0])
    assert choose_proc_grid((40, 40, 320), 4, slab, 4.0) == (1, 1, 4)


def test_grid_too_small_for_ranks():
    with pytest.raises(InputError, match="too small for 2 MPI ranks"):
        GridDecomposition.create(FakeComm(0, 2), (1, 1, 1), BE2_CELL, 4.0)


@pytest.mark.parametrize("size,max_points", [(1, 1000), (2, 500), (3, 2000), (4, 100000)])
def test_passes_cover_block_once(size, max_points):
    shape = (18, 18, 27)
    for r in range(size):
        d = GridDecomposition.create(FakeComm(r, size), shape, BE2_CELL, 4.67637)
        plan = plan_passes(d, max_points)
        seen = np.zeros(d.local_shape, dtype=int)
        largest = 0
        for off in plan.offsets:
            # the points LAMMPS gives this rank in this pass: coarse points inside the shifted cuts
            axes = []
            for a in range(3):
                n, s = shape[a], plan.strides[a]
                cuts = [0.0] + plan.cuts(d, a, off[a]) + [1.0]
                lo, hi = cuts[d.coords[a]], cuts[d.coords[a] + 1]
                coarse = [i for i in range(n // s) if lo <= i * s / n < hi]
                axes.append([i * s + off[a] for i in coarse])
            for ix, iy, iz in product(*axes):
                seen[ix - d.local_start[0], iy - d.local_start[1], iz - d.local_start[2]] += 1
            largest = max(largest, int(np.prod([len(a) for a in axes])))
        assert (seen == 1).all()
        # a pass holds at most ceil(block/stride) planes per axis: memory per pass is bounded by the plan
        assert largest <= np.prod([-(-n // s) for n, s in zip(d.local_shape, plan.strides)])
        if d.max_local_size() > max_points:
            assert plan.n_passes >= d.max_local_size() / max_points


def test_pass_plan_reaches_target_when_divisible():
    d = GridDecomposition.create(FakeComm(0, 1), (72, 72, 108), BE2_CELL, 4.67637)
    plan = plan_passes(d, 20000)
    assert d.local_size / plan.n_passes <= 20000
    assert all(n % s == 0 for n, s in zip(d.global_shape, plan.strides))
