"""Write DATA/<cell>/ldos_s<10 sigma>.npy: QE's 0.1 eV-broadened LDOS convolved along energy with a further
Gaussian so the total broadening is SIGMA eV (same 0.1 eV grid, -5..11 eV; each source energy's weight kept
inside the window, so electrons are conserved). Usage: python broaden_ldos.py SIGMA CELL ..."""
import os
import sys

import numpy as np

D = os.path.expanduser("~/.cache/mlsurrogate/be")
sigma = float(sys.argv[1])
extra = np.sqrt(sigma ** 2 - 0.1 ** 2)
E = 0.1 * np.arange(161)
K = np.exp(-0.5 * ((E[:, None] - E[None, :]) / extra) ** 2)
K /= K.sum(0, keepdims=True)
for cell in sys.argv[2:]:
    out = os.path.join(D, cell, f"ldos_s{round(10 * sigma)}.npy")
    if os.path.exists(out):
        continue
    a = np.load(os.path.join(D, cell, "ldos.npy"))
    np.save(out, (a.reshape(-1, 161) @ K.T).reshape(a.shape).astype(np.float32))
    print("wrote", out, flush=True)
