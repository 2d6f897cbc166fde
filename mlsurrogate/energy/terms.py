"""The density-dependent energy terms, in QE's conventions (Rydberg, bohr). Stage: energy.

    F = E_band + (-TS) + E_H + E_xc + E_Ewald - ∫ n v_Hxc            (the Mermin free energy, QE's "!")

E_band and -TS come from the DOS (electronic/); this module adds, from the valence density n(r) on the
distributed grid (FFT layout of :class:`PlaneWaveGrid`):
  E_H = (Ω/2) Σ_{G≠0, sphere} e2·4π|n(G)|²/G²,  E_xc[n + n_core] (xc.py),  E_Ewald (ewald.py),
  -∫ n v_Hxc = -2 E_H - ∫ v_xc n     (∫ n v_H = 2 E_H exactly: v_H lives in the sphere, G = 0 excluded).
This module runs the terms in order on one plane-wave grid (hartree.py, xc.py, ewald.py hold the
physics); total.py converts them to eV and adds up F for results.json.
"""
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..parallel import agree
from ..timing import StageTimer
from ..units import BOHR_ANGSTROM
from .core_charge import core_density_g
from .ewald import REAL_SPACE_CUTOFF, ewald_energy
from .gaussians import deposit_gaussians
from .hartree import hartree_energy
from .plane_waves import PlaneWaveGrid
from .xc import xc_energy

__all__ = ["TERMS", "EnergyInputs", "energy_terms", "SIGMA_GRID_STEPS", "ewald_grid"]

TERMS = ("hartree", "xc", "ewald")
#: Width of the atom-centred Gaussians (core charge, Ewald) in grid steps (largest step of the grid).
SIGMA_GRID_STEPS = 2.0
#: Largest tolerated |Σ n dV - Σ Z| / Σ Z before a cell counts as charged (catches wrong units or valences;
#: DFT densities hold their electron count to ~1e-7).
NEUTRALITY_TOLERANCE = 1e-4
#: Ewald gets a grid of its own when the density grid's Gaussians have more real-space neighbours per atom
#: than this, and then one sized for EWALD_NEIGHBOURS (see ewald_needs_own_grid).
EWALD_MAX_NEIGHBOURS = 2000
EWALD_NEIGHBOURS = 600
#: Grid spacing (bohr) used when only the Ewald term is wanted (its value does not depend on it).
EWALD_ONLY_SPACING_BOHR = 0.5


def ewald_grid(cell_bohr):
    """A grid for an Ewald-only evaluation: about EWALD_ONLY_SPACING_BOHR along each lattice vector."""
    return tuple(max(4, int(np.ceil(np.linalg.norm(a) / EWALD_ONLY_SPACING_BOHR))) for a in np.asarray(cell_bohr))


@dataclass
class EnergyInputs:
    """What the energy stage needs besides the density. cell in Å (rows); frac (n, 3) fractional;
    species sorted symbols; types (n,) index of each atom's species. Per atom only positions and a small
    type index are held (no per-atom Python objects)."""
    cell_A: np.ndarray
    frac: np.ndarray
    species: list
    types: np.ndarray
    valences: dict                  # species -> Z (electrons)
    pseudos: dict = None            # species -> Pseudopotential (XC and core charge)
    functional: str = None          # "PZ" or "PBE" (from the pseudopotentials)
    # (species, qmax) -> CoreFormFactor, filled by core_form_factors(): tabulated once per run, shared by the
    # energy and the forces stages (the table costs ~0.05 s per species)
    form_factors: dict = field(default_factory=dict, repr=False, compare=False)

    def core_form_factors(self, species, qmax):
        """{species: CoreFormFactor up to qmax (1/bohr)} for ``species`` (those with a core charge)."""
        from .core_charge import CoreFormFactor
        out = {}
        for s in species:
            key = (s, float(qmax))
            if key not in self.form_factors:
                self.form_factors[key] = CoreFormFactor(self.pseudos[s], qmax)
            out[s] = self.form_factors[key]
        return out

    @property
    def cell_bohr(self):
        return np.asarray(self.cell_A, dtype=float) / BOHR_ANGSTROM

    @property
    def natoms(self):
        return len(self.types)

    def species_counts(self):
        """(n_species,) number of atoms of each species."""
        return np.bincount(self.types, minlength=len(self.species))

    def species_valences(self):
        """(n_species,) valence charge Z of each species (electrons)."""
        return np.array([self.valences[s] for s in self.species], dtype=float)

    def charges_of(self, atoms):
        """Valence charges (electrons) of the atoms with indices ``atoms``."""
        return self.species_valences()[self.types[atoms]]

    def total_charge(self):
        """Σ Z_i over all atoms (electrons)."""
        return float(np.sum(self.species_counts() * self.species_valences()))

    def atoms_of(self, species):
        """Ascending indices of the atoms of ``species``."""
        return np.flatnonzero(self.types == self.species.index(species))


def _gaussians_g(pw, inputs, species, sigma):
    out = {}
    for s in species:
        sel = inputs.atoms_of(s)
        block = deposit_gaussians(inputs.cell_bohr, pw.shape, pw.real_start, pw.real_shape, inputs.frac[sel],
                                  np.ones(len(sel)), sigma)
        out[s] = pw.forward(block)
    return out


def _neighbours_within(natoms, cell_bohr, radius_bohr):
    """Atoms (and images) within ``radius_bohr`` of an atom, on average."""
    return natoms / abs(np.linalg.det(cell_bohr)) * 4.0 / 3.0 * np.pi * radius_bohr ** 3


def _smooth_size(n):
    """Smallest m >= n whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = max(1, int(n))
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def ewald_layout(cell_bohr, natoms, shape):
    """(own grid?, σ in bohr, grid shape) of the Ewald term for a density grid ``shape``. Local.

    The density grid's Gaussians (σ = SIGMA_GRID_STEPS steps) serve when they have at most
    EWALD_MAX_NEIGHBOURS real-space neighbours per atom within 12 σ. On coarser grids (a test grid kept
    fixed while the cell grows, where those pairs grow as N²) Ewald gets a grid of its own, sized for
    ~EWALD_NEIGHBOURS neighbours: its points grow as N. The energy does not depend on σ.
    """
    cell_bohr = np.asarray(cell_bohr, dtype=float)
    lengths = np.linalg.norm(cell_bohr, axis=1)
    sigma = SIGMA_GRID_STEPS * float(np.max(lengths / np.asarray(shape)))
    if _neighbours_within(natoms, cell_bohr, REAL_SPACE_CUTOFF * sigma) <= EWALD_MAX_NEIGHBOURS:
        return False, sigma, tuple(shape)
    density = natoms / abs(np.linalg.det(cell_bohr))
    wanted = (EWALD_NEIGHBOURS / (density * 4.0 / 3.0 * np.pi)) ** (1.0 / 3.0) / REAL_SPACE_CUTOFF
    own = tuple(_smooth_size(np.ceil(SIGMA_GRID_STEPS * a / wanted)) for a in lengths)
    return True, SIGMA_GRID_STEPS * float(np.max(lengths / np.asarray(own))), own


def ewald_on_own_grid(comm, inputs, sigma, shape):
    """Ewald energy (Ry) with valence-weighted Gaussians of width ``sigma`` on a grid ``shape`` of its own
    (from :func:`ewald_layout`). Collective."""
    pw = PlaneWaveGrid(comm, shape, inputs.cell_bohr, 0.0)
    ion_g = None
    for s in inputs.species:
        sel = inputs.atoms_of(s)
        block = deposit_gaussians(inputs.cell_bohr, pw.shape, pw.real_start, pw.real_shape, inputs.frac[sel],
                                  np.full(len(sel), float(inputs.valences[s])), sigma)
        part = pw.forward(block)
        ion_g = part if ion_g is None else ion_g + part
    return ewald_energy(comm, pw, ion_g, inputs, sigma)


def energy_terms(pw, inputs, density=None, terms=TERMS, timings=None):
    """{term: Ry} for the requested ``terms``, plus 'electrons' and 'vtxc' when a density is given. Collective.

    density : this rank's real-space block (pw.real_shape) of the valence density, electrons/bohr³.
    timings : optional dict, filled with seconds per part (gaussians, hartree, xc, ewald).
    """
    comm = pw.comm
    clock = StageTimer(timings, cpu=False).lap
    terms = tuple(terms)
    out = {}
    steps = np.linalg.norm(inputs.cell_bohr, axis=1) / np.asarray(pw.shape)
    sigma = SIGMA_GRID_STEPS * float(steps.max())
    ewald_grid_own, ewald_sigma, ewald_shape = ewald_layout(inputs.cell_bohr, inputs.natoms, pw.shape)
    ewald_grid_own = ewald_grid_own and "ewald" in terms
    need = set()
    if "xc" in terms:
        need |= {s for s, pp in inputs.pseudos.items() if pp.core_charge is not None and s in inputs.species}
    if "ewald" in terms and not ewald_grid_own:
        need |= set(inputs.species)
    if density is not None:
        out["electrons"] = pw.rsum(density) * pw.dv
        if "ewald" in terms or "xc" in terms:
            ions = inputs.total_charge()
            agree(comm, abs(out["electrons"] - ions) <= NEUTRALITY_TOLERANCE * max(abs(ions), 1.0), InputError,
                  f"the cell is not neutral: the density holds {out['electrons']:.6f} electrons, the ions "
                  f"{ions:g} (check --density-units and the valences)")
    gauss = _gaussians_g(pw, inputs, sorted(need), sigma)
    clock("gaussians")
    if "ewald" in terms and ewald_grid_own:
        out["ewald"] = ewald_on_own_grid(comm, inputs, ewald_sigma, ewald_shape)
        clock("ewald")
    elif "ewald" in terms:
        ion_g = sum(inputs.valences[s] * gauss[s] for s in inputs.species)
        out["ewald"] = ewald_energy(comm, pw, ion_g, inputs, sigma)
        del ion_g
        clock("ewald")
    if "xc" in terms and density is not None:
        forms = inputs.core_form_factors([s for s in gauss if inputs.pseudos[s].core_charge is not None],
                                         np.sqrt(pw.ecutrho))
        core_g = core_density_g(pw, gauss, inputs.pseudos, sigma, forms)
    else:
        core_g = None
    del gauss                                   # ~8 bytes per grid point and species
    clock("xc")                                 # the core charge is part of the XC cost
    if density is not None:
        n_g = pw.forward(density)
        n_g[~pw.sphere] = 0.0
        if "hartree" in terms:
            out["hartree"] = hartree_energy(pw, n_g)
        clock("hartree")
        if "xc" in terms:
            out["xc"], out["vtxc"] = xc_energy(pw, n_g, core_g, inputs.functional)
            clock("xc")
    return out
