"""Position gradient of the Ewald energy (energy/ewald.py), Ry/bohr. Stage: forces.

E = (e2/2) Ω Σ_{G≠0} 4π|ρ_ion(G)|²/G² + const + (e2/2) Σ_{i≠j} Z_i Z_j erfc(r/2σ)/r: the reciprocal part
through the deposited Gaussians (its potential on the grid, gathered with the Gaussians' derivatives),
the real-space part pair by pair over the owned atoms and their images. Collective.
"""
import numpy as np
from scipy.special import erfc

from ..energy.ewald import REAL_SPACE_CUTOFF
from ..energy.gaussians import deposit_gaussians
from ..energy.plane_waves import PlaneWaveGrid
from ..units import E2_RY
from .gaussian_forces import gaussian_position_gradient

__all__ = ["ewald_gradient"]


def _real_space_gradient(comm, cell, frac, charges, rcut, sigma):
    """(n, 3) d/dτ of (e2/2) Σ_{i≠j, images} Z_i Z_j erfc(r/2σ)/r, rows summed over ranks. Collective."""
    from scipy.spatial import cKDTree
    from ..decomposition.atoms import atoms_near_box, images_near_box, owned_atoms, owner_box, pad_fractions, wrapped
    lo, hi = owner_box(comm.size, comm.rank, cell, rcut)
    own = owned_atoms(frac, lo, hi)
    img, img_atom, _ = images_near_box(frac, atoms_near_box(frac, lo, hi, pad_fractions(cell, rcut)), lo, hi,
                                       pad_fractions(cell, rcut))
    grad = np.zeros((len(frac), 3))
    if len(own) and len(img):
        img_x = img @ cell
        tree = cKDTree(img_x)
        own_x = wrapped(frac[own]) @ cell
        pairs = cKDTree(own_x).sparse_distance_matrix(tree, rcut, output_type="ndarray")
        pairs = pairs[pairs["v"] > 0.0]
        r = pairs["v"]
        i, j = pairs["i"], pairs["j"]
        # d/dr [erfc(r/2σ)/r] = -erfc/r² - exp(-r²/4σ²)/(σ√π r)
        dphi = -erfc(r / (2 * sigma)) / r ** 2 - np.exp(-r * r / (4 * sigma * sigma)) / (sigma * np.sqrt(np.pi) * r)
        coef = E2_RY * charges[own][i] * charges[img_atom[j]] * dphi / r   # each pair appears twice: (e2/2)·2
        vec = own_x[i] - img_x[j]
        np.add.at(grad, own[i], coef[:, None] * vec)
    return comm.allreduce(grad)


def ewald_gradient(comm, inputs, sigma, shape):
    """(n, 3) dE_Ewald/dτ in Ry/bohr with Gaussians of width ``sigma`` on a grid ``shape`` (the energy's). Collective."""
    pw = PlaneWaveGrid(comm, shape, inputs.cell_bohr, 0.0)
    charges = inputs.species_valences()[inputs.types]
    ion = deposit_gaussians(inputs.cell_bohr, pw.shape, pw.real_start, pw.real_shape, inputs.frac, charges, sigma)
    ion_g = pw.forward(ion)
    g2 = np.where(pw.is_g0, 1.0, pw.g2)
    phi = pw.backward(np.where(pw.is_g0, 0.0, E2_RY * 4 * np.pi * ion_g / g2))     # dE_recip/dρ_ion(r) / dv
    grad = gaussian_position_gradient(inputs.cell_bohr, pw.shape, pw.real_start, pw.real_shape, inputs.frac,
                                      charges, sigma, phi * pw.dv)
    grad = comm.allreduce(grad)
    return grad + _real_space_gradient(comm, inputs.cell_bohr, inputs.frac, charges, REAL_SPACE_CUTOFF * sigma, sigma)
