"""Shared by screen_avg.py and dft_screen.py: the exact-shift prototype of `predict --screening` on 1 x 1 cells
(plane averages, G_xy = 0 only), energies by `mlsurrogate evaluate --ldos`. Paths of this machine (scratch use)."""
import json, os, subprocess
import numpy as np
BIN = "/work/main/.venv/bin/"; PSEUDO = "/work/shared/testdata/Be2"
E2 = 14.399645                    # e^2/(4 pi eps0), eV Å
KT = 8.617333262e-5 * 298.0       # eV
E = -5.0 + 0.1 * np.arange(161)   # the LDOS energy grid, eV


def fermi(x):
    return 0.5 * (1 - np.tanh(x / (2 * KT)))


def solve_mu(ldos_tot, n_electrons, dv):
    """Fermi level (bisection) of the point-summed LDOS (n_E,) holding n_electrons."""
    lo, hi = 0.0, 15.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if (ldos_tot * fermi(E - mid)).sum() * 0.1 * dv < n_electrons else (lo, mid)
    return 0.5 * (lo + hi)


def shift(ldos, V):
    """d'(z, E) = d(z, E - V(z)); ldos (nx, ny, nz, nE), V (nz,) eV; linear interpolation along energy."""
    s = V / 0.1; i0 = np.floor(s).astype(int); fr = s - i0
    out = np.empty_like(ldos)
    for k in range(ldos.shape[2]):
        src = np.arange(161) - i0[k]
        a = ldos[:, :, k, np.clip(src, 0, 160)]; b = ldos[:, :, k, np.clip(src - 1, 0, 160)]
        a[..., (src < 0) | (src > 160)] = 0; b[..., (src - 1 < 0) | (src - 1 > 160)] = 0
        out[:, :, k] = (1 - fr[k]) * a + fr[k] * b
    return out


def evaluate(struct, ldos, out, broadening_ev):
    """results.json of `mlsurrogate evaluate --ldos` for ``ldos`` on ``struct``."""
    np.save(out + ".npy", ldos.astype(np.float64))
    subprocess.run([BIN + "mlsurrogate", "-q", "evaluate", "--structure", struct, "--ldos", out + ".npy",
                    "--energy-grid", "-5", "0.1", "161", "--temperature", "298", "--ldos-broadening", str(broadening_ev),
                    "--pseudo-dir", PSEUDO, "--ecutrho", "160", "--out", out, "--overwrite"],
                   check=True, capture_output=True)
    os.remove(out + ".npy")
    return json.load(open(out + "/results.json"))


def screen(ldos, atoms, gc, tol=1e-5, max_iter=40):
    """(screened LDOS, V (nz,) eV, iterations): the LDOS shifted by the Thomas-Fermi self-consistent potential of
    the plane-averaged charge (electrons minus point ions, valence 2) at 0 < |G_z| < gc (1/Å)."""
    shp = ldos.shape[:3]; nz = shp[2]
    vol = atoms.get_volume(); dv = vol / np.prod(shp); n_el = 2.0 * len(atoms); Lz = atoms.cell[2, 2]
    G = 2 * np.pi * np.fft.fftfreq(nz, d=Lz / nz)
    ion_G = np.array([2.0 * np.exp(-1j * g * atoms.positions[:, 2]).sum() for g in G]) / vol
    mask = (np.abs(G) > 0) & (np.abs(G) < gc)
    V = np.zeros(nz); cur = ldos
    for it in range(max_iter):
        mu = solve_mu(cur.sum(axis=(0, 1, 2)), n_el, dv)
        n_z = (cur * fermi(E - mu)).sum(axis=(0, 1, 3)) * 0.1 / (shp[0] * shp[1])     # plane mean, 1/Å^3
        k2 = 4 * np.pi * E2 * np.interp(mu, E, cur.mean(axis=(0, 1, 2)))              # TF preconditioner
        dG = np.fft.fft(n_z) / nz - ion_G; VG = np.fft.fft(V) / nz
        target = np.where(mask, 4 * np.pi * E2 * dG / np.where(mask, G ** 2, 1), 0)   # v_H of the excess
        if (np.abs(target - VG)[mask].max() if mask.any() else 0.0) < tol:
            break
        VG = np.where(mask, (4 * np.pi * E2 * dG + k2 * VG) / np.where(mask, G ** 2 + k2, 1), 0)
        V = np.real(np.fft.ifft(VG * nz)); cur = shift(ldos, V)
    return cur, V, it
