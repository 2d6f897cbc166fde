"""DFT's long-wavelength charge of rattled 1x1 cells vs references: point ions, and superposed atomic densities
(UPF PP_RHOATOM). rms over 0 < |G_z| < GC of plane-averaged (n - ref) in e/A^3."""
import re, sys, numpy as np, ase.io
sys.path.insert(0, "/work/main")
from mlsurrogate.energy.upf import _numbers
B = "/root/.cache/mlsurrogate/be/"
text = open("/work/shared/testdata/Be2/Be.pbe-n-rrkjus_psl.1.0.0.UPF").read()
r = _numbers(text, "PP_R", "x") * 0.529177210903; rab = _numbers(text, "PP_RAB", "x") * 0.529177210903
rho = _numbers(text, "PP_RHOATOM", "x") / 0.529177210903   # 4 pi r^2 rho(r): electrons per bohr -> per A
def f_at(G):  # atomic valence form factor (electrons)
    return np.array([np.sum(rho * np.sinc(g * r / np.pi) * rab) for g in np.atleast_1d(G)])
print("Z from rhoatom", f_at([0.0]), "f(0.44,0.88,1.32)/Z", f_at([0.44, 0.88, 1.32]) / 2)
GC = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
for c in sys.argv[2:]:
    at = ase.io.read(B + c + "/structure.extxyz"); n = np.load(B + c + "/density.npy")
    nz = n.shape[2]; Lz = at.cell[2, 2]; vol = at.get_volume()
    nzp = n.mean(axis=(0, 1)); G = 2 * np.pi * np.fft.fftfreq(nz, d=Lz / nz); nG = np.fft.fft(nzp) / nz
    S = np.array([np.exp(-1j * g * at.positions[:, 2]).sum() for g in G])
    m = (np.abs(G) > 0) & (np.abs(G) < GC)
    pt = nG - 2 * S / vol; ata = nG - f_at(np.abs(G)) * S / vol
    rms = lambda x: np.sqrt(np.mean(np.abs(x[m]) ** 2))
    print(f"{c:14s} |n(G)| {rms(nG):.2e}  n-point ions {rms(pt):.2e}  n-atoms {rms(ata):.2e}   (G: {np.round(np.abs(G[m]),2)[:6]})")
