"""drift.py MODEL OUT.json: ΔF terms (I2 − perfect) of 1 x 1 cells at 8..32 layers, 1 rank, grid 18x18x15L."""
import json, math, os, subprocess, sys
sys.path.insert(0, "/work/main/scripts"); sys.path.insert(0, "/work/main")
from be_dataset import build
import ase.io
model, out = sys.argv[1], sys.argv[2]
B = "/work/main/.venv/bin/"
A = 2.25982586776780; area = A * A * math.sqrt(3) / 2; MJ = 16021.766
res = {}
tag = os.path.basename(model).split(".")[0]
for L in (8, 16, 24, 32):
    r = {}
    for f in (None, "I2"):
        d = f"{tag}_{f}_{L}"; ase.io.write(d + ".extxyz", build(L // 2, f, None, 0))
        subprocess.run([B + "mlsurrogate", "-q", "predict", "--model", model, "--structure", d + ".extxyz",
                        "--pseudo-dir", "/work/shared/testdata/Be2", "--out", d, "--overwrite", "--precision", "float32",
                        "--no-plot", "--grid", "18", "18", str(15 * L)], check=True)
        r[f] = json.load(open(d + "/results.json"))
    keys = [k for k, v in r[None].items() if k.endswith("_eV") and isinstance(v, (int, float))]
    res[L] = {k: (r["I2"][k] - r[None][k]) / area * MJ for k in keys}
    print(L, {k: round(v, 1) for k, v in res[L].items()}, flush=True)
json.dump(res, open(out, "w"), indent=1)
