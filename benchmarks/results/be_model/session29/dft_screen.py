"""dft_screen.py GC CELL...: screen_lib.screen applied to QE's own (self-consistent) LDOS targets of cached cells,
where a correct screening would change nothing: F screened minus plain, meV/atom."""
import os, sys
import numpy as np
import ase.io
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from screen_lib import evaluate, screen
CACHE = os.path.expanduser("~/.cache/mlsurrogate/be/")
gc, cells = float(sys.argv[1]), sys.argv[2:]
for c in cells:
    struct = CACHE + c + "/structure.extxyz"; atoms = ase.io.read(struct)
    ldos = np.load(CACHE + c + "/ldos_s5.npy").astype(np.float64)
    r0 = evaluate(struct, ldos, "dft_" + c + "_plain", 0.495)
    cur, V, it = screen(ldos, atoms, gc)
    r1 = evaluate(struct, cur, "dft_" + c + "_screened", 0.495)
    print(f"{c:14s} GC {gc}: F screened - plain = {1e3 * (r1['total_energy_eV'] - r0['total_energy_eV']) / len(atoms):+.3f} meV/atom"
          f"  (V {V.min():+.3f}..{V.max():+.3f} eV, {it} it)", flush=True)
