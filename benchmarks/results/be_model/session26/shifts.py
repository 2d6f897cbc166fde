"""Descriptors of K rigidly sub-grid-translated copies of training cells (native kernel) -> /work/run26/shifts/<cell>_t<j>.npy"""
import os, sys, time
import numpy as np
sys.path.insert(0, "/work/main")
from mpi4py import MPI
import ase.io
from mlsurrogate.training.config import load_config
from mlsurrogate.dft.shift import shift_structure
from mlsurrogate.descriptors.field import compute_descriptor_field
D = os.path.expanduser("~/.cache/mlsurrogate/be")
cfg = load_config("/work/main/models/be_train.toml")
K = int(sys.argv[1]); cells = sys.argv[2:]
os.makedirs("/work/run26/shifts", exist_ok=True)
for c in cells:
    atoms = ase.io.read(f"{D}/{c}/structure.extxyz")
    grid = np.load(f"{D}/{c}/bispectrum_rc9/descriptors.npy", mmap_mode="r").shape[:3]
    for j in range(1, K + 1):
        out = f"/work/run26/shifts/{c}_t{j}.npy"
        if os.path.exists(out): continue
        frac = np.random.default_rng([j, 7, sum(map(ord, c))]).random(3) / np.array(grid)
        a = shift_structure(atoms, frac)
        res = np.full(tuple(grid) + (cfg.descriptors.n_features,), np.nan)
        def sink(idx, desc):
            res[idx[:, 0], idx[:, 1], idx[:, 2]] = desc
        t = time.time()
        compute_descriptor_field(MPI.COMM_SELF, a, cfg.descriptors, tuple(grid), "native", 1 << 22, sink, species=["Be"])
        assert np.isfinite(res).all()
        np.save(out, res.reshape(-1, res.shape[-1]))
        print(c, j, f"{time.time()-t:.1f} s", flush=True)
