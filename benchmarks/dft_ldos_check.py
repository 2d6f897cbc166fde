"""Does `evaluate --ldos` on a make-data snapshot reproduce QE's total energy? And what is the difference made of?

For each snapshot folder (written by `mlsurrogate make-data`) this runs, with 2 MPI ranks,
  evaluate --ldos    (E_F, band energy, -TS and the density all from the LDOS), and
  evaluate --density (QE's own density from pp.x: Hartree, XC, -∫n v_Hxc of the exact density),
and splits F_LDOS - F_QE into
  band:    E_band(LDOS) - Σ f ε (QE's eigenvalue sum = one-electron term + ∫ n v_Hxc of QE's density),
  -TS:     -TS(LDOS) - QE's smearing contribution,
  density: (E_H + E_xc - ∫ n v_Hxc) of the LDOS density - the same of QE's density.
With --stride S the LDOS is also evaluated on every S-th energy (spacing S·Δ, the same broadening): the
effect of the grid spacing alone. Prints a table (meV/atom) and writes --json.

Usage: .venv/bin/python benchmarks/dft_ldos_check.py DIR/perfect_8 DIR/i2_8 --stride 2 \
          --json benchmarks/results/dft_ldos_check.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

BIN = os.path.dirname(sys.executable)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PSEUDO = os.path.join(ROOT, "..", "shared", "testdata", "Be2")


def evaluate(folder, out, extra):
    cmd = [os.path.join(BIN, "mpirun"), "-n", "2", os.path.join(BIN, "mlsurrogate"), "-q", "evaluate",
           "--structure", os.path.join(folder, "structure.extxyz"), "--pseudo-dir", PSEUDO, "--ecutrho", "160",
           "--out", out, "--overwrite", *extra]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.load(open(os.path.join(out, "results.json")))


def check(folder, stride, tmp):
    s = json.load(open(os.path.join(folder, "snapshot.json")))
    g, n, q = s["energy_grid"], s["natoms"], s["energies_eV"]
    dens = evaluate(folder, os.path.join(tmp, "d"), ["--density", os.path.join(folder, "density.npy"),
                                                     "--density-units", "1/A^3"])
    band_qe = q["one_electron"] - dens["e_rho_times_v_hxc_eV"]
    rows = []
    for st in sorted({1, stride}):
        path = os.path.join(folder, "ldos.npy")
        count = g["count"]
        if st > 1:
            path = os.path.join(tmp, "sub.npy")
            np.save(path, np.load(os.path.join(folder, "ldos.npy"))[..., ::st])
            count = len(range(0, g["count"], st))
        r = evaluate(folder, os.path.join(tmp, f"l{st}"), ["--ldos", path, "--energy-grid", str(g["offset_ev"]),
                     str(g["spacing_ev"] * st), str(count), "--temperature", str(s["temperature_K"])])
        dp = lambda x: x["hartree_energy_eV"] + x["xc_energy_eV"] + x["e_rho_times_v_hxc_eV"]
        row = {"snapshot": os.path.basename(folder), "natoms": n, "kpoints": s["kpoints"],
               "k_irreducible": s["k_points_irreducible"], "spacing_eV": g["spacing_ev"] * st,
               "broadening_eV": s["degauss_ldos_ev"], "F_QE_eV": q["total_energy"], "F_LDOS_eV": r["total_energy_eV"],
               "diff_meV_per_atom": 1e3 * (r["total_energy_eV"] - q["total_energy"]) / n,
               "band_meV_per_atom": 1e3 * (r["band_energy_eV"] - band_qe) / n,
               "minus_TS_meV_per_atom": 1e3 * (r["entropy_contribution_eV"] - q["smearing_contribution_minus_TS"]) / n,
               "density_terms_meV_per_atom": 1e3 * (dp(r) - dp(dens)) / n,
               "density_route_vs_QE_meV_per_atom": 1e3 * (dp(dens) + dens["ewald_energy_eV"] + band_qe
                                                          + q["smearing_contribution_minus_TS"] - q["total_energy"]) / n,
               "fermi_LDOS_eV": r["fermi_energy_eV"], "fermi_QE_eV": s["fermi_energy_eV"]}
        rows.append(row)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--json")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in args.folders:
            rows += check(f, args.stride, tmp)
    keys = ["snapshot", "natoms", "k_irreducible", "spacing_eV", "broadening_eV", "diff_meV_per_atom",
            "band_meV_per_atom", "minus_TS_meV_per_atom", "density_terms_meV_per_atom",
            "density_route_vs_QE_meV_per_atom", "fermi_LDOS_eV", "fermi_QE_eV"]
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
