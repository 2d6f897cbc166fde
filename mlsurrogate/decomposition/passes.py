"""Sub-lattice passes that bound the memory of the descriptor stage. Stage: decomposition.

LAMMPS computes all grid points of a rank at once and keeps (6 + K) doubles per point. To bound memory,
each rank's block is visited in passes: with strides (sx, sy, sz) dividing the grid, pass (rx, ry, rz)
computes the points with ix % sx == rx (etc.) on the coarse grid (nx/sx, ny/sy, nz/sz) after shifting
the atoms by -(rx/nx, ry/ny, rz/nz) in fractional coordinates. Every pass samples the whole cell
uniformly, so the first pass already gives a good estimate of the DOS (used for the density window).
"""
from dataclasses import dataclass
from itertools import product
import math

import numpy as np

__all__ = ["PassPlan", "plan_passes"]


def _divisors(n, limit):
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


@dataclass(frozen=True)
class PassPlan:
    """Strides of the sub-lattice passes; the same on every rank."""
    strides: tuple

    @property
    def n_passes(self):
        return int(np.prod(self.strides))

    @property
    def offsets(self):
        """All (rx, ry, rz) offsets, in a fixed order."""
        return list(product(*(range(s) for s in self.strides)))

    def coarse_shape(self, global_shape):
        return tuple(n // s for n, s in zip(global_shape, self.strides))

    def fine_indices(self, coarse, offset):
        """Global fine grid indices (m, 3) of the coarse indices (m, 3) of pass ``offset``: i = i' s + r."""
        return np.asarray(coarse, dtype=np.int64) * np.array(self.strides) + np.array(offset)

    def block_indices(self, decomp, offset):
        """Global fine grid indices (m, 3) int64 of this rank's block points in pass ``offset``. Local."""
        axes = []
        for a in range(3):
            start, n, s, r = decomp.local_start[a], decomp.local_shape[a], self.strides[a], offset[a]
            first = start + (r - start) % s        # the first i >= start with i = r (mod s)
            axes.append(np.arange(first, start + n, s, dtype=np.int64))
        grids = np.meshgrid(*axes, indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1)

    def cuts(self, decomp, axis, offset):
        """Fractional LAMMPS subdomain cuts along ``axis`` for a pass, between coarse planes.

        A fine point i = i' * s + r belongs to the block [start, stop) that contains it; in the shifted
        frame the coarse plane i' sits at fraction i' s / n, so the cut of a block starting at
        ``start`` lies halfway below the first coarse plane with i' s + r >= start.
        """
        n, s = decomp.global_shape[axis], self.strides[axis]
        cuts = []
        for start in decomp.block_starts(axis)[1:]:
            k = -(-(start - offset) // s)
            cuts.append((k * s - 0.5 * s) / n)
        return cuts


def plan_passes(decomp, max_points_per_pass):
    """Smallest set of strides so that no rank computes more than ``max_points_per_pass`` per pass.

    Strides must divide the grid and not exceed the smallest block along their axis. When no
    allowed combination reaches the target, the one with the most passes is used. Local.
    """
    needed = max(1, math.ceil(decomp.max_local_size() / max(1, int(max_points_per_pass))))
    options = [_divisors(n, decomp.min_block(a)) for a, n in enumerate(decomp.global_shape)]
    best, best_key = (1, 1, 1), None
    for strides in product(*options):
        count = int(np.prod(strides))
        reaches = count >= needed
        # prefer: reaching the target, then fewest passes, then the most even strides
        key = (0 if reaches else 1, count if reaches else -count, max(strides) - min(strides))
        if best_key is None or key < best_key:
            best, best_key = strides, key
    return PassPlan(tuple(best))
