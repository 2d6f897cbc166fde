"""oracle.py MODEL TAG CELL...: F of MODEL per cell as predicted, and with the density terms (Hartree + XC -
∫n v_Hxc) of QE's own density instead of the model's: what a perfect density would give. meV/atom vs QE's F."""
import json, os, subprocess, sys, tempfile
B = os.path.expanduser("~/.cache/mlsurrogate/be")
BIN = "/work/main/.venv/bin"
K = ["hartree_energy_eV", "xc_energy_eV", "e_rho_times_v_hxc_eV"]
model, tag = sys.argv[1], sys.argv[2]
for c in sys.argv[3:]:
    f = os.path.join(B, c)
    snap = json.load(open(os.path.join(f, "snapshot.json")))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([f"{BIN}/mpirun", "-n", "2", f"{BIN}/mlsurrogate", "-q", "predict", "--model", model,
                        "--structure", os.path.join(f, "structure.extxyz"), "--pseudo-dir", "/work/shared/testdata/Be2",
                        "--out", os.path.join(tmp, "p"), "--precision", "float32", "--no-plot", "--grid",
                        *map(str, snap["grid"])], check=True, capture_output=True)
        p = json.load(open(os.path.join(tmp, "p", "results.json")))
        subprocess.run([f"{BIN}/mlsurrogate", "-q", "evaluate", "--structure", os.path.join(f, "structure.extxyz"),
                        "--density", os.path.join(f, "density.npy"), "--density-units", "1/A^3", "--pseudo-dir",
                        "/work/shared/testdata/Be2", "--ecutrho", "160", "--out", os.path.join(tmp, "n")],
                       check=True, capture_output=True)
        n = json.load(open(os.path.join(tmp, "n", "results.json")))
    qe, nat = snap["energies_eV"]["total_energy"], snap["natoms"]
    oracle = p["total_energy_eV"] - sum(p[k] for k in K) + sum(n[k] for k in K)
    print("%-4s %-16s predicted %+8.2f  with QE's density terms %+8.2f meV/atom" % (
        tag, c, 1000 * (p["total_energy_eV"] - qe) / nat, 1000 * (oracle - qe) / nat), flush=True)
