"""Gradient of Σ_r φ(r) Σ_i w_i g_σ(r - τ_i) with respect to the atom positions τ_i. Stage: forces.

The transpose of ``energy/gaussians.deposit_gaussians``: the same truncated stencils, differentiated with
respect to the atom's position. Local (this rank's block); callers sum over ranks.
"""
import numpy as np

from ..energy.gaussians import atom_stencils, stencil_geometry

__all__ = ["gaussian_position_gradient"]


def gaussian_position_gradient(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma, field):
    """(n, 3) d/dτ_i of Σ_{r in block} field(r) w_i g_σ(r - τ_i), Cartesian, [field]·1/bohr⁴ (g is 1/bohr³). Local.

    field : (local_shape) float64 on the block [start, start+local_shape) of the grid ``shape``.
    """
    shape = np.asarray(shape)
    metric = stencil_geometry(cell_bohr, shape, sigma)[0]
    grad_u = np.zeros((len(frac_positions), 3))            # d/du, u = fractional position x grid points
    for i, d, idx, stencil in atom_stencils(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma):
        values = field[np.ix_(*idx)] * stencil
        # d exp(-d.M.d)/du_k = 2 (M d)_k exp(...): needs the first moments Σ values d_l, each from the
        # values summed over the other two axes (no 3-D offset arrays)
        moments = np.array([values.sum(axis=(1, 2)) @ d[0], values.sum(axis=(0, 2)) @ d[1],
                            values.sum(axis=(0, 1)) @ d[2]])
        grad_u[i] = 2.0 * (metric @ moments)
    # u_k = shape_k frac_k, frac = τ @ inv(cell): d/dτ = inv(cell) @ (shape * d/du)
    return (grad_u * shape) @ np.linalg.inv(np.asarray(cell_bohr, dtype=float)).T
