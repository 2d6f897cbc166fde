"""The probe metric (probe.py) for a real network, numpy forward pass.
Usage: .venv/bin/python real_model.py MODEL.mlsm [EXTRA_CELL ...]  (cells in ~/.cache/mlsurrogate/be)"""
import sys, json, numpy as np
import os
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE); sys.path.insert(0, os.path.join(HERE, "..", "..", "..", ".."))
from probe import load, metric, TRAIN, TEST
from mlsurrogate.model.native_format import read_native_model
m = read_native_model(sys.argv[1])
def fwd(x):
    h = (x - m.input_shift) * m.input_scale
    for w, b, a in zip(m.weights, m.biases, m.activations):
        h = h @ w.T.astype(np.float64) + b
        if a == "LeakyReLU": h = np.where(h > 0, h, 0.01 * h)
        elif a is not None: raise SystemExit(a)
    y = h * m.output_scale + m.output_shift
    return np.maximum(y, 0) if m.clamp_negative else y
out = {}
extra = sys.argv[2:]
for c in TRAIN + extra + TEST:
    x, y, wN, wO, nat = load(c, ["rc%g" % m.descriptors.rcutfac]); p = fwd(x)
    out[c] = [*metric(p, y, wN, wO, nat), float(np.sqrt(((p - y) ** 2).mean()))]
    print(c, "%+.1f meV/atom  dN %+.4f  rmse %.2e" % tuple(out[c]), flush=True)
