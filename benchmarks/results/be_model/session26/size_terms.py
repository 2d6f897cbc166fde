import json, os, subprocess, sys
sys.path.insert(0, "/work/main/scripts"); sys.path.insert(0, "/work/main")
from be_dataset import build
import ase.io
B = "/work/main/.venv/bin/"
model, tag = sys.argv[1], sys.argv[2]
rows = {}
for layers in (8, 16, 32):
    for fault in (None, "I2"):
        n = f"{'i2' if fault else 'perfect'}_{layers}"
        p = f"{n}.extxyz"; ase.io.write(p, build(layers // 2, fault, None, 0))
        o = f"{tag}_{n}"
        subprocess.run([B + "mpirun", "-n", "2", B + "mlsurrogate", "-q", "predict", "--model", model, "--structure", p,
                        "--pseudo-dir", "/work/shared/testdata/Be2", "--out", o, "--overwrite", "--precision", "float32",
                        "--no-plot", "--grid", "18", "18", str(15 * layers)], check=True)
        rows[n] = json.load(open(f"{o}/results.json"))
keys = [k for k, v in rows["i2_8"].items() if isinstance(v, (int, float)) and k.endswith("eV")]
for layers in (8, 16, 32):
    a, b = rows[f"i2_{layers}"], rows[f"perfect_{layers}"]
    print(layers, " ".join(f"{k}={1000*(a[k]-b[k]):+.1f}" for k in keys))
