"""Gradient of Σ_r φ(r) Σ_i w_i g_σ(r - τ_i) with respect to the atom positions τ_i. Stage: forces.

The transpose of ``energy/gaussians.deposit_gaussians``: the same truncated stencils, differentiated with
respect to the atom's position. Local (this rank's block); callers sum over ranks.
"""
import numpy as np

from ..energy.gaussians import TRUNCATION, _axis_indices, _touching

__all__ = ["gaussian_position_gradient"]


def gaussian_position_gradient(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma, field):
    """(n, 3) d/dτ_i of Σ_{r in block} field(r) w_i g_σ(r - τ_i), Cartesian, [field]·1/bohr⁴ (g is 1/bohr³). Local.

    field : (local_shape) float64 on the block [start, start+local_shape) of the grid ``shape``.
    """
    cell = np.asarray(cell_bohr, dtype=float)
    shape = np.asarray(shape)
    steps = cell / shape[:, None]
    metric = steps @ steps.T / (2 * sigma * sigma)
    recip = np.linalg.inv(cell).T
    half = TRUNCATION * sigma * np.linalg.norm(recip, axis=1) * shape
    norm = (2 * np.pi * sigma * sigma) ** -1.5
    frac_positions = np.asarray(frac_positions, dtype=float)
    weights = np.asarray(weights, dtype=float)
    grad_u = np.zeros((len(frac_positions), 3))            # d/du, u = fractional position x grid points
    touching = _touching(frac_positions, shape, start, local_shape, half)
    for i in touching:
        u = np.mod(frac_positions[i], 1.0) * shape
        axes = [_axis_indices(u[k], half[k], shape[k], start[k], local_shape[k]) for k in range(3)]
        if any(len(d) == 0 for d, _ in axes):
            continue
        d = [a[0] for a in axes]
        dd = np.meshgrid(*d, indexing="ij")
        q = sum(metric[a, b] * dd[a] * dd[b] for a in range(3) for b in range(3))
        stencil = weights[i] * norm * np.exp(-q)
        idx = [a[1] for a in axes]
        values = field[np.ix_(*idx)] * stencil
        for k in range(3):                                  # d exp(-d.M.d)/du_k = 2 (M d)_k exp(...)
            grad_u[i, k] = 2.0 * np.sum(values * sum(metric[k, l] * dd[l] for l in range(3)))
    # u_k = shape_k frac_k, frac = τ @ inv(cell): d/dτ = inv(cell) @ (shape * d/du)
    return (grad_u * shape) @ np.linalg.inv(cell).T
