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
        dd = np.meshgrid(*d, indexing="ij")
        values = field[np.ix_(*idx)] * stencil
        for k in range(3):                                  # d exp(-d.M.d)/du_k = 2 (M d)_k exp(...)
            grad_u[i, k] = 2.0 * np.sum(values * sum(metric[k, l] * dd[l] for l in range(3)))
    # u_k = shape_k frac_k, frac = τ @ inv(cell): d/dτ = inv(cell) @ (shape * d/du)
    return (grad_u * shape) @ np.linalg.inv(np.asarray(cell_bohr, dtype=float)).T
