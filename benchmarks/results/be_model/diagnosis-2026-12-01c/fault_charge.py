"""Net charge at the fault: plane-averaged density of the I2 cell minus the perfect cell's, summed within
+-w of the fault plane (electrons per 1 x 1 cell, area 4.42 A^2), for the model (d_<fault>_<layers>/density.h5
from `predict --save density` of sizes.py's cells, in the current folder) and for DFT (i2_12 vs perfect_12 in the
cache). Usage: python fault_charge.py"""
import h5py, numpy as np, os
C = 3.56987856087494
area = 2.25982586776780**2 * 3**0.5 / 2


def lam(path):
    with h5py.File(path) as f:
        return f[list(f.keys())[0]][...].mean(axis=(0, 1))


def window_sums(diff, layers):
    nz = len(diff)
    dz = layers * C / 2 / nz
    m = 2 * ((layers // 2 + 1) // 2)                     # first shifted layer (mlsurrogate/structure/hcp.py)
    zf, period = m * C / 2, layers * C / 2
    z = np.arange(nz) * dz
    dist = np.abs((z - zf + period / 2) % period - period / 2)
    return {w: float((diff * area * dz)[dist < w].sum()) for w in (3.6, 5.4, 7.1, 9.0)}


for layers in (12, 32):
    if os.path.exists(f"d_I2_{layers}/density.h5"):
        print("model", layers, window_sums(lam(f"d_I2_{layers}/density.h5") - lam(f"d_None_{layers}/density.h5"), layers))
D = os.path.expanduser("~/.cache/mlsurrogate/be")
a = np.load(D + "/perfect_12/density.npy").mean(axis=(0, 1))
b = np.load(D + "/i2_12/density.npy").mean(axis=(0, 1))
print("DFT 12", window_sums(b - a, 12))
