"""Physical constants and unit conventions: the only place numbers like these live.

Interface units (CLI, results.json, HDF5): eV, Å, K, elementary charge (ASE / LAMMPS ``units metal``).
Internal energy-term units (Quantum ESPRESSO's): Rydberg and bohr.

All constants are CODATA 2018, as in Quantum ESPRESSO's ``Modules/constants.f90`` (QE >= 6.6), so that
energy terms reproduce QE to ~1e-8 relative. ASE's ``ase.units`` default is CODATA 2014 (8e-9 relative
difference); we never mix the two.
"""

__all__ = [
    "BOHR_ANGSTROM", "RYDBERG_EV", "HARTREE_EV", "KB_EV_PER_K", "ANGSTROM3_PER_BOHR3",
    "E2_RY", "kelvin_to_ev", "ev_to_kelvin",
]

#: Bohr radius in Å (CODATA 2018; QE ``BOHR_RADIUS_ANGS``).
BOHR_ANGSTROM = 0.529177210903
#: Rydberg energy in eV (CODATA 2018; QE ``RYTOEV``).
RYDBERG_EV = 13.605693122994
#: Hartree energy in eV.
HARTREE_EV = 2.0 * RYDBERG_EV
#: Boltzmann constant in eV/K (exact in SI since 2019: 1.380649e-23 J/K / 1.602176634e-19 C).
KB_EV_PER_K = 1.380649e-23 / 1.602176634e-19
#: Volume of one bohr³ in Å³.
ANGSTROM3_PER_BOHR3 = BOHR_ANGSTROM ** 3
#: e² in Rydberg atomic units (QE ``e2``): the Coulomb energy of two unit charges 1 bohr apart is 2 Ry.
E2_RY = 2.0


def kelvin_to_ev(temperature_k):
    """Thermal energy k_B·T in eV for a temperature in K."""
    return KB_EV_PER_K * temperature_k


def ev_to_kelvin(energy_ev):
    """Temperature in K whose k_B·T equals ``energy_ev`` (eV)."""
    return energy_ev / KB_EV_PER_K
