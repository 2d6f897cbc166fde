"""Basal stacking-fault (I2) energy of an hcp metal vs cell size, the workflow of Fiedler et al. 2023, Fig. 1.

Size K is the hcp cell repeated K x K in the basal plane and 2K along c (4 K³ atoms, 4K layers, one I2
fault per periodic faulted cell; geometry in ``structure/hcp.py``). Perfect and faulted cells share the
grid (the model's spacing applied to the perfect cell), the atom order and, with ``rattle``, the
displacements. Energies eV, lengths Å, γ in mJ/m².

  ΔF = F_faulted - F_perfect,   γ = ΔF / (n_faults · A),   A = K² a² √3/2
  fit: ΔF/N = a + b N^(-1/3)  (for K x K x 2K cells ΔF/N = γ a²√3 4^(1/3)/8 · N^(-1/3) exactly, so a = 0 and
  γ_fit = 8 b / (a_lat² √3 4^(1/3)) when the fault energy does not depend on the size)

Convergence: γ is flagged as not converged with size when the last two sizes differ by more than
``GAMMA_TOLERANCE_MJ_M2``; the plane-averaged excess charge per fault and the Hartree part of ΔF are
reported per size because an unscreened fault charge makes ΔF_Hartree (and γ) grow linearly with the cell
length instead of converging.
"""
from dataclasses import dataclass
import json
import math
import os

import numpy as np

from ..errors import InputError

__all__ = ["CellPair", "plan_cells", "write_cells", "cell_record", "assemble", "plot_study", "EV_PER_A2_TO_MJ_PER_M2",
           "GAMMA_TOLERANCE_MJ_M2", "size_repeat"]

#: 1 eV/Å² in mJ/m².
EV_PER_A2_TO_MJ_PER_M2 = 1.602176634e-19 / 1e-20 * 1e3
#: γ of the two largest sizes must agree to this (mJ/m²) to count as converged with size (the same
#: tolerance the DFT cross-check converges its k-points to).
GAMMA_TOLERANCE_MJ_M2 = 5.0


def size_repeat(k):
    """Repeat (NX, NY, NZ) of size K: K x K basal cells, 2K hcp cells (4K layers) along c."""
    return (int(k), int(k), 2 * int(k))


@dataclass
class CellPair:
    """One size of the study: names relative to the study directory, and the geometry bookkeeping."""
    size: int
    repeat: tuple
    natoms: int
    n_faults: int
    fault_area_A2: float
    fault_z_A: float
    length_A: float            # of the cells along z (3 fault spacings for the orthogonal cells)
    tilt_fractions: tuple      # the faulted cell's third-vector tilt in fractions of its first two vectors

    @property
    def name(self):
        return f"K{self.size}"

    @property
    def structure_perfect(self):
        return f"{self.name}/perfect.extxyz"

    @property
    def structure_faulted(self):
        return f"{self.name}/faulted.extxyz"

    def run_dir(self, kind):
        return f"{self.name}/{kind}"


def plan_cells(sizes, symbol, a, c, rattle=0.0, seed=0, orthogonal=False):
    """The cell pairs of ``sizes`` and their atoms: [(CellPair, perfect HcpCell, faulted HcpCell)]. Local.

    Builds on the calling process (O(N) numpy); every rank of a study builds the same cells. orthogonal: the
    faulted cell is the orthogonal three-fault cell (``build_hcp(..., orthogonal=True)``) and the perfect one
    three times as long, so neither grid is sheared (3x the atoms; γ per fault as before).
    """
    from ..structure.hcp import build_hcp
    sizes = [int(k) for k in sizes]
    if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
        raise InputError(f"--sizes must be distinct positive integers, got {sizes}")
    out = []
    for k in sorted(sizes):
        rep = size_repeat(k)
        if orthogonal:
            perfect = build_hcp(symbol, a, c, (rep[0], rep[1], 3 * rep[2]), None, rattle, seed)
            faulted = build_hcp(symbol, a, c, rep, "I2", rattle, seed, orthogonal=True)
        else:
            perfect = build_hcp(symbol, a, c, rep, None, rattle, seed)
            faulted = build_hcp(symbol, a, c, rep, "I2", rattle, seed)
        tilt = (0.0, 0.0) if orthogonal else (2.0 / (3 * rep[0]), 1.0 / (3 * rep[1]))
        pair = CellPair(size=k, repeat=rep, natoms=len(perfect.atoms), n_faults=faulted.n_faults,
                        fault_area_A2=faulted.area_A2, fault_z_A=faulted.fault_z_A,
                        length_A=rep[2] * c * (3 if orthogonal else 1), tilt_fractions=tilt)
        out.append((pair, perfect, faulted))
    return out


def study_grid(model, pair, perfect, faulted, points_per_cell=None):
    """The grid of both cells of a pair (one grid for both, so discretisation errors cancel in ΔF).

    points_per_cell : (NA, NB, NC) grid points per hcp unit cell along a1, a2, c, scaled with the repeat;
    None: the model's spacing applied to each lattice vector of either cell, the larger count per axis (the
    faulted cell's tilted third vector is a little longer).
    """
    from ..pipeline import default_grid
    if points_per_cell:
        along = (1, 1, pair.n_faults)      # the orthogonal cells hold three periods (faults) along z, the tilted one
        return tuple(int(n) * r * m for n, r, m in zip(points_per_cell, pair.repeat, along))
    gp = default_grid(perfect.atoms.cell.array, model.grid_spacing_A)
    gf = default_grid(faulted.atoms.cell.array, model.grid_spacing_A)
    return tuple(max(p, f) for p, f in zip(gp, gf))


def write_cells(out, cells, overwrite):
    """Write every pair's structures under ``out`` (call on one process)."""
    from ..cli.build import write_cell
    for pair, perfect, faulted in cells:
        os.makedirs(os.path.join(out, pair.name), exist_ok=True)
        write_cell(os.path.join(out, pair.structure_perfect), perfect, overwrite)
        write_cell(os.path.join(out, pair.structure_faulted), faulted, overwrite)


def cell_record(pair, perfect_res, faulted_res, profile=None):
    """The study.json entry of one size from the two results.json dicts (and the plane-averaged profile).

    profile : None or (z (nz,) Å, perfect plane average (nz,) 1/Å³, faulted plane average (nz,) 1/Å³).
    """
    from .fault_density import excess_charge
    fp, ff = perfect_res["total_energy_eV"], faulted_res["total_energy_eV"]
    delta = ff - fp
    rec = {
        "size": pair.size, "repeat": list(pair.repeat), "natoms": pair.natoms, "n_faults": pair.n_faults,
        "fault_area_A2": pair.fault_area_A2, "fault_z_A": pair.fault_z_A, "length_A": pair.length_A,
        "structure_perfect": pair.structure_perfect, "structure_faulted": pair.structure_faulted,
        "results_perfect": f"{pair.run_dir('perfect')}/results.json",
        "results_faulted": f"{pair.run_dir('faulted')}/results.json",
        "grid": perfect_res["grid"],
        "free_energy_perfect_eV": fp, "free_energy_faulted_eV": ff, "delta_F_eV": delta,
        "delta_F_per_atom_eV": delta / pair.natoms,
        "gamma_mJ_per_m2": delta / (pair.n_faults * pair.fault_area_A2) * EV_PER_A2_TO_MJ_PER_M2,
        "delta_F_terms_eV": {key[:-3]: faulted_res[key] - perfect_res[key] for key in (
            "band_energy_eV", "entropy_contribution_eV", "hartree_energy_eV", "xc_energy_eV",
            "e_rho_times_v_hxc_eV", "ewald_energy_eV", "screening_correction_eV")
            if key in perfect_res and key in faulted_res},
        "delta_F_hartree_eV": faulted_res.get("hartree_energy_eV", math.nan) - perfect_res.get("hartree_energy_eV", math.nan),
        "fermi_shift_eV": faulted_res["fermi_energy_eV"] - perfect_res["fermi_energy_eV"],
        "wall_s": {"perfect": perfect_res["timings_s"]["total"], "faulted": faulted_res["timings_s"]["total"]},
    }
    if profile is not None:
        z, avg_p, avg_f = profile
        line = (np.asarray(avg_f) - np.asarray(avg_p)) * pair.fault_area_A2     # e/Å
        q = excess_charge(z, line, pair.fault_z_A, pair.length_A / pair.n_faults)   # faults length/n_faults apart
        rec["excess_charge_per_fault_e"] = q / pair.n_faults
        rec["excess_charge_per_fault_per_1x1_e"] = q / pair.n_faults / (pair.repeat[0] * pair.repeat[1])
    return rec


def fit_size_law(records, a_lat):
    """Least-squares ΔF/N = a + b N^(-1/3) over the sizes (a = 0 fixed with one size); γ from b (mJ/m²)."""
    x = np.array([r["natoms"] ** (-1.0 / 3.0) for r in records])
    y = np.array([r["delta_F_per_atom_eV"] for r in records])
    if len(records) >= 2:
        b, a = np.polyfit(x, y, 1)
    else:
        a, b = 0.0, float(y[0] / x[0])
    gamma = 8.0 * b / (a_lat ** 2 * math.sqrt(3.0) * 4.0 ** (1.0 / 3.0)) * EV_PER_A2_TO_MJ_PER_M2
    return {"law": "delta_F/N = a + b N^(-1/3) (eV per atom)", "a": float(a), "b": float(b),
            "gamma_from_b_mJ_per_m2": float(gamma), "sizes": [r["size"] for r in records]}


def assemble(model_path, a, c, symbol, records, rattle, seed, extra=None):
    """study.json content from the per-size records (sorted by size)."""
    records = sorted(records, key=lambda r: r["size"])
    gammas = [r["gamma_mJ_per_m2"] for r in records]
    fit = fit_size_law(records, a)
    converged = len(gammas) >= 2 and abs(gammas[-1] - gammas[-2]) <= GAMMA_TOLERANCE_MJ_M2
    hartree = [r["delta_F_hartree_eV"] / (r["n_faults"] * r["fault_area_A2"]) * EV_PER_A2_TO_MJ_PER_M2
               for r in records]
    notes = []
    if len(gammas) < 2:
        notes.append("one size only: convergence with size not tested")
    elif not converged:
        notes.append(f"gamma changes by {gammas[-1] - gammas[-2]:+.2f} mJ/m^2 between the two largest sizes "
                     f"(tolerance {GAMMA_TOLERANCE_MJ_M2} mJ/m^2): NOT converged with size; the Hartree part of "
                     f"gamma goes {', '.join(f'{h:.1f}' for h in hartree)} mJ/m^2 over the sizes")
    study = {
        "study": "stacking-fault", "fault": "I2 (basal intrinsic, one per periodic faulted cell)",
        "model": os.path.abspath(model_path), "symbol": symbol, "lattice": {"a_A": a, "c_A": c},
        "size_rule": "size K: K x K hcp cells in the basal plane, 2K along c (4K^3 atoms, 4K layers)",
        "rattle_A": rattle, "seed": seed,
        "cells": records,
        "fit": fit,
        "gamma_mJ_per_m2": gammas[-1],
        "gamma_method": ("gamma = delta_F / (n_faults * area) of the largest size; for ideal positions it "
                         "does not depend on the size, see gamma_spread_mJ_per_m2 and gamma_converged"),
        "gamma_per_size_mJ_per_m2": {str(r["size"]): r["gamma_mJ_per_m2"] for r in records},
        "gamma_spread_mJ_per_m2": float(max(gammas) - min(gammas)),
        "gamma_converged": bool(converged),
        "gamma_tolerance_mJ_per_m2": GAMMA_TOLERANCE_MJ_M2,
        "hartree_part_of_gamma_mJ_per_m2": {str(r["size"]): h for r, h in zip(records, hartree)},
        "notes": notes,
        "units": {"energy": "eV", "length": "Angstrom", "gamma": "mJ/m^2", "charge": "e"},
    }
    if extra:
        study.update(extra)
    return study


def plot_study(path, study, profile=None):
    """stacking_fault.png: ΔF/N vs N^(-1/3) with the fit and γ; γ per size; the plane-averaged Δλ(z). Local."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    recs = study["cells"]
    panels = 3 if profile is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    x = np.array([r["natoms"] ** (-1 / 3) for r in recs])
    y = np.array([r["delta_F_per_atom_eV"] for r in recs]) * 1e3
    ax = axes[0]
    ax.plot(x, y, "o", label="prediction")
    xs = np.linspace(0, x.max() * 1.1, 50)
    ax.plot(xs, (study["fit"]["a"] + study["fit"]["b"] * xs) * 1e3, "-",
            label=f"fit a + b N$^{{-1/3}}$ (γ from b: {study['fit']['gamma_from_b_mJ_per_m2']:.1f} mJ/m²)")
    ax.set_xlabel("N$^{-1/3}$")
    ax.set_ylabel("ΔF / N (meV/atom)")
    ax.set_title(f"γ = {study['gamma_mJ_per_m2']:.1f} mJ/m²" + ("" if study["gamma_converged"] else " (not converged)"))
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot([r["natoms"] for r in recs], [r["gamma_mJ_per_m2"] for r in recs], "o-", label="γ")
    ax.plot([r["natoms"] for r in recs], [float(v) for v in study["hartree_part_of_gamma_mJ_per_m2"].values()],
            "s--", label="Hartree part")
    ax.set_xscale("log")
    ax.set_xlabel("atoms")
    ax.set_ylabel("mJ/m²")
    ax.legend(fontsize=8)
    if profile is not None:
        z, line, fault_z = profile
        ax = axes[2]
        ax.plot(z, line, "-")
        ax.axvline(fault_z, color="k", ls="--", lw=1, label="fault plane")
        ax.set_xlabel("z (Å)")
        ax.set_ylabel("Δλ(z) = ∫(n_f − n_p) dA (e/Å)")
        ax.set_title(f"largest size ({recs[-1]['natoms']} atoms)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_study_json(path, study):
    """Write study.json atomically. Local."""
    from ..output.results import write_json_atomic
    write_json_atomic(path, study)


def read_json(path):
    with open(path) as f:
        return json.load(f)
