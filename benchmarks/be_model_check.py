"""Check a Be model against our DFT data: total energy per atom and the I2 stacking-fault energy.

For each snapshot folder of `scripts/be_dataset.py` (make-data output in DATA) it runs `predict` (2 MPI
ranks, float32, the snapshot's own QE grid) and compares F with QE's F (snapshot.json; the Mermin free
energy). gamma = (F_I2 - F_perfect)/area for the 8-, 12- and 16-layer 1 x 1 cells, model vs DFT: the DFT
value is ours (same cells in DATA) when present, else the pw.x runs with make-data's band count in
benchmarks/results/stacking_fault_dft_bands, else benchmarks/results/stacking_fault_dft/summary.json (pw.x,
18 x 18 in-plane k-points, fewer bands). Cells missing from DATA are built with `mlsurrogate build hcp` for the
model. Also the model's gamma at 24 and 32 layers (no DFT there): a model whose bulk layers far from the fault
do not match the perfect cell's shows it as a gamma that keeps falling with size. Writes --json and prints a table.

--screening runs every prediction with `predict --screening` (the fault's charge screened at long wavelengths).
--orthogonal-faults takes gamma from the orthogonal three-fault cells (`build hcp --orthogonal`: the same crystal,
grid not sheared) against three perfect cells of the same size, instead of the tilted one-fault cells; the F per
atom rows stay those of the DFT cells. With both, the two artefacts that make a model's gamma drift with size
are gone (benchmarks/results/be_model/session29/).

Usage: .venv/bin/python benchmarks/be_model_check.py --model models/be.mlsm [--data DIR] [--screening]
       [--orthogonal-faults] --json OUT.json
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.path.dirname(sys.executable)
PSEUDO = os.path.join(ROOT, "..", "shared", "testdata", "Be2")
RY_EV = 13.605693122994
A, C = 2.25982586776780, 3.56987856087494


EXTRA = []     # --screening


def predict(model, structure, out, grid=None):
    cmd = [os.path.join(BIN, "mpirun"), "-n", "2", os.path.join(BIN, "mlsurrogate"), "-q", "predict",
           "--model", model, "--structure", structure, "--pseudo-dir", PSEUDO, "--out", out, "--overwrite",
           "--precision", "float32", "--no-plot"] + (["--grid", *map(str, grid)] if grid else []) + EXTRA
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.load(open(os.path.join(out, "results.json")))


def bands_out(name):
    """pw.x output of a cell of benchmarks/results/stacking_fault_dft_bands (nbnd = 2 x occupied, as make-data)."""
    return os.path.join(ROOT, "benchmarks", "results", "stacking_fault_dft_bands", f"{name}_pw.out")


def qe_energy(path):
    """pw.x's final total energy ('!' line), eV."""
    lines = [l for l in open(path) if l.startswith("!") and "total energy" in l]
    return float(lines[-1].split("=")[1].split()[0]) * RY_EV


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", default=os.path.expanduser("~/.cache/mlsurrogate/be"))
    p.add_argument("--snapshots", nargs="*", default=None, help="names in DATA (default: all finished; "
                   "with --screening the ideal ones, as predict --screening refuses rattled cells)")
    p.add_argument("--screening", action="store_true", help="predict --screening for every cell")
    p.add_argument("--orthogonal-faults", action="store_true", help="gamma from orthogonal three-fault cells")
    p.add_argument("--json")
    args = p.parse_args()
    EXTRA.extend(["--screening"] if args.screening else [])

    def gamma_orthogonal(layers, f_perfect, grid, tmp):
        """gamma (mJ/m^2) from the orthogonal 3-fault cell of ``layers`` layers per fault (grid: 3x the perfect
        cell's along z) and the perfect cell's F on ``grid`` (None: predicted here)."""
        from mlsurrogate.structure.hcp import build_hcp
        cells = {"ortho": build_hcp("Be", A, C, (1, 1, layers // 2), "I2", orthogonal=True).atoms}
        if f_perfect is None:
            cells["perfect"] = build_hcp("Be", A, C, (1, 1, layers // 2)).atoms
        F = {}
        for name, atoms in cells.items():
            path = os.path.join(tmp, f"{name}_{layers}.extxyz")
            ase.io.write(path, atoms)
            g = (grid[0], grid[1], 3 * grid[2]) if name == "ortho" else grid
            F[name] = predict(args.model, path, os.path.join(tmp, f"{name}_{layers}"), g)["total_energy_eV"]
        f_perfect = F.get("perfect", f_perfect)
        return (F["ortho"] / 3 - f_perfect) / area * MJ
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from be_dataset import CELLS, build
    sys.path.insert(0, ROOT)
    from mlsurrogate.studies.stacking_fault import EV_PER_A2_TO_MJ_PER_M2 as MJ
    import ase.io
    names = args.snapshots if args.snapshots is not None else [
        n for n in CELLS if os.path.isfile(os.path.join(args.data, n, "snapshot.json"))
        and not (args.screening and CELLS[n][2])]      # --screening refuses rattled cells: the ideal ones only
    rows, F_model, F_dft, grids = {}, {}, {}, {}
    area = A * A * math.sqrt(3) / 2
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            snap = json.load(open(os.path.join(args.data, n, "snapshot.json")))
            r = predict(args.model, os.path.join(args.data, n, "structure.extxyz"), os.path.join(tmp, n), snap["grid"])
            qe = snap["energies_eV"]["total_energy"]
            rows[n] = {"split": CELLS[n][5], "natoms": snap["natoms"], "F_model_eV": r["total_energy_eV"], "F_QE_eV": qe,
                       "error_meV_per_atom": 1e3 * (r["total_energy_eV"] - qe) / snap["natoms"],
                       "fermi_model_eV": r["fermi_energy_eV"], "fermi_QE_eV": snap["fermi_energy_eV"]}
            F_model[n], F_dft[n], grids[n] = r["total_energy_eV"], qe, tuple(snap["grid"])
            print(f"{n:14s} {CELLS[n][5]:5s} F error {rows[n]['error_meV_per_atom']:+8.3f} meV/atom", flush=True)
        summary = json.load(open(os.path.join(ROOT, "benchmarks", "results", "stacking_fault_dft", "summary.json")))
        gammas = {}
        for layers in (8, 12, 16):
            pair = (f"perfect_{layers}", f"i2_{layers}")
            for n, fault in zip(pair, (None, "I2")):
                if n not in F_model:
                    path = os.path.join(tmp, n + ".extxyz")
                    ase.io.write(path, build(layers // 2, fault, None, 0))
                    F_model[n] = predict(args.model, path, os.path.join(tmp, n))["total_energy_eV"]
            for n, fault in zip(pair, (None, "I2")):  # cells outside DATA with a pw.x energy: F per atom too
                if n not in rows and os.path.isfile(bands_out(n)):
                    natoms, qe = len(build(layers // 2, fault, None, 0)), qe_energy(bands_out(n))  # one per layer
                    rows[n] = {"split": CELLS[n][5] if n in CELLS else "test", "natoms": natoms,
                               "F_model_eV": F_model[n], "F_QE_eV": qe,
                               "error_meV_per_atom": 1e3 * (F_model[n] - qe) / natoms,
                               "dft_source": "stacking_fault_dft_bands (pw.x, nbnd = 2 x occupied)"}
                    print(f"{n:14s} {rows[n]['split']:5s} F error {rows[n]['error_meV_per_atom']:+8.3f} meV/atom"
                          " (pw.x energy only)", flush=True)
            dft, source = None, None
            if all(n in F_dft for n in pair):
                dft, source = (F_dft[pair[1]] - F_dft[pair[0]]) / area * MJ, "DATA (make-data, this k-mesh)"
            elif os.path.isfile(bands_out(f"i2_{layers}")) and os.path.isfile(bands_out(f"perfect_{layers}")):
                dft = (qe_energy(bands_out(f"i2_{layers}")) - qe_energy(bands_out(f"perfect_{layers}"))) / area * MJ
                source = "stacking_fault_dft_bands (pw.x, nbnd = 2 x occupied)"
            else:
                runs = [r for r in summary["runs"] if r["layers"] == layers and r["kpoints"][0] == 18]
                if runs:
                    dft, source = runs[0]["gamma_mJ_per_m2"], f"stacking_fault_dft/summary.json k {runs[0]['kpoints']}"
            model = (F_model[pair[1]] - F_model[pair[0]]) / area * MJ
            if args.orthogonal_faults:
                model = gamma_orthogonal(layers, F_model[pair[0]] if pair[0] in grids else None,
                                         grids.get(pair[0], (18, 18, 15 * layers)), tmp)
            gammas[layers] = {"model_mJ_per_m2": model, "dft_mJ_per_m2": dft, "dft_source": source,
                              "relative_error": None if dft is None else (model - dft) / dft,
                              "trained_on": CELLS.get(pair[1], (0,) * 6)[5] == "train"}
            print(f"{layers:2d} layers: gamma model {model:7.1f}  DFT {dft if dft is None else round(dft, 1)} mJ/m^2"
                  f"  ({source})", flush=True)
        larger = {}   # size convergence beyond the DFT cells: the model alone, the perfect cell's grid spacing
        for layers in (24, 32):
            F = []
            for fault in (None, "I2"):
                if fault and args.orthogonal_faults:
                    break
                path = os.path.join(tmp, f"{fault}_{layers}.extxyz")
                ase.io.write(path, build(layers // 2, fault, None, 0))
                F.append(predict(args.model, path, os.path.join(tmp, f"{fault}_{layers}"), (18, 18, 15 * layers))["total_energy_eV"])
            larger[layers] = (gamma_orthogonal(layers, F[0], (18, 18, 15 * layers), tmp) if args.orthogonal_faults
                              else (F[1] - F[0]) / area * MJ)
            print(f"{layers:2d} layers: gamma model {larger[layers]:7.1f} mJ/m^2 (no DFT)", flush=True)
    g8, g16 = gammas[8]["model_mJ_per_m2"], gammas[16]["model_mJ_per_m2"]
    out = {"model": args.model, "screening": args.screening, "orthogonal_faults": args.orthogonal_faults,
           "snapshots": rows, "gamma": gammas,
           "gamma_8_vs_16_relative": (g16 - g8) / g8, "gamma_model_larger_cells_mJ_per_m2": larger}
    print(f"model gamma 16 vs 8 layers: {100 * (g16 - g8) / g8:+.1f} %")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
