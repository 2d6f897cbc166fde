"""Descriptors (native) of ideal cells built like be_model_check: bigdesc.py LAYERS FAULT(None|I2) -> /work/run26/big/<name>.npy + .extxyz"""
import os, sys, time
import numpy as np
sys.path.insert(0, "/work/main/scripts"); sys.path.insert(0, "/work/main")
from mpi4py import MPI
import ase.io
from be_dataset import build
from mlsurrogate.training.config import load_config
from mlsurrogate.descriptors.field import compute_descriptor_field
cfg = load_config("/work/main/models/be_train.toml")
layers, fault = int(sys.argv[1]), (None if sys.argv[2] == "None" else sys.argv[2])
name = f"{'i2' if fault else 'perfect'}_{layers}"
os.makedirs("/work/run26/big", exist_ok=True)
a = build(layers // 2, fault, None, 0)
ase.io.write(f"/work/run26/big/{name}.extxyz", a)
grid = (18, 18, 15 * layers)
res = np.full(grid + (cfg.descriptors.n_features,), np.nan)
def sink(idx, desc):
    res[idx[:, 0], idx[:, 1], idx[:, 2]] = desc
t = time.time()
compute_descriptor_field(MPI.COMM_SELF, a, cfg.descriptors, grid, "native", 1 << 22, sink, species=["Be"])
assert np.isfinite(res).all()
np.save(f"/work/run26/big/{name}.npy", res.reshape(-1, res.shape[-1]))
print(name, len(a), f"{time.time()-t:.1f} s")
