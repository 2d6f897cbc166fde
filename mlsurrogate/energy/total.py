"""The total (Mermin) free energy from its terms, in eV for results.json. Stage: energy. Local.

    F = E_band + (-TS) + E_H + E_xc + E_Ewald - ∫ n v_Hxc            (QE's "!" total energy)
        + s² D(E_F)/2                  (only for an LDOS broadened by a Gaussian of std s: its s -> 0 extrapolation)
        + Δ(E_band - TS)_screening     (only with the macroscopic screening, screening.py)

E_band, -TS and the broadening correction (eV) come from the DOS (electronic/); the other terms (Ry) from terms.py.
"""
from ..units import RYDBERG_EV

__all__ = ["energies_ev", "total_energy_ev", "energy_results"]


def energies_ev(terms_ry):
    """results.json keys (eV) for the terms present."""
    names = {"hartree": "hartree_energy_eV", "xc": "xc_energy_eV", "ewald": "ewald_energy_eV"}
    out = {key: terms_ry[t] * RYDBERG_EV for t, key in names.items() if t in terms_ry}
    if "hartree" in terms_ry and "vtxc" in terms_ry:
        out["e_rho_times_v_hxc_eV"] = (-2.0 * terms_ry["hartree"] - terms_ry["vtxc"]) * RYDBERG_EV
    return out


def total_energy_ev(band_energy_ev, entropy_ev, terms_ev, natoms, broadening_correction_ev=0.0,
                    screening_correction_ev=None):
    """total_energy_eV, total_energy_per_atom_eV, broadening_correction_eV and (when given)
    screening_correction_eV (both included in the total), or {} when a term is missing."""
    keys = ("hartree_energy_eV", "xc_energy_eV", "ewald_energy_eV", "e_rho_times_v_hxc_eV")
    if band_energy_ev is None or entropy_ev is None or any(k not in terms_ev for k in keys):
        return {}
    total = band_energy_ev + entropy_ev + sum(terms_ev[k] for k in keys) + broadening_correction_ev
    out = {"broadening_correction_eV": float(broadening_correction_ev)}
    if screening_correction_ev is not None:
        total += screening_correction_ev
        out["screening_correction_eV"] = float(screening_correction_ev)
    return {"total_energy_eV": total, "total_energy_per_atom_eV": total / natoms, **out}


def energy_results(terms_ry, band_energy_ev, entropy_ev, natoms, broadening_correction_ev=0.0,
                   screening_correction_ev=None):
    """The results.json energy keys: the terms and (when all are there) the total in eV, and
    ``energies_Ry`` (the terms, and the total, in Ry for comparison with QE)."""
    out = energies_ev(terms_ry)
    out.update(total_energy_ev(band_energy_ev, entropy_ev, out, natoms, broadening_correction_ev,
                               screening_correction_ev))
    out["energies_Ry"] = {k: v for k, v in terms_ry.items() if k != "electrons"}
    if "total_energy_eV" in out:
        out["energies_Ry"]["total"] = out["total_energy_eV"] / RYDBERG_EV
    return out
