"""screen_proto.py MODEL TAG L...: model LDOS of 1x1 perfect/I2 cells (numpy forward pass), then a Thomas-Fermi
self-consistent macroscopic screening (LDOS shifted along energy by the Hartree potential of the long-wavelength
charge, |G_z| < GC), energies of both by `mlsurrogate evaluate --ldos`. Prototype, 1x1 cells (G_xy = 0 only)."""
import json, math, os, subprocess, sys
import numpy as np
sys.path.insert(0, "/work/main")
from mlsurrogate.model.native_format import read_native_model
import ase.io
BIN = "/work/main/.venv/bin/"; PSEUDO = "/work/shared/testdata/Be2"
E2 = 14.399645  # e^2/(4 pi eps0), eV Å
KT = 8.617333262e-5 * 298.0
GC = 1.5
SUF = os.environ.get('SUF', ''); NF = 3 if SUF else 1
model, tag, K, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4:]]
m = read_native_model(model)
E = -5.0 + 0.1 * np.arange(161)
def fwd(x):
    h = (x - m.input_shift) * m.input_scale
    for w, b, a in zip(m.weights, m.biases, m.activations):
        h = h @ w.T.astype(np.float64) + b
        if a == "LeakyReLU": h = np.where(h > 0, h, 0.01 * h)
    y = h * m.output_scale + m.output_shift
    return np.maximum(y, 0) if m.clamp_negative else y
def fermi(x): return 0.5 * (1 - np.tanh(x / (2 * KT)))
def count(ldos_tot, mu, dv):   # electrons for the point-summed LDOS (n_E,), trapezoid-free sum * 0.1 eV
    return (ldos_tot * fermi(E - mu)).sum() * 0.1 * dv
def solve_mu(ldos_tot, N, dv):
    lo, hi = 0.0, 15.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if count(ldos_tot, mid, dv) < N: lo = mid
        else: hi = mid
    return 0.5 * (lo + hi)
def shift(ldos, V):  # d'(z, E) = d(z, E - V(z)); ldos (nx, ny, nz, nE), V (nz,) eV; linear interpolation
    s = V / 0.1; i0 = np.floor(s).astype(int); fr = s - i0
    out = np.empty_like(ldos)
    for k in range(ldos.shape[2]):
        src = np.arange(161) - i0[k]
        a = ldos[:, :, k, np.clip(src, 0, 160)]; b = ldos[:, :, k, np.clip(src - 1, 0, 160)]
        a[..., (src < 0) | (src > 160)] = 0; b[..., (src - 1 < 0) | (src - 1 > 160)] = 0
        out[:, :, k] = (1 - fr[k]) * a + fr[k] * b
    return out
def evaluate(struct, ldos, out):
    np.save(out + ".npy", ldos.astype(np.float64))
    subprocess.run([BIN + "mlsurrogate", "-q", "evaluate", "--structure", struct, "--ldos", out + ".npy",
                    "--energy-grid", "-5", "0.1", "161", "--temperature", "298", "--ldos-broadening",
                    str(m.ldos_broadening_std_ev),
                    "--pseudo-dir", PSEUDO, "--ecutrho", "160", "--out", out, "--overwrite"],
                   check=True, capture_output=True)
    os.remove(out + ".npy")
    return json.load(open(out + "/results.json"))
res = {}
for L in sizes:
    row = {}
    tilt = ase.io.read(f"be_I2{SUF}_{L}.extxyz").cell[2] - ase.io.read(f"be_None{SUF}_{L}.extxyz").cell[2]
    for f, jo in [(f, jo) for f in ("None", "I2") for jo in range(K)]:
        atoms = ase.io.read(f"be_{f}{SUF}_{L}.extxyz"); atoms.positions += (jo / K / 6) * tilt; atoms.wrap()
        d = f"{tag}_{f}{SUF}_{L}_o{jo}"; struct = d + ".extxyz"; ase.io.write(struct, atoms)
        subprocess.run([BIN + "mlsurrogate", "-q", "descriptors", "--structure", struct, "--grid", "18", "18", str(15 * len(atoms)),
                        "--rcutfac", "%g" % m.descriptors.rcutfac, "--out", d + "_desc", "--overwrite"], check=True, capture_output=True)
        x = np.load(d + "_desc/descriptors.npy"); shp = x.shape[:3]
        ldos = fwd(x.reshape(-1, x.shape[-1])).reshape(*shp, 161)
        vol = atoms.get_volume(); dv = vol / np.prod(shp); N = 2.0 * len(atoms)
        area = vol / atoms.cell[2, 2]; Lz = atoms.cell[2, 2]; nz = shp[2]
        G = 2 * np.pi * np.fft.fftfreq(nz, d=Lz / nz)
        z_ion = atoms.positions[:, 2] % Lz
        ion_G = np.array([2.0 * np.exp(-1j * g * z_ion).sum() for g in G]) / vol   # point ions, 1/Å^3 (G_xy = 0)
        r0 = evaluate(struct, ldos, d + "_plain")
        V = np.zeros(nz); cur = ldos
        for it in range(30):
            mu = solve_mu(cur.sum(axis=(0, 1, 2)), N, dv)
            occ = fermi(E - mu)
            n_z = (cur * occ).sum(axis=(0, 1, 3)).astype(float) * 0.1 / (shp[0] * shp[1])       # plane mean, 1/Å^3
            D_mean = (np.interp(mu, E, cur.mean(axis=(0, 1, 2))))                                   # states/(eV Å^3)
            nG = np.fft.fft(n_z) / nz
            dG = nG - ion_G; mask = (np.abs(G) > 0) & (np.abs(G) < GC)
            k2 = 4 * np.pi * E2 * D_mean
            VG = np.fft.fft(V) / nz
            target = np.where(mask, 4 * np.pi * E2 * dG / np.where(mask, G ** 2, 1), 0)   # v_H of macro excess
            resid = np.abs(target - VG)[mask].max() if mask.any() else 0.0
            # Kerker/TF-preconditioned update: fixed point V = 4 pi e^2 dG / G^2
            VG_new = np.where(mask, (4 * np.pi * E2 * dG + k2 * VG) / np.where(mask, G ** 2 + k2, 1), 0)
            if resid < 1e-5: break
            V = np.real(np.fft.ifft(VG_new * nz)); cur = shift(ldos, V)
        q_macro = np.real(np.fft.ifft(np.where(mask, dG, 0) * nz))
        r1 = evaluate(struct, cur, d + "_screened")
        row[(f, jo)] = {"F_plain": r0["total_energy_eV"], "F_screened": r1["total_energy_eV"], "iters": it, "resid_eV": float(resid),
                  "V_minmax_eV": [float(V.min()), float(V.max())], "mu": mu, "hartree_plain": r0["hartree_energy_eV"],
                  "hartree_screened": r1["hartree_energy_eV"]}
        print(L, f, jo, row[(f, jo)]["F_plain"], row[(f, jo)]["F_screened"], flush=True)
        import shutil; shutil.rmtree(d + "_desc")
    MJ = 16021.766
    res[L] = {}
    for k in ("F_plain", "F_screened", "hartree_plain", "hartree_screened"):
        res[L][k + "_offset0"] = (row[("I2", 0)][k] - row[("None", 0)][k]) / area / NF * MJ
        res[L][k + "_avg"] = np.mean([row[("I2", j)][k] - row[("None", j)][k] for j in range(K)]) / area / NF * MJ
    print("GAMMA", L, {k: round(v, 1) for k, v in res[L].items()}, flush=True)
json.dump(res, open(f"{tag}{SUF}_screen_K{K}.json", "w"), indent=1)
