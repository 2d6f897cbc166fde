"""Normalised Gaussians centred on the atoms, sampled on a rank's block of the periodic grid. Stage: energy.

g_σ(r) = (2πσ²)^{-3/2} exp(-|r|²/2σ²), summed over atoms and periodic images, truncated where it is below
exp(-TRUNCATION²/2) ≈ 3e-18 of its peak. Cost: O(atoms touching the block × (2·TRUNCATION·σ/h)³), no
pair loop and no structure factor. The Gaussian is written per lattice axis: with δ_k the offset from
the atom in grid steps along axis k, |r|² = Σ_kl A_kl δ_k δ_l (A_kl = a_k·a_l / n_k n_l), so the 3-D stencil
is a product of three 1-D and (for oblique axes) up to three 2-D factors: no 3-D exponentials. Atoms whose
stencil misses the block are dropped by one vectorised scan before the loop: O(N/P + ghosts) per rank.
"""
import numpy as np

__all__ = ["deposit_gaussians", "atom_stencils", "atom_windows", "stencil_geometry", "TRUNCATION"]

#: Stencil half-width in units of σ.
TRUNCATION = 9.0


def _axis_indices(u, half, n, start, count):
    """Window indices along one axis that land in [start, start+count) after periodic wrap."""
    m = np.arange(int(np.ceil(u - half)), int(np.floor(u + half)) + 1)
    local = np.mod(m, n) - start
    keep = (local >= 0) & (local < count)
    return m[keep] - u, local[keep]


def _touching(frac, shape, start, local_shape, half, chunk=1 << 16):
    """Ascending indices of the atoms whose stencil reaches the block (vectorised, in chunks: O(N) time,
    O(result) memory; the loop over atoms then runs over O(N/P + ghosts) atoms only)."""
    out = []
    for c in range(0, len(frac), chunk):
        u = np.mod(frac[c:c + chunk], 1.0) * shape
        ok = np.ones(len(u), dtype=bool)
        for k in range(3):
            reach = local_shape[k] - 1 + 2 * (half[k] + 1)
            if reach < shape[k]:
                ok &= np.mod(u[:, k] - (start[k] - half[k] - 1), shape[k]) <= reach
        out.append(c + np.flatnonzero(ok))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def stencil_geometry(cell_bohr, shape, sigma):
    """(metric (3, 3) = A_kl / 2σ² in grid steps, window half-widths (3,) in grid steps, norm (2πσ²)^{-3/2},
    oblique axis pairs) of the Gaussians on the grid ``shape`` of ``cell_bohr`` (rows, bohr). Local."""
    cell = np.asarray(cell_bohr, dtype=float)
    shape = np.asarray(shape)
    steps = cell / shape[:, None]
    metric = steps @ steps.T / (2 * sigma * sigma)          # A_kl / 2σ²
    recip = np.linalg.inv(cell).T                            # rows b_k / 2π
    half = TRUNCATION * sigma * np.linalg.norm(recip, axis=1) * shape   # window half-width, grid steps
    pairs = [(a, b) for a, b in ((0, 1), (0, 2), (1, 2)) if abs(metric[a, b]) > 1e-14 * metric[a, a]]
    return metric, half, (2 * np.pi * sigma * sigma) ** -1.5, pairs


def atom_windows(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma):
    """Per atom whose stencil reaches the block [start, start+local_shape) of the grid ``shape``: yields
    (atom index, offsets d (3 arrays, grid steps from the atom), block indices (3 arrays), weight w_i).
    Local; O(N/P + ghosts) atoms. :func:`atom_stencils` adds the 3-D stencil."""
    shape = np.asarray(shape)
    half = stencil_geometry(cell_bohr, shape, sigma)[1]
    frac_positions = np.asarray(frac_positions, dtype=float)
    touching = _touching(frac_positions, shape, start, local_shape, half)
    u_all = np.mod(frac_positions[touching], 1.0) * shape
    for i, u, w in zip(touching, u_all, np.asarray(weights, dtype=float)[touching]):
        axes = [_axis_indices(u[k], half[k], shape[k], start[k], local_shape[k]) for k in range(3)]
        if any(len(d) == 0 for d, _ in axes):
            continue
        yield i, [a[0] for a in axes], [a[1] for a in axes], w


def atom_stencils(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma):
    """Per atom whose stencil reaches the block [start, start+local_shape) of the grid ``shape``: yields
    (atom index, offsets d (3 arrays, grid steps from the atom), block indices (3 arrays), w_i g_σ on them
    (the 3-D stencil, 1/bohr³ times the weight's unit)). Local; O(N/P + ghosts) atoms."""
    metric, half, norm, pairs = stencil_geometry(cell_bohr, np.asarray(shape), sigma)
    for i, d, idx, w in atom_windows(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma):
        stencil = (w * norm) * np.exp(-metric[0, 0] * d[0] ** 2)[:, None, None] \
            * np.exp(-metric[1, 1] * d[1] ** 2)[None, :, None] * np.exp(-metric[2, 2] * d[2] ** 2)[None, None, :]
        for a, b in pairs:
            cross = np.exp(-2 * metric[a, b] * np.multiply.outer(d[a], d[b]))
            stencil *= np.expand_dims(cross, 3 - a - b)
        yield i, d, idx, stencil


def deposit_gaussians(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma, out=None):
    """Σ_i w_i g_σ(r - τ_i) on the block [start, start+local_shape) of the grid ``shape``. Local.

    cell_bohr : (3, 3) rows are lattice vectors; frac_positions : (n, 3); weights : (n,); sigma in bohr.
    Returns ``out`` (local_shape, float64, 1/bohr³ times the weights' unit), added to if given.
    """
    out = np.zeros(tuple(local_shape)) if out is None else out
    for _, _, idx, stencil in atom_stencils(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma):
        if all(len(np.unique(i)) == len(i) for i in idx):
            out[np.ix_(*idx)] += stencil
        else:                                               # the window wraps onto itself (small cells)
            np.add.at(out, np.ix_(*idx), stencil)
    return out
