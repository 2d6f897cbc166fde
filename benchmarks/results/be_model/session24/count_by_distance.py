"""Where does a model lose electrons on a rattled cell? For each make-data cell: the states below 8.2 eV (≈ E_F)
of the model's LDOS and of the DFT target (ldos_s5.npy), in total and by distance of the grid point from the
nearest atom. Usage: .venv/bin/python count_by_distance.py MODEL CELL ... (data in ~/.cache/mlsurrogate/be)."""
import os
import sys

import ase.io
import numpy as np
from ase.geometry import get_distances

from mlsurrogate.model.inference import LdosNetwork
from mlsurrogate.model.native_format import read_native_model

DATA = os.path.expanduser("~/.cache/mlsurrogate/be")
net = LdosNetwork(read_native_model(sys.argv[1]))
for cell in sys.argv[2:]:
    d = np.load(os.path.join(DATA, cell, "bispectrum_rc9", "descriptors.npy"))
    grid = d.shape[:3]
    x = d.reshape(-1, d.shape[-1])
    pred = net(x[:, -91:].astype(np.float64)).reshape(grid + (161,))
    dft = np.load(os.path.join(DATA, cell, "ldos_s5.npy")).astype(np.float64)
    atoms = ase.io.read(os.path.join(DATA, cell, "structure.extxyz"))
    dv = atoms.get_volume() / np.prod(grid)
    below = (np.arange(161) * 0.1 - 5.0) < 8.2
    p, t = pred[..., below].sum(-1) * 0.1 * dv, dft[..., below].sum(-1) * 0.1 * dv
    print(f"{cell}: states below 8.2 eV model {p.sum():.3f} DFT {t.sum():.3f}")
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in grid], indexing="ij"), -1).reshape(-1, 3)
    r = frac @ atoms.cell.array
    dmin = np.min([get_distances(r, [a], cell=atoms.cell, pbc=True)[1][:, 0] for a in atoms.positions], axis=0)
    for lo, hi in [(0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 5.0)]:
        s = (dmin >= lo) & (dmin < hi)
        print(f"  {lo:.1f}-{hi:.1f} Å from an atom: {s.sum():6d} points, model - DFT {(p.ravel() - t.ravel())[s].sum():+.4f} "
              f"of {t.ravel()[s].sum():.3f} electrons")
