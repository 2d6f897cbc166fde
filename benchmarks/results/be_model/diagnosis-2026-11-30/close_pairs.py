import numpy as np
from scipy.spatial import cKDTree
import sys
P = sys.argv[1] if len(sys.argv) > 1 else "."
ds = {n: np.load(f"{P}/desc_{n}/descriptors.npy").reshape(-1, 91) for n in ["i2_8", "i2_8_z2", "perfect_8_z1"]}
ls = {n: np.load(f"kz3/data/{n}_kz3/ldos.npy").reshape(-1, 161) for n in ds}
alld = np.concatenate(list(ds.values())); mu = alld.mean(0); sd = alld.std(0) + 1e-30
for n in ds:
    x = (ds[n] - mu) / sd; L = ls[n]
    t = cKDTree(x); dist, idx = t.query(x, k=12)
    rows = []
    for j in range(1, 12):
        m = dist[:, j] > 1e-6
        rows.append((dist[m, j], np.sqrt(((L[m] - L[idx[m, j]])**2).mean(1))))
    dd = np.concatenate([r[0] for r in rows]); ll = np.concatenate([r[1] for r in rows])
    bins = [0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
    out = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        s = (dd >= lo) & (dd < hi)
        out.append(f"[{lo},{hi}): n={s.sum()} dLDOS med {np.median(ll[s]) if s.any() else 0:.1e} p90 {np.percentile(ll[s],90) if s.any() else 0:.1e}")
    print(n); print("   " + "\n   ".join(out))
