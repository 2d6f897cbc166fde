"""How well does the zero-broadening correction s² D(E_F)/2 recover QE's F from a broadened DFT LDOS?

For each make-data snapshot (scripts/be_dataset.py's cells, default ~/.cache/mlsurrogate/be) runs
`evaluate --ldos <cell>/ldos_s5.npy --ldos-broadening S` (2 MPI ranks; S = the total Gaussian std of those
targets, scripts/be_dataset.py LDOS_BROADENING_STD_EV) and prints F − F_QE per atom without and with the
correction, and the correction itself. This is the floor of any model trained on those targets.

Usage: .venv/bin/python benchmarks/broadening_correction.py [--data DIR] [--cells NAME ...] \
           [--json benchmarks/results/be_model/broadening_correction.json]
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from be_dataset import LDOS_BROADENING_STD_EV  # noqa: E402
from dft_ldos_check import evaluate  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.expanduser("~/.cache/mlsurrogate/be"))
    p.add_argument("--cells", nargs="*", help="cell names (default: every finished snapshot with ldos_s5.npy)")
    p.add_argument("--ldos", default="ldos_s5.npy")
    p.add_argument("--std", type=float, default=LDOS_BROADENING_STD_EV, help="Gaussian std of that LDOS, eV")
    p.add_argument("--json")
    args = p.parse_args()
    cells = args.cells or sorted(c for c in os.listdir(args.data)
                                 if os.path.isfile(os.path.join(args.data, c, args.ldos))
                                 and os.path.isfile(os.path.join(args.data, c, "pw.out")))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for c in cells:
            folder = os.path.join(args.data, c)
            s = json.load(open(os.path.join(folder, "snapshot.json")))
            g = s["energy_grid"]
            r = evaluate(folder, os.path.join(tmp, c), ["--ldos", os.path.join(folder, args.ldos), "--energy-grid",
                         str(g["offset_ev"]), str(g["spacing_ev"]), str(g["count"]), "--temperature",
                         str(s["temperature_K"]), "--ldos-broadening", str(args.std)])
            n, fqe, corr = s["natoms"], s["energies_eV"]["total_energy"], r["broadening_correction_eV"]
            rows[c] = {"natoms": n, "F_QE_eV": fqe, "F_corrected_eV": r["total_energy_eV"],
                       "correction_eV": corr, "fermi_energy_eV": r["fermi_energy_eV"],
                       "uncorrected_meV_per_atom": 1e3 * (r["total_energy_eV"] - corr - fqe) / n,
                       "corrected_meV_per_atom": 1e3 * (r["total_energy_eV"] - fqe) / n,
                       "correction_meV_per_atom": 1e3 * corr / n}
            print(f"{c:14s} F - F_QE {rows[c]['uncorrected_meV_per_atom']:+7.2f} -> "
                  f"{rows[c]['corrected_meV_per_atom']:+7.2f} meV/atom (correction {rows[c]['correction_meV_per_atom']:+.2f})",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ldos": args.ldos, "ldos_broadening_std_eV": args.std, "cells": rows}, f, indent=1)


if __name__ == "__main__":
    main()
