"""Gradient of Σ_r φ(r) Σ_i w_i g_σ(r - τ_i) with respect to the atom positions τ_i. Stage: forces.

The transpose of ``energy/gaussians.deposit_gaussians``: the same truncated stencils, differentiated with
respect to the atom's position. Local (this rank's block); callers sum over ranks. Per atom the work is one
gather of its window and one matrix product along an axis that is in no oblique pair (any cell but a fully
triclinic one); 2-D arrays after that.
"""
import numpy as np

from ..energy.gaussians import atom_stencils, atom_windows, stencil_geometry

__all__ = ["gaussian_position_gradient"]


def gaussian_position_gradient(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma, field):
    """(n, 3) d/dτ_i of Σ_{r in block} field(r) w_i g_σ(r - τ_i), Cartesian, [field]·1/bohr⁴ (g is 1/bohr³). Local.

    field : (local_shape) float64 on the block [start, start+local_shape) of the grid ``shape``.
    """
    shape = np.asarray(shape)
    metric, _, norm, pairs = stencil_geometry(cell_bohr, shape, sigma)
    grad_u = np.zeros((len(frac_positions), 3))            # d/du, u = fractional position x grid points
    # d exp(-d.M.d)/du_k = 2 (M d)_k exp(...): needs the first moments Σ field·stencil·d_k
    free = [k for k in (2, 1, 0) if all(k not in p for p in pairs)]
    if not free:                                            # every axis pair oblique: the full 3-D stencil
        for i, d, idx, stencil in atom_stencils(cell_bohr, shape, start, local_shape, frac_positions, weights,
                                                sigma):
            values = field[np.ix_(*idx)] * stencil
            moments = np.array([values.sum(axis=(1, 2)) @ d[0], values.sum(axis=(0, 2)) @ d[1],
                                values.sum(axis=(0, 1)) @ d[2]])
            grad_u[i] = 2.0 * (metric @ moments)
    else:
        # an axis f in no oblique pair: the stencil is g_f(d_f) times a 2-D factor, so the field is contracted
        # along f first (one matrix product with [g_f, g_f d_f]) and the rest is 2-D: no 3-D products
        f = free[0]
        a, b = [k for k in range(3) if k != f]
        cross_ab = (a, b) in pairs
        for i, d, idx, w in atom_windows(cell_bohr, shape, start, local_shape, frac_positions, weights, sigma):
            g = [np.exp(-metric[k, k] * d[k] ** 2) for k in range(3)]
            block = np.moveaxis(field[np.ix_(*idx)], f, 2)  # (a, b, f)
            v = block @ np.stack([g[f], g[f] * d[f]], axis=1)   # (a, b, 2): Σ_f field g_f, Σ_f field g_f d_f
            s2 = (w * norm) * np.multiply.outer(g[a], g[b])
            if cross_ab:
                s2 *= np.exp(-2 * metric[a, b] * np.multiply.outer(d[a], d[b]))
            v0 = v[..., 0] * s2
            moments = np.empty(3)
            moments[a] = v0.sum(axis=1) @ d[a]
            moments[b] = v0.sum(axis=0) @ d[b]
            moments[f] = float(np.sum(v[..., 1] * s2))
            grad_u[i] = 2.0 * (metric @ moments)
    # u_k = shape_k frac_k, frac = τ @ inv(cell): d/dτ = inv(cell) @ (shape * d/du)
    return (grad_u * shape) @ np.linalg.inv(np.asarray(cell_bohr, dtype=float)).T
