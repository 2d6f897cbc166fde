"""Ewald energy of point ions in a neutralising background, O(N log N). Stage: energy.

"Gaussian-ion Hartree" (../shared/reference/total-energy.md §4.4), Rydberg units, α = 1/(4σ²):

    E = (e2/2) Ω Σ_{G≠0} 4π |ρ_ion(G)|²/G²                 ρ_ion = Σ_i Z_i g_σ(r - τ_i), all FFT G
        - e2 Σ_i Z_i² / (2√π σ)                            self energy of the Gaussians
        - (e2/2) 4π σ² Q² / Ω                              neutralising background (QE's G = 0 term)
        + (e2/2) Σ_{i≠j, images} Z_i Z_j erfc(r/2σ)/r     point-ion correction, r < 12σ (owned atoms x ghosts)

This equals QE's ``ewald`` (its α-independent value) without QE's O(N·N_G) structure factor and O(N²) pair
loop; every rank sums the pairs of the atoms it owns (O(N/P + ghosts), pairs in bounded chunks). The
Gaussians are those of the core-charge step (one deposition, one FFT per species).
"""
import numpy as np
from scipy.special import erfc

from ..units import E2_RY

__all__ = ["ewald_energy", "real_space_sum", "REAL_SPACE_CUTOFF"]

#: Real-space cutoff in units of σ: erfc(6)/r ≈ 2e-17/r.
REAL_SPACE_CUTOFF = 12.0


#: Atom pairs evaluated at once by one rank (i, j, r: 24 bytes each), bounding the real-space sum's memory.
PAIRS_PER_CHUNK = 1 << 21


def real_space_sum(comm, cell, frac, charge_of, rcut, sigma):
    """Σ_{i, j/images, 0 < r < rcut} Z_i Z_j erfc(r/2σ)/r over all atoms (each pair twice). Collective.

    cell : (3, 3) rows, bohr; frac : (n, 3) fractional positions; charge_of(indices) -> valences. Each rank
    takes the atoms it owns (``owner_box``) and the periodic images within ``rcut`` of its box: O(N/P +
    ghosts) memory; pairs are built and consumed in chunks of at most ~PAIRS_PER_CHUNK.
    """
    from scipy.spatial import cKDTree
    from ..decomposition.atoms import (atoms_near_box, images_near_box, owned_atoms, owner_box, pad_fractions,
                                       wrapped)
    cell = np.asarray(cell, dtype=float)
    lo, hi = owner_box(comm.size, comm.rank, cell, rcut)
    pad = pad_fractions(cell, rcut)
    own = owned_atoms(frac, lo, hi)
    img, img_atom, _ = images_near_box(frac, atoms_near_box(frac, lo, hi, pad), lo, hi, pad)
    total = 0.0
    if len(own) and len(img):
        tree = cKDTree(img @ cell)
        img_charge = charge_of(img_atom)
        density = len(frac) / abs(np.linalg.det(cell))
        per_atom = max(1.0, density * 4.0 / 3.0 * np.pi * rcut ** 3)
        chunk = int(max(1, min(len(own), PAIRS_PER_CHUNK // per_atom)))
        for start in range(0, len(own), chunk):
            mine = own[start:start + chunk]
            pairs = cKDTree(wrapped(frac[mine]) @ cell).sparse_distance_matrix(tree, rcut, output_type="ndarray")
            pairs = pairs[pairs["v"] > 0.0]
            r = pairs["v"]
            total += float(np.sum(charge_of(mine)[pairs["i"]] * img_charge[pairs["j"]] * erfc(r / (2 * sigma)) / r))
    return comm.allreduce(total)


def ewald_energy(comm, pw, ion_g, inputs, sigma):
    """Ewald energy in Ry. Collective.

    ion_g : ρ_ion(G) = Σ_t Z_t D_t(G) on this rank's reciprocal block; inputs : :class:`EnergyInputs`
    (cell, fractional positions, valences per atom by species).
    """
    g2 = np.where(pw.is_g0, 1.0, pw.g2)
    recip = 0.5 * E2_RY * pw.volume * 4 * np.pi * pw.gsum(np.where(pw.is_g0, 0.0, np.abs(ion_g) ** 2 / g2))
    counts, z = inputs.species_counts(), inputs.species_valences()
    total_q = float(np.sum(counts * z))
    self_term = -E2_RY * float(np.sum(counts * z ** 2)) / (2 * np.sqrt(np.pi) * sigma)
    background = -0.5 * E2_RY * 4 * np.pi * sigma ** 2 * total_q ** 2 / pw.volume
    real = 0.5 * E2_RY * real_space_sum(comm, inputs.cell_bohr, inputs.frac, inputs.charges_of,
                                        REAL_SPACE_CUTOFF * sigma, sigma)
    return recip + self_term + background + real
