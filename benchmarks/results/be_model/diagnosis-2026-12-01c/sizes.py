"""Model gamma of ideal 1 x 1 I2 cells, 8-32 layers, and each energy term's share (run in a scratch folder).
Usage: python sizes.py MODEL TAG"""
import json, subprocess, sys, os
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../../.."))
sys.path.insert(0, os.path.join(ROOT, "scripts")); sys.path.insert(0, ROOT)
from be_dataset import build
import ase.io
model = sys.argv[1]; tag = sys.argv[2]
res = {}
for nz in [4, 6, 8, 10, 12, 16]:
    for f in [None, "I2"]:
        a = build(nz, f, None, 0); name = f"{tag}_{f}_{2*nz}"
        ase.io.write(f"{name}.extxyz", a)
        subprocess.run([os.path.join(ROOT, ".venv/bin/mpirun"), "-n", "2", os.path.join(ROOT, ".venv/bin/mlsurrogate"), "-q", "predict", "--model", model,
                        "--structure", f"{name}.extxyz", "--pseudo-dir", os.path.join(ROOT, "../shared/testdata/Be2"), "--out", "o_" + name,
                        "--overwrite", "--precision", "float32", "--no-plot", "--grid", "18", "18", str(30 * nz)], check=True, capture_output=True)
        res[(f, 2 * nz)] = json.load(open(f"o_{name}/results.json"))["total_energy_eV"]
    L = 2 * nz
    ex = res[("I2", L)] - res[(None, L)]
    print(L, "fault excess meV", 1000 * ex, "gamma mJ/m2", ex / (2.25982586776780**2 * 3**0.5 / 2) * 16021.766, flush=True)
