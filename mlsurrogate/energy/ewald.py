"""Ewald energy of point ions in a neutralising background, O(N log N). Stage: energy.

"Gaussian-ion Hartree" (../shared/reference/total-energy.md §4.4), Rydberg units, α = 1/(4σ²):

    E = (e2/2) Ω Σ_{G≠0} 4π |ρ_ion(G)|²/G²                 ρ_ion = Σ_i Z_i g_σ(r - τ_i), all FFT G
        - e2 Σ_i Z_i² / (2√π σ)                            self energy of the Gaussians
        - (e2/2) 4π σ² Q² / Ω                              neutralising background (QE's G = 0 term)
        + (e2/2) Σ_{i≠j, images} Z_i Z_j erfc(r/2σ)/r     point-ion correction, r < 12σ (neighbour search)

This equals QE's ``ewald`` (its α-independent value) without QE's O(N·N_G) structure factor and O(N²) pair
loop. The Gaussians are those of the core-charge step (one deposition, one FFT per species).
"""
import numpy as np
from scipy.special import erfc

from ..units import E2_RY

__all__ = ["ewald_energy", "neighbour_pairs", "REAL_SPACE_CUTOFF"]

#: Real-space cutoff in units of σ: erfc(6)/r ≈ 2e-17/r.
REAL_SPACE_CUTOFF = 12.0


def neighbour_pairs(cell, positions, rcut, centres):
    """Pairs (i, j, r) with i in ``centres``, j any atom or periodic image, 0 < r < rcut. Local.

    cell : (3, 3) rows are lattice vectors; positions : (n, 3) Cartesian, same length unit as rcut.
    Builds the images within rcut of the cell (a thin shell for large cells) and a k-d tree: O(N log N).
    """
    from scipy.spatial import cKDTree
    cell = np.asarray(cell, dtype=float)
    frac = np.mod(np.asarray(positions, dtype=float) @ np.linalg.inv(cell), 1.0)
    heights = abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    pad = rcut / heights                              # shell thickness in fractional units, per axis
    reach = np.ceil(pad).astype(int)
    ext_pos, ext_idx = [], []
    for shift in np.ndindex(*(2 * reach + 1)):
        s = np.asarray(shift) - reach
        f = frac + s
        keep = np.all((f > -pad) & (f < 1 + pad), axis=1)
        ext_pos.append(f[keep] @ cell)
        ext_idx.append(np.nonzero(keep)[0])
    ext_pos, ext_idx = np.concatenate(ext_pos), np.concatenate(ext_idx)
    centres = np.asarray(centres, dtype=np.int64)
    own = cKDTree(frac[centres] @ cell)
    pairs = own.sparse_distance_matrix(cKDTree(ext_pos), rcut, output_type="ndarray")
    pairs = pairs[pairs["v"] > 0.0]
    return centres[pairs["i"]], ext_idx[pairs["j"]], pairs["v"]


def ewald_energy(comm, pw, ion_g, charges, cell_bohr, positions_bohr, sigma):
    """Ewald energy in Ry. Collective.

    ion_g : ρ_ion(G) = Σ_t Z_t D_t(G) on this rank's reciprocal block; charges : (n,) valences Z_i.
    """
    charges = np.asarray(charges, dtype=float)
    g2 = np.where(pw.is_g0, 1.0, pw.g2)
    recip = 0.5 * E2_RY * pw.volume * 4 * np.pi * pw.gsum(np.where(pw.is_g0, 0.0, np.abs(ion_g) ** 2 / g2))
    total_q = charges.sum()
    self_term = -E2_RY * np.sum(charges ** 2) / (2 * np.sqrt(np.pi) * sigma)
    background = -0.5 * E2_RY * 4 * np.pi * sigma ** 2 * total_q ** 2 / pw.volume
    mine = np.arange(comm.rank, len(charges), comm.size)
    i, j, r = neighbour_pairs(cell_bohr, positions_bohr, REAL_SPACE_CUTOFF * sigma, mine)
    real = comm.allreduce(float(0.5 * E2_RY * np.sum(charges[i] * charges[j] * erfc(r / (2 * sigma)) / r)))
    return recip + self_term + background + real
