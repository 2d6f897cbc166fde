"""The energy stage, shared by ``predict`` and ``evaluate``: checks before the expensive work, then the terms
and the total free energy from a density.

Collective over ``comm``. In ``predict`` the density moves once from the descriptor bricks to the FFT layout
(8 B/point); ``evaluate`` reads it in the FFT layout directly.
"""
from dataclasses import dataclass
import os

from ..errors import InputError, ModelError
from ..structure.read import species_of
from ..units import ANGSTROM3_PER_BOHR3, BOHR_ANGSTROM, RYDBERG_EV
from .plane_waves import PlaneWaveGrid, check_grid
from .redistribute import redistribute
from .setup import energy_inputs, load_pseudopotentials
from .terms import TERMS, EnergyInputs, energy_terms
from .xc import functional_name
from .total import energy_results

__all__ = ["EnergySettings", "EnergyPlan", "plan_energy", "prediction_energy", "density_energy"]


@dataclass(frozen=True)
class EnergySettings:
    """Where the energy stage finds its inputs. pseudo_dir: UPF folder (None: the model's folder);
    pseudo_files: {symbol: UPF file name} overriding the model's; ecutrho_ry: None = the model's."""
    pseudo_dir: str = None
    pseudo_files: dict = None
    ecutrho_ry: float = None


@dataclass
class EnergyPlan:
    inputs: EnergyInputs
    ecutrho_ry: float


def plan_energy(comm, atoms, model, grid, settings=EnergySettings()):
    """Find and read the UPFs, check them against the model and the grid. Collective; raises on every rank."""
    files = dict(model.pseudopotentials or {})
    files.update(settings.pseudo_files or {})
    species = species_of(atoms)
    missing = [s for s in species if not files.get(s)]
    if missing:
        raise InputError(f"the model names no pseudopotential for {', '.join(missing)}: pass --pseudo "
                         f"{missing[0]}=FILE (or --no-energy)")
    pseudo_dir = settings.pseudo_dir or (os.path.dirname(model.source) if model.source else os.getcwd())
    pseudos = load_pseudopotentials(comm, pseudo_dir, {s: files[s] for s in species})
    inputs = energy_inputs(atoms, pseudos)
    for s in species:
        if abs(pseudos[s].z_valence - model.electrons_per_atom[s]) > 1e-8:
            raise ModelError(f"the model counts {model.electrons_per_atom[s]:g} electrons per {s} atom, its "
                             f"pseudopotential {os.path.basename(pseudos[s].path)} {pseudos[s].z_valence:g}")
    if model.xc_functional and functional_name(model.xc_functional) != inputs.functional:
        raise ModelError(f"the model was trained on {model.xc_functional} data, the pseudopotentials are "
                         f"{inputs.functional}: pass --pseudo for the model's functional")
    ecut = settings.ecutrho_ry if settings.ecutrho_ry is not None else model.ecutrho_ry
    if not ecut:
        raise InputError("the model does not state ecutrho: pass --ecutrho RY (QE's density cutoff)")
    check_grid(grid, inputs.cell_bohr, float(ecut))
    return EnergyPlan(inputs=inputs, ecutrho_ry=float(ecut))


def prediction_energy(comm, plan, grid, decomp, density, band_energy_ev, entropy_ev, natoms,
                      broadening_correction_ev=0.0, dos_fermi=None, screening_cutoff_inv_a=None):
    """results.json energy keys (eV) from the predicted density (this rank's block of ``decomp``, 1/Å³) and the
    DOS terms (eV; broadening_correction_ev: see electronic.dos.broadening_correction). Collective.

    With ``screening_cutoff_inv_a`` (G_c, 1/Å) and ``dos_fermi`` (∂n/∂μ on the same block, 1/(eV Å³)) the
    density is first screened at long wavelengths (screening.py); results then hold ``screening`` and
    ``screening_correction_eV``, and ``screened_density`` (1/Å³, this rank's ``decomp`` block) is returned
    in the dict for --save density (popped by the caller)."""
    pw = PlaneWaveGrid(comm, grid, plan.inputs.cell_bohr, plan.ecutrho_ry)
    density = redistribute(comm, density * ANGSTROM3_PER_BOHR3, decomp.local_start, pw.real_start, pw.real_shape)
    screening = None
    if screening_cutoff_inv_a is not None:
        from .screening import ions_on_grid, screen_density
        dos = redistribute(comm, dos_fermi * (RYDBERG_EV * ANGSTROM3_PER_BOHR3), decomp.local_start, pw.real_start,
                           pw.real_shape)
        cutoff = screening_cutoff_inv_a * BOHR_ANGSTROM
        _, ion_g = ions_on_grid(pw, plan.inputs, cutoff)
        screening = screen_density(pw, density, dos, ion_g, cutoff)
        density = screening.density
        del dos, ion_g
    out = density_energy(pw, plan.inputs, density, band_energy_ev, entropy_ev,
                         broadening_correction_ev=broadening_correction_ev,
                         screening_correction_ev=None if screening is None else screening.correction_ry * RYDBERG_EV)
    if screening is not None:
        out["screening"] = screening.to_dict(screening_cutoff_inv_a)
        out["screened_density"] = redistribute(comm, density / ANGSTROM3_PER_BOHR3, pw.real_start, decomp.local_start,
                                               decomp.local_shape)
    out["ecutrho_Ry"] = plan.ecutrho_ry
    out["functional"] = plan.inputs.functional
    out["pseudopotentials"] = {s: os.path.abspath(pp.path) for s, pp in plan.inputs.pseudos.items()}
    out["density_integral_electrons"] = out.pop("electrons")
    return out


def density_energy(pw, inputs, density, band_energy_ev=None, entropy_ev=None, terms=TERMS, broadening_correction_ev=0.0,
                   screening_correction_ev=None):
    """results.json energy keys (eV; ``energies_Ry``) of ``terms``, plus 'electrons' (the density's integral)
    when a density is given; the total free energy when all terms, E_band and -TS are there. Collective.

    density : this rank's block (pw.real_shape) of the valence density in electrons/bohr³, or None (Ewald only).
    """
    terms_ry = energy_terms(pw, inputs, density, terms)
    out = energy_results(terms_ry, band_energy_ev, entropy_ev, inputs.natoms, broadening_correction_ev,
                         screening_correction_ev)
    if "electrons" in terms_ry:
        out["electrons"] = terms_ry["electrons"]
    return out
