"""screen_avg.py MODEL TAG K L...: the model's LDOS (numpy forward pass) of the 1 x 1 perfect / I2 cells of L layers,
rigidly translated by j/K of an in-plane grid step along the I2 tilt (j < K), unscreened and screened
(screen_lib.screen, G_c 1.5 1/Å); gamma at offset 0 and averaged over the offsets. SUF=o: the orthogonal
three-fault cells of ortho.py instead. Needs be_{None,I2}{SUF}_{L}.extxyz here (drift.py, ortho.py)."""
import json, os, shutil, subprocess, sys
import numpy as np
import ase.io
sys.path.insert(0, "/work/main"); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mlsurrogate.model.native_format import read_native_model
from screen_lib import BIN, evaluate, screen
SUF = os.environ.get("SUF", ""); NF = 3 if SUF else 1
model, tag, K, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4:]]
m = read_native_model(model)


def fwd(x):
    h = (x - m.input_shift) * m.input_scale
    for w, b, a in zip(m.weights, m.biases, m.activations):
        h = h @ w.T.astype(np.float64) + b
        if a == "LeakyReLU": h = np.where(h > 0, h, 0.01 * h)
    y = h * m.output_scale + m.output_shift
    return np.maximum(y, 0) if m.clamp_negative else y


res = {}
for L in sizes:
    row = {}
    tilt = ase.io.read(f"be_I2{SUF}_{L}.extxyz").cell[2] - ase.io.read(f"be_None{SUF}_{L}.extxyz").cell[2]
    for f, jo in [(f, jo) for f in ("None", "I2") for jo in range(K)]:
        atoms = ase.io.read(f"be_{f}{SUF}_{L}.extxyz"); atoms.positions += (jo / K / 6) * tilt; atoms.wrap()
        d = f"{tag}_{f}{SUF}_{L}_o{jo}"; struct = d + ".extxyz"; ase.io.write(struct, atoms)
        subprocess.run([BIN + "mlsurrogate", "-q", "descriptors", "--structure", struct, "--grid", "18", "18",
                        str(15 * len(atoms)), "--rcutfac", "%g" % m.descriptors.rcutfac, "--out", d + "_desc",
                        "--overwrite"], check=True, capture_output=True)
        x = np.load(d + "_desc/descriptors.npy")
        ldos = fwd(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:3], 161)
        shutil.rmtree(d + "_desc")
        area = atoms.get_volume() / atoms.cell[2, 2]
        r0 = evaluate(struct, ldos, d + "_plain", m.ldos_broadening_std_ev)
        cur, V, it = screen(ldos, atoms, 1.5)
        r1 = evaluate(struct, cur, d + "_screened", m.ldos_broadening_std_ev)
        row[(f, jo)] = {"F_plain": r0["total_energy_eV"], "F_screened": r1["total_energy_eV"],
                        "hartree_plain": r0["hartree_energy_eV"], "hartree_screened": r1["hartree_energy_eV"]}
        print(L, f, jo, row[(f, jo)]["F_plain"], row[(f, jo)]["F_screened"], f"(V {V.min():+.3f}..{V.max():+.3f} eV, {it} it)",
              flush=True)
    MJ = 16021.766
    res[L] = {}
    for k in ("F_plain", "F_screened", "hartree_plain", "hartree_screened"):
        res[L][k + "_offset0"] = (row[("I2", 0)][k] - row[("None", 0)][k]) / area / NF * MJ
        res[L][k + "_avg"] = np.mean([row[("I2", j)][k] - row[("None", j)][k] for j in range(K)]) / area / NF * MJ
    print("GAMMA", L, {k: round(v, 1) for k, v in res[L].items()}, flush=True)
json.dump(res, open(f"{tag}{SUF}_screen_K{K}.json", "w"), indent=1)
