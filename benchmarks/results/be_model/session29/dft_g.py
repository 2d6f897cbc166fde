import sys, numpy as np, ase.io
B = "/root/.cache/mlsurrogate/be/"
for c in sys.argv[1:]:
    at = ase.io.read(B + c + "/structure.extxyz"); n = np.load(B + c + "/density.npy")
    nz = n.shape[2]; Lz = at.cell[2, 2]
    nG = np.fft.fft(n.mean(axis=(0, 1))) / nz; G = 2 * np.pi * np.fft.fftfreq(nz, d=Lz / nz)
    # phase relative to the fault plane: fault z from the structure's info if present
    zf = at.info.get("fault_z_A", None)
    print(c, "zf", zf)
    for k in range(1, 8):
        ph = np.exp(1j * G[k] * zf) if zf is not None else 1
        v = nG[k] * ph
        print(f"  G={G[k]:.3f}  rho(G)*L = {v.real * Lz:+.2e} {v.imag * Lz:+.2e}i")
