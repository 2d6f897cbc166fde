"""F components of a model's LDOS vs the target LDOS on training cells (diagnostic)."""
import json, os, subprocess, sys
import numpy as np
sys.path.insert(0, "/work/main")
from mlsurrogate.model.load import read_model_file
from mlsurrogate.model.inference import LdosNetwork
D = os.path.expanduser("~/.cache/mlsurrogate/be")
B = "/work/main/.venv/bin/"
model_path, tag = sys.argv[1], sys.argv[2]
cells = sys.argv[3:]
m = read_model_file(model_path)
net = LdosNetwork(m)
out = {}
for c in cells:
    x = np.load(f"{D}/{c}/bispectrum_rc9/descriptors.npy")
    k = m.n_features
    g = x.shape[:3]
    pred = net(x.reshape(-1, x.shape[-1])[:, -k:]).reshape(*g, -1)
    p = f"/work/run26/comp/{tag}_{c}.npy"; np.save(p, pred)
    res = {}
    for lab, ld in (("model", p), ("target", f"{D}/{c}/ldos_s5.npy")):
        o = f"/work/run26/comp/{tag}_{c}_{lab}"
        subprocess.run([B + "mlsurrogate", "-q", "evaluate", "--structure", f"{D}/{c}/structure.extxyz", "--ldos", ld,
                        "--energy-grid", "-5", "0.1", "161", "--temperature", "298", "--ldos-broadening", "0.495",
                        "--pseudo-dir", "/work/shared/testdata/Be2", "--ecutrho", "160", "--out", o, "--overwrite"], check=True)
        res[lab] = json.load(open(f"{o}/results.json"))
    out[c] = res
    a, b = res["model"], res["target"]
    flat = lambda d, pre="": {**{pre + k: v for k, v in d.items() if isinstance(v, (int, float))},
                              **{kk: vv for k, v in d.items() if isinstance(v, dict) for kk, vv in flat(v, pre + k + ".").items()}}
    fa, fb = flat(a), flat(b)
    print(c)
    for key in sorted(fa):
        if key in fb and "eV" in key or key.endswith("_ev"):
            if key in fb:
                print(f"  {key:50s} {fa[key]:16.6f} {fb[key]:16.6f} diff {1000*(fa[key]-fb[key])/8:+9.3f} meV/atom(8)")
